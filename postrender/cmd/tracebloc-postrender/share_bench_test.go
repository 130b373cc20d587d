package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// BenchmarkTemplateShare measures, in one run, `helm template` of the edge chart with the
// tracebloc/client chart without a post-renderer, with the post-renderer offline, and with
// the post-renderer against the local cluster (its identity, discovery and the guard's
// lists), and reports the post-renderer's share of each whole: (with - without) / with.
//
//	go test -run '^$' -bench TemplateShare -benchtime 20x ./postrender/cmd/tracebloc-postrender/
func BenchmarkTemplateShare(b *testing.B) {
	if testing.Short() {
		b.Skip("helm and the local cluster: not under -short")
	}
	chart := chartdeps.DirWithClient(b)
	c := clustertest.Get(b)
	tool := clustertest.Tool(b, "helm")
	pr := filepath.Join(binary(b), "tracebloc-postrender")
	base := []string{"template", "edge", chart, "-n", "tracebloc",
		"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard"}
	variants := []struct {
		name string
		env  []string
		args []string
	}{
		{"plain", helmEnv(b, filepath.Join(b.TempDir(), "no-kubeconfig")), nil},
		{"offline", helmEnv(b, filepath.Join(b.TempDir(), "no-kubeconfig")), []string{"--post-renderer", pr, "--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1"}},
		{"cluster", helmEnv(b, c.Kubeconfig), []string{"--post-renderer", pr}},
	}
	for _, v := range variants {
		helm(b, tool, v.env, append(base, v.args...)...) // warm the page cache and the binary
	}
	total := make([]time.Duration, len(variants))
	b.ResetTimer()
	for range b.N {
		for i, v := range variants { // interleaved, so that load on the machine hits all three alike
			start := time.Now()
			helm(b, tool, v.env, append(base, v.args...)...)
			total[i] += time.Since(start)
		}
	}
	b.StopTimer()
	per := func(i int) float64 { return total[i].Seconds() / float64(b.N) }
	b.ReportMetric(per(0), "plain-s/op")
	b.ReportMetric(per(1), "offline-s/op")
	b.ReportMetric(per(2), "cluster-s/op")
	b.ReportMetric(100*(per(1)-per(0))/per(1), "offline-share-%")
	b.ReportMetric(100*(per(2)-per(0))/per(2), "cluster-share-%")
}
