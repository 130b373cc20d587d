package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// BenchmarkTemplateShare measures, in one run, `helm template` of the edge chart with the
// tracebloc/client chart without a post-renderer, with the post-renderer offline, and with
// the post-renderer against the local cluster (its identity, discovery and the guard's
// lists), and reports the post-renderer's share of each whole, (with - without) / with, of
// the median times.
// $BENCH_SHARE_BEFORE names another tracebloc-postrender binary (an earlier commit's) to
// measure the same way in the same run, interleaved, as offline-before and cluster-before;
// $BENCH_SHARE_STREAM a file to write what `helm template` renders without a post-renderer
// to (the stream a post-renderer is given, as its documents go).
//
//	go test -run '^$' -bench TemplateShare -benchtime 20x ./postrender/cmd/tracebloc-postrender/
func BenchmarkTemplateShare(b *testing.B) {
	if testing.Short() {
		b.Skip("helm and the local cluster: not under -short")
	}
	chart := chartdeps.DirWithClient(b)
	c := clustertest.Get(b)
	tool := clustertest.Tool(b, "helm")
	base := []string{"template", "edge", chart, "-n", "tracebloc",
		"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard"}
	type variant struct {
		name string
		env  []string
		args []string
	}
	offline := func() []string { return helmEnv(b, filepath.Join(b.TempDir(), "no-kubeconfig")) }
	variants := []variant{{"plain", offline(), nil}}
	binaries := []struct{ suffix, path string }{{"", filepath.Join(binary(b), "tracebloc-postrender")}}
	if before := os.Getenv("BENCH_SHARE_BEFORE"); before != "" {
		binaries = append(binaries, struct{ suffix, path string }{"-before", before})
	}
	for _, pr := range binaries {
		variants = append(variants,
			variant{"offline" + pr.suffix, offline(), []string{"--post-renderer", pr.path, "--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1"}},
			variant{"cluster" + pr.suffix, helmEnv(b, c.Kubeconfig), []string{"--post-renderer", pr.path}})
	}
	dir := b.TempDir()
	bench, err := releaseBuild("./postrender/internal/benchstream", "benchstream", dir)
	if err != nil {
		b.Fatal(err)
	}
	linked, err := releaseBuild("./postrender/internal/benchfloor/linked", "linked", dir)
	if err != nil {
		b.Fatal(err)
	}
	variants = append(variants,
		variant{"floor-parse", offline(), []string{"--post-renderer", bench, "--post-renderer-args", "parse"}},
		variant{"floor-linked", offline(), []string{"--post-renderer", linked}},
		variant{"floor-floor", offline(), []string{"--post-renderer", bench, "--post-renderer-args", "floor"}})
	for _, v := range variants {
		helm(b, tool, v.env, append(base, v.args...)...) // warm the page cache and the binary
	}
	if file := os.Getenv("BENCH_SHARE_STREAM"); file != "" {
		// The rendered stream, for measuring the post-renderer alone (benchstream exec).
		if err := os.WriteFile(file, []byte(helm(b, tool, variants[0].env, base...)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	times := make([][]time.Duration, len(variants))
	b.ResetTimer()
	for n := range b.N {
		// Interleaved, so that load on the machine hits them all alike, and each variant in
		// every place of the order in turn, so that what runs just before one (the run
		// before's exit, a cache it left warm) does not favour it.
		for k := range variants {
			i := (n + k) % len(variants)
			v := variants[i]
			start := time.Now()
			helm(b, tool, v.env, append(base, v.args...)...)
			times[i] = append(times[i], time.Since(start))
		}
	}
	b.StopTimer()
	// The median, not the mean: on a shared machine a burst of other work lands on a few
	// runs of one variant and would move its mean by more than the post-renderer costs.
	per := func(i int) float64 {
		slices.Sort(times[i])
		return times[i][len(times[i])/2].Seconds()
	}
	for i, v := range variants {
		b.ReportMetric(per(i), v.name+"-s/op")
		if i > 0 {
			b.ReportMetric(100*(per(i)-per(0))/per(i), v.name+"-share-%")
		}
	}
}
