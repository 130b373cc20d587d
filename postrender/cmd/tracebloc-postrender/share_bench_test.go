package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// BenchmarkTemplateShare measures, in one run, `helm template` of the edge chart with the
// tracebloc/client chart without a post-renderer, with the post-renderer offline, and with
// the post-renderer against the local cluster (its identity, discovery and the guard's
// lists), and reports the post-renderer's share of each whole, (with - without) / with, of
// the median times. Helm 4 runs the post-renderer as its plugin (helm4-*, each against
// Helm 4's own plain run, with a floor of its own: a plugin that copies its input, since
// Helm 4 parses and writes the whole stream again before and after any post-renderer);
// the other floors run under Helm 3 only, floor-cat being the least any post-renderer
// costs there.
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
	helm3, helm4 := clustertest.Tool(b, "helm"), clustertest.Tool(b, "helm4")
	base := []string{"template", "edge", chart, "-n", "tracebloc",
		"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard"}
	offlineArgs := []string{"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1"}
	// A variant is one helm command; its share is taken of the plain run of the same helm.
	type variant struct {
		name  string
		tool  string
		env   []string
		args  []string
		plain int // the index of the plain variant it is measured against
	}
	offline := func() []string { return helmEnv(b, filepath.Join(b.TempDir(), "no-kubeconfig")) }
	variants := []variant{{name: "plain", tool: helm3, env: offline()}}
	binaries := []struct{ suffix, path string }{{"", filepath.Join(binary(b), "tracebloc-postrender")}}
	if before := os.Getenv("BENCH_SHARE_BEFORE"); before != "" {
		binaries = append(binaries, struct{ suffix, path string }{"-before", before})
	}
	for _, pr := range binaries {
		variants = append(variants,
			variant{name: "offline" + pr.suffix, tool: helm3, env: offline(), args: append([]string{"--post-renderer", pr.path}, offlineArgs...)},
			variant{name: "cluster" + pr.suffix, tool: helm3, env: helmEnv(b, c.Kubeconfig), args: []string{"--post-renderer", pr.path}})
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
	cat, err := exec.LookPath("cat")
	if err != nil {
		b.Fatal(err)
	}
	variants = append(variants,
		variant{name: "floor-cat", tool: helm3, env: offline(), args: []string{"--post-renderer", cat}},
		variant{name: "floor-parse", tool: helm3, env: offline(), args: []string{"--post-renderer", bench, "--post-renderer-args", "parse"}},
		variant{name: "floor-linked", tool: helm3, env: offline(), args: []string{"--post-renderer", linked}},
		variant{name: "floor-floor", tool: helm3, env: offline(), args: []string{"--post-renderer", bench, "--post-renderer-args", "floor"}})
	// Helm 4 runs a post-renderer only as a plugin: the development plugin, which runs the
	// tracebloc-postrender that its environment's PATH finds first.
	plain4 := len(variants)
	variants = append(variants, variant{name: "helm4-plain", tool: helm4, env: offline(), plain: plain4})
	for _, pr := range binaries {
		withPlugin := func(env []string) []string {
			env = onPath(b, env, pr.path)
			helm(b, helm4, env, "plugin", "install", pluginDir(b))
			return env
		}
		variants = append(variants,
			variant{name: "helm4-offline" + pr.suffix, tool: helm4, env: withPlugin(offline()), args: append([]string{"--post-renderer", "tracebloc"}, offlineArgs...), plain: plain4},
			variant{name: "helm4-cluster" + pr.suffix, tool: helm4, env: withPlugin(helmEnv(b, c.Kubeconfig)), args: []string{"--post-renderer", "tracebloc"}, plain: plain4})
	}
	// What Helm 4 spends on any post-renderer plugin: one that copies its input.
	catPlugin := filepath.Join(dir, "floor-cat")
	if err := os.MkdirAll(catPlugin, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(catPlugin, "plugin.yaml"), []byte(catPluginYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	catEnv := offline()
	helm(b, helm4, catEnv, "plugin", "install", catPlugin)
	variants = append(variants, variant{name: "helm4-floor-cat", tool: helm4, env: catEnv, args: []string{"--post-renderer", "floor-cat"}, plain: plain4})
	for _, v := range variants {
		helm(b, v.tool, v.env, append(base, v.args...)...) // warm the page cache and the binary
	}
	if file := os.Getenv("BENCH_SHARE_STREAM"); file != "" {
		// The rendered stream, for measuring the post-renderer alone (benchstream exec).
		if err := os.WriteFile(file, []byte(helm(b, helm3, variants[0].env, base...)), 0o644); err != nil {
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
			helm(b, v.tool, v.env, append(base, v.args...)...)
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
		if i != v.plain {
			b.ReportMetric(100*(per(i)-per(v.plain))/per(i), v.name+"-share-%")
		}
	}
}

// catPluginYAML is a Helm 4 post-renderer plugin that copies its input.
const catPluginYAML = `apiVersion: v1
name: floor-cat
version: 0.1.0
type: postrenderer/v1
runtime: subprocess
runtimeConfig:
  platformCommand:
  - command: cat
`

// onPath returns env with the folder of a tracebloc-postrender named bin first on its
// PATH: a link to bin named tracebloc-postrender when bin is named otherwise.
func onPath(t testing.TB, env []string, bin string) []string {
	t.Helper()
	dir := filepath.Dir(bin)
	if filepath.Base(bin) != "tracebloc-postrender" {
		dir = t.TempDir()
		if err := os.Symlink(bin, filepath.Join(dir, "tracebloc-postrender")); err != nil {
			t.Fatal(err)
		}
	}
	out := slices.Clone(env)
	for i, kv := range out {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			out[i] = "PATH=" + dir + string(os.PathListSeparator) + path
		}
	}
	return out
}
