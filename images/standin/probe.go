package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/internal/retry"
)

// rebindWait is how long serveProbe waits before it tries a taken address again.
const rebindWait = 2 * time.Second

// serveProbe accepts (and closes) connections on addr until ctx ends: the chart probes the
// workload with a TCP connect. On the test cluster every pod shares the host's network, so
// another pod may hold the port: then it says so once and tries again, since the rest of
// the stand-in (the heartbeat) goes on regardless.
func serveProbe(ctx context.Context, addr string, out *lines, clk clock.Clock) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return usagef("--listen %q: want 127.0.0.1:PORT (the stand-ins listen on the loopback only)", addr)
	}
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil {
			out.printf("listening on %s for the chart's TCP probe", addr)
			return acceptUntil(ctx, ln)
		}
		out.printf("cannot listen on %s (%v): another pod on this host's network may hold it; trying again every %s", addr, err, rebindWait)
		if retry.Wait(ctx, clk, rebindWait) != nil {
			return nil
		}
	}
}

// acceptUntil closes every connection it accepts, until ctx ends.
func acceptUntil(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		conn.Close()
	}
}

// errNotAlive is mysqladmin's failed ping: exit code 1, as mysqladmin's.
var errNotAlive = errors.New("mysqld is not answering")

// mysqladminRole answers the MySQL container's probes (`mysqladmin ping -h 127.0.0.1`):
// alive when something accepts a connection on host:port, as the idle MySQL stand-in does.
func mysqladminRole(ctx context.Context, args []string, _ func(string) string, out *lines, _ clock.Clock) error {
	fs := flag.NewFlagSet("mysqladmin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	host := fs.String("h", "localhost", "host")
	port := fs.String("P", "3306", "port")
	fs.StringVar(host, "host", "localhost", "host")
	fs.StringVar(port, "port", "3306", "port")
	if len(args) == 0 || args[0] != "ping" {
		return usagef("mysqladmin stand-in: only `mysqladmin ping [-h host] [-P port]` is known")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("mysqladmin ping: %v", err)
	}
	if *host == "localhost" {
		*host = "127.0.0.1"
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(*host, *port))
	if err != nil {
		return fmt.Errorf("connect to server at '%s' failed (%v): %w", *host, err, errNotAlive)
	}
	conn.Close()
	out.printf("mysqld is alive")
	return nil
}
