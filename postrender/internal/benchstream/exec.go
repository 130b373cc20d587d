package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// execHelmWay runs each command over the stream as Helm 3 runs a post-renderer (the
// stream written to its stdin by a goroutine, stdout and stderr read into buffers),
// interleaved runs times, and prints the median wall time and the median CPU time
// (user + system) of each: the post-renderer's cost as Helm pays it, without the noise of
// the rest of `helm template`.
func execHelmWay(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchstream exec", flag.ContinueOnError)
	runs := fs.Int("runs", 200, "interleaved runs of each command")
	input := fs.String("input", "", "the rendered `file` to feed each command")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *input == "" || fs.NArg() == 0 || *runs < 1 {
		return errors.New("usage: benchstream exec --input FILE [--runs N] 'CMD [ARGS]' (one or more)")
	}
	stream, err := os.ReadFile(*input)
	if err != nil {
		return err
	}
	cmds := make([][]string, fs.NArg())
	for i, c := range fs.Args() {
		if cmds[i] = strings.Fields(c); len(cmds[i]) == 0 {
			return fmt.Errorf("command %d is empty", i+1)
		}
	}
	wall := make([][]time.Duration, len(cmds))
	cpu := make([][]time.Duration, len(cmds))
	for range *runs {
		for i, c := range cmds {
			w, u, err := runHelmWay(c, stream)
			if err != nil {
				return err
			}
			wall[i], cpu[i] = append(wall[i], w), append(cpu[i], u)
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2].Round(10 * time.Microsecond)
	}
	for i, c := range fs.Args() {
		fmt.Fprintf(stdout, "%-60s wall %8v  cpu %8v  (medians of %d)\n", c, median(wall[i]), median(cpu[i]), len(wall[i]))
	}
	return nil
}

func runHelmWay(c []string, stream []byte) (wall, cpu time.Duration, err error) {
	cmd := exec.Command(c[0], c[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() {
		_, _ = stdin.Write(stream)
		_ = stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(c, " "), err, errOut.String())
	}
	wall = time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return wall, 0, nil
	}
	return wall, time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
