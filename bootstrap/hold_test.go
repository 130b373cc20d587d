package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/syncbuf"
)

// TestHoldBlocksUntilStopped: hold prints its one line, needs no configuration (none is
// set), keeps running until its context ends, and then ends well.
func TestHoldBlocksUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"hold"}, pw, &stderr); pw.Close() }()
	out := bufio.NewReader(pr)
	line, err := out.ReadString('\n')
	if err != nil || line != holdLine+"\n" {
		t.Fatalf("hold printed %q (%v), want the one line %q", line, err, holdLine)
	}
	// That hold never ends by itself cannot be observed; a while without an end stands for it.
	select {
	case err := <-done:
		t.Fatalf("hold ended before it was stopped: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	rest, _ := io.ReadAll(out)
	err = <-done
	var last bytes.Buffer
	if code := exitCode(err, &last); code != 0 || last.Len() != 0 || stderr.String() != "" || len(rest) != 0 {
		t.Errorf("stopped hold: exit %d, stderr %q %q, more output %q; want exit 0 and nothing else", code, last.String(), stderr.String(), rest)
	}
	for _, want := range []string{"credential is in place", "runs elsewhere", "client.enabled=false"} {
		if !strings.Contains(holdLine, want) {
			t.Errorf("hold's line %q does not say %q", holdLine, want)
		}
	}
}

// TestHoldExitsZeroOnSIGTERM runs the binary as the kubelet does: SIGTERM ends it with 0.
func TestHoldExitsZeroOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tracebloc-bootstrap")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "hold")
	cmd.Env = []string{} // hold needs no configuration
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n') // the signal handler is installed before this line
	if err != nil || line != holdLine+"\n" {
		t.Fatalf("hold printed %q (%v), want the one line", line, err)
	}
	restc := make(chan []byte, 1)
	go func() { rest, _ := io.ReadAll(out); restc <- rest }()
	select {
	case rest := <-restc: // stdout closed: the process ended
		t.Fatalf("hold ended before SIGTERM (more output %q)", rest)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest := <-restc
	if err := cmd.Wait(); err != nil || len(rest) != 0 {
		t.Fatalf("hold after SIGTERM: %v, more output %q; want exit 0 and nothing more", err, rest)
	}
}
