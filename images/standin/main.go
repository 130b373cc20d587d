// Command tracebloc-standin stands in for the workloads of the tracebloc/client chart on
// machines that cannot pull their images (the project's test clusters): one static binary,
// built into an image under each workload's name by images/standins, whose role is the
// first argument or, for the programs the chart's manifests call by name, the name it is
// called by:
//
//	jobs-manager [--listen 127.0.0.1:8080]   the api container: logs in with the machine
//	                                         credential, reports the client live every
//	                                         interval, and answers the chart's TCP probe
//	pods-monitor, resource-monitor           log in and report the client live
//	idle [--listen host:port]                a workload that cannot run here (MySQL):
//	                                         answers the chart's TCP probe, or just waits
//	python -m gunicorn --bind=H:P ...        the requests-proxy container (its command):
//	                                         idle, listening on 127.0.0.1:P
//	squid ...                                the egress proxy: idle
//	mysqladmin ping [-h host] [-P port]      the MySQL probe: connects to host:port
//
// Every listener binds 127.0.0.1 only. The reporting roles read the environment:
//
//	CLIENT_ID, CLIENT_PASSWORD        the machine credential (required; from the credential
//	                                  Secret through secretKeyRef, as the chart renders it)
//	TRACEBLOC_API_URL                 the backend; overrides CLIENT_ENV (tests, the harness)
//	CLIENT_ENV                        dev | stg | prod, or development | staging | production
//	                                  (default prod): the chart's mapping to a backend URL
//	TRACEBLOC_HEARTBEAT_INTERVAL      how often the client is reported live (default 10s)
//	HTTPS_PROXY, HTTP_PROXY, NO_PROXY the proxy, as the chart's proxy values render them
//
// Each prints one line per change of state and never the credential or a token. Exit
// codes: 0 stopped by a signal, 1 the backend refused the credential (or another failure;
// the last line says which), 2 the configuration (the variable or argument is named).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/utils/clock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, clock.RealClock{})
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr, once, and returns the process's exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	var usage *usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}
