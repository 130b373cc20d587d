// Command tracebloc-bootstrap is the init container of the tracebloc edge chart: it makes
// sure the credential Secret holds this cluster's machine credential, then exits 0.
// Configuration and exit codes: package config and the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
