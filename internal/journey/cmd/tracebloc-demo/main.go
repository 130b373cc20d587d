// Command tracebloc-demo is `make demo`: the whole journey of a person installing
// tracebloc edge, on the cluster in KUBECONFIG when one answers, otherwise on the local
// cluster "dev" (started on 127.0.0.1), with the development backend on 127.0.0.1:8787.
//
//	tracebloc-demo up      # DEMO_AUTO_APPROVE=1 approves the code itself
//	tracebloc-demo down    # what `up` started: the release, the backend, the local cluster
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tracebloc/edge/internal/journey/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Stderr.WriteString("demo: " + err.Error() + "\n")
		os.Exit(1)
	}
}
