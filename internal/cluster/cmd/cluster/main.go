// Command cluster starts, stops and reports the local single-node Kubernetes cluster of
// package cluster (scripts/cluster wraps it).
//
//	cluster up     [--name NAME] [--dir DIR]   start (or reuse); prints the admin kubeconfig path
//	cluster down   [--name NAME] [--dir DIR]   remove everything of the instance
//	cluster status [--name NAME] [--dir DIR]   prints "running" (exit 0) or "stopped: why" (exit 3)
//	cluster env    [--name NAME] [--dir DIR]   prints KUBECONFIG=... for eval
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tracebloc/edge/internal/cluster"
)

// errStopped makes `status` exit 3 on a stopped cluster.
var errStopped = errors.New("stopped")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errStopped):
		os.Exit(3)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

const usage = "usage: cluster up|down|status|env [--name NAME] [--dir DIR] [--bin DIR] [--timeout 3m]"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	verb := args[0]
	fs := flag.NewFlagSet("cluster "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := cluster.Options{Log: stderr}
	fs.StringVar(&opts.Name, "name", cluster.DefaultName, "instance name")
	fs.StringVar(&opts.Dir, "dir", "", "instance folder (default ${XDG_CACHE_HOME:-~/.cache}/tracebloc-edge/clusters/NAME)")
	fs.StringVar(&opts.BinDir, "bin", "", "folder of etcd, the registry and the Kubernetes binaries (default ${XDG_CACHE_HOME:-~/.cache}/tracebloc-edge/bin)")
	fs.DurationVar(&opts.Timeout, "timeout", 3*time.Minute, "how long up waits for each step")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch verb {
	case "up":
		c, err := cluster.Up(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, c.Kubeconfig)
		fmt.Fprintf(stderr, "cluster %s: pods pull ghcr.io and docker.io images from the registry at %s (CA %s)\n",
			c.Name, c.RegistryAddr(), c.CAFile())
		return nil
	case "down":
		return cluster.Down(ctx, opts)
	case "status":
		if err := cluster.Status(ctx, opts); err != nil {
			fmt.Fprintln(stdout, "stopped:", err)
			return errStopped
		}
		fmt.Fprintln(stdout, "running")
		return nil
	case "env":
		c, err := cluster.Open(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", c.Kubeconfig)
		fmt.Fprintf(stdout, "export TRACEBLOC_REGISTRY=%s\n", c.RegistryAddr())
		fmt.Fprintf(stdout, "export TRACEBLOC_REGISTRY_CA=%s\n", c.CAFile())
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
}
