package bootstrapper_test

import (
	"context"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/devbackend"
)

// BenchmarkRestart is the restart path of a pod whose credential is in place: the
// Kubernetes and backend requests it makes, counted (target: at most 2 and 0), and its
// time, on the local cluster.
func BenchmarkRestart(b *testing.B) {
	e := newEnv(b, devbackend.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := e.start(ctx, e.newRun("edge-1")); err != nil {
		b.Fatal(err)
	}
	var kube, backend int64
	for b.Loop() {
		before := len(e.backend.Requests())
		e.kubeCalls.Store(0)
		out, err := e.start(ctx, e.newRun("edge-2"))
		if err != nil || !out.FastPath {
			b.Fatalf("restart: %+v, %v; want the fast path", out, err)
		}
		kube += e.kubeCalls.Load()
		backend += int64(len(e.backend.Requests()) - before)
	}
	b.ReportMetric(float64(kube)/float64(b.N), "kube-requests/op")
	b.ReportMetric(float64(backend)/float64(b.N), "backend-requests/op")
}
