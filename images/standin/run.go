package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/utils/clock"
)

// usageError is a wrong argument or environment variable: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// role runs one stand-in until ctx ends.
type role func(ctx context.Context, args []string, env func(string) string, out *lines, clk clock.Clock) error

// roles by the name the stand-in is given as its first argument or called by.
var roles = map[string]role{
	"jobs-manager":     reportingRole("jobs-manager", "127.0.0.1:8080"),
	"pods-monitor":     reportingRole("pods-monitor", ""),
	"resource-monitor": reportingRole("resource-monitor", ""),
	"idle":             idleRole,
	"python":           pythonRole,
	"squid":            squidRole,
	"mysqladmin":       mysqladminRole,
}

// calledAs are the roles chosen by the program's name, since the chart's manifests call
// these programs by name (command: ["python", ...], the probe's mysqladmin).
var calledAs = []string{"python", "squid", "mysqladmin"}

func run(ctx context.Context, argv []string, env func(string) string, stdout io.Writer, clk clock.Clock) error {
	if len(argv) == 0 {
		return usagef("no program name")
	}
	name, args := path.Base(argv[0]), argv[1:]
	if !slices.Contains(calledAs, name) {
		if len(args) == 0 {
			return usagef("give the role as the first argument: one of %s", roleNames())
		}
		name, args = args[0], args[1:]
	}
	r, ok := roles[name]
	if !ok {
		return usagef("unknown role %q: want one of %s", name, roleNames())
	}
	if err := r(ctx, args, env, newLines(stdout, name+": "), clk); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func roleNames() string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// lines prints the stand-in's state, one line per change: a line equal to the last one
// is not printed again. The probe listener and the reporter print from two goroutines,
// each through its own fork, so that the one's lines do not repeat the other's.
type lines struct {
	mu     *sync.Mutex // shared by the forks, for the writer
	w      io.Writer
	prefix string
	last   string
}

func newLines(w io.Writer, prefix string) *lines {
	return &lines{mu: &sync.Mutex{}, w: w, prefix: prefix}
}

// fork returns lines of another goroutine to the same writer.
func (l *lines) fork() *lines { return &lines{mu: l.mu, w: l.w, prefix: l.prefix} }

func (l *lines) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == l.last {
		return
	}
	l.last = s
	fmt.Fprintln(l.w, l.prefix+s)
}

// listenFlag parses the roles' only flag, --listen.
func listenFlag(role string, args []string, def string) (string, error) {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("listen", def, "host:port to accept the chart's TCP probe on (127.0.0.1 only)")
	if err := fs.Parse(args); err != nil {
		return "", usagef("%s: %v (usage: %s [--listen 127.0.0.1:PORT])", role, err, role)
	}
	if fs.NArg() > 0 {
		return "", usagef("%s: unexpected argument %q (usage: %s [--listen 127.0.0.1:PORT])", role, fs.Arg(0), role)
	}
	return *addr, nil
}

// idleRole stands in for a workload whose real program cannot run here: it answers the
// chart's TCP probe when given --listen, and otherwise waits.
func idleRole(ctx context.Context, args []string, _ func(string) string, out *lines, clk clock.Clock) error {
	addr, err := listenFlag("idle", args, "")
	if err != nil {
		return err
	}
	if addr == "" {
		out.printf("stand-in: the real program cannot run on this cluster; waiting until stopped")
		<-ctx.Done()
		return nil
	}
	out.printf("stand-in: the real program cannot run on this cluster; answering the TCP probe")
	return serveProbe(ctx, addr, out, clk)
}

// pythonRole stands in for the requests-proxy container, whose command is
// `python -m gunicorn --bind=0.0.0.0:8888 ...`: it answers the probe on the --bind port,
// on 127.0.0.1.
func pythonRole(ctx context.Context, args []string, env func(string) string, out *lines, clk clock.Clock) error {
	port := ""
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--bind="):
			port = portOf(strings.TrimPrefix(a, "--bind="))
		case (a == "--bind" || a == "-b") && i+1 < len(args):
			port = portOf(args[i+1])
		}
	}
	if port == "" {
		return idleRole(ctx, nil, env, out, clk)
	}
	return idleRole(ctx, []string{"--listen", "127.0.0.1:" + port}, env, out, clk)
}

// portOf is the port of a gunicorn bind address (host:port); "" when it has none.
func portOf(bind string) string {
	i := strings.LastIndexByte(bind, ':')
	if i < 0 || i == len(bind)-1 {
		return ""
	}
	return bind[i+1:]
}

// squidRole stands in for the egress proxy: nothing probes it, so it waits.
func squidRole(ctx context.Context, _ []string, env func(string) string, out *lines, clk clock.Clock) error {
	return idleRole(ctx, nil, env, out, clk)
}
