// Command bench-fleet runs the fleet benchmark (package fleet): 500 enrollments
// at once against one in-process development backend on 127.0.0.1, all of them again with
// their Secrets lost, and 50 bootstraps racing on one cluster id. It prints a table and
// exits 1 when an invariant broke (a duplicate client, a client minted by the re-run, more
// or fewer than one client for the raced cluster id, a failed enrollment).
//
//	bench-fleet [--enrollments 500] [--racing 50] [--device-interval 1s] [--timeout 2m]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/tracebloc/edge/internal/fleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-fleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg fleet.Config
	fs.IntVar(&cfg.Enrollments, "enrollments", 500, "enrollments at once, each its own cluster id and account")
	fs.IntVar(&cfg.Racing, "racing", 50, "bootstraps racing on one cluster id")
	fs.DurationVar(&cfg.DeviceInterval, "device-interval", time.Second, "the development backend's device poll interval")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "the longest one enrollment may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: all settings are flags, see --help", fs.Args())
	}
	fmt.Fprintf(stdout, "bench-fleet: %d enrollments, %d racing, device interval %s, %d CPUs, %s\n",
		cfg.Enrollments, cfg.Racing, cfg.DeviceInterval, runtime.NumCPU(), runtime.Version())
	rep, err := fleet.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("the fleet run stopped: %w", err)
	}
	rep.Print(stdout)
	if err := rep.Check(); err != nil {
		return fmt.Errorf("invariants broken (see the table above):\n%w", err)
	}
	return nil
}
