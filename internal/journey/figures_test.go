package journey_test

import (
	"testing"
	"time"
)

// BenchmarkApprovalToOnline measures, on the harness, what a person waits for after
// approving the code: until the jobs-manager's containers run (the bootstrap wrote the
// credential and exited), and until the development backend shows the client online (the
// stand-ins logged in with the credential and reported). One install per run (it takes
// tens of seconds, so the default -benchtime runs it once):
//
//	go test -run '^$' -bench ApprovalToOnline ./internal/journey/
func BenchmarkApprovalToOnline(b *testing.B) {
	w := newWorld(b, clusterName, withClient)
	ctx := w.ctx()
	since := time.Now()
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	b.ResetTimer()
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		b.Fatalf("%v\n%s", err, f.String())
	}
	started := time.Now()
	w.waitOnline(ctx, w.ns, "edge", since)
	online := time.Now()
	b.StopTimer()
	f.mu.Lock()
	approved := f.approvedAt
	f.mu.Unlock()
	if approved.IsZero() {
		b.Fatal("no code was approved")
	}
	b.ReportMetric(started.Sub(approved).Seconds(), "s-approval-to-started")
	b.ReportMetric(online.Sub(approved).Seconds(), "s-approval-to-online")
	b.ReportMetric(0, "ns/op")
}
