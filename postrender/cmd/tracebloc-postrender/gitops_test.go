package main

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func fixtureStream(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../wiring/testdata/client/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestGitops runs the subcommand offline over the client-chart-shaped fixture: each
// format prints YAML of its shape, with the advice on waiting as comments.
func TestGitops(t *testing.T) {
	clearEnv(t)
	base := []string{"gitops", "--offline", "--cluster-id", "c1", "--namespace", "tracebloc"}
	tests := []struct {
		name  string
		args  []string
		paths [][]string // that must be in the output
		wants []string
	}{
		{name: "flux", paths: [][]string{{"postRenderers"}}, wants: []string{"spec.install.timeout: 30m", "$patch: delete", "op: test"}},
		{name: "kustomize", args: []string{"--format", "kustomize", "--repo", "https://charts.example", "--chart-version", "1.0.0"},
			paths: [][]string{{"helmCharts"}, {"patches"}}, wants: []string{"repo: https://charts.example", "releaseName: edge", "Argo CD does not roll back"}},
		{name: "edits", args: []string{"--edits"}, wants: []string{"Deployment tracebloc/edge-jobs-manager (json6902)\n", "  /spec/template/spec/initContainers/0\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runPR(t, fixtureStream(t), append(base, tt.args...)...)
			if err != nil {
				t.Fatalf("gitops: %v\n%s", err, stderr)
			}
			for _, want := range tt.wants {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if len(tt.paths) == 0 {
				return
			}
			doc, err := yaml.Parse(stdout)
			if err != nil {
				t.Fatalf("stdout is not YAML: %v\n%s", err, stdout)
			}
			for _, p := range tt.paths {
				if n, err := doc.Pipe(yaml.Lookup(p...)); err != nil || n == nil {
					t.Errorf("stdout has no %v:\n%s", p, stdout)
				}
			}
			if !strings.Contains(stderr, "wired: init container bootstrap first") {
				t.Errorf("stderr lacks the wiring's line for the jobs-manager:\n%s", stderr)
			}
		})
	}
}

func TestGitopsErrors(t *testing.T) {
	clearEnv(t)
	for _, tt := range []struct {
		name, input string
		args        []string
		want        string
	}{
		{name: "no namespace", input: fixtureStream(t), args: []string{"--offline"}, want: "gitops needs --namespace"},
		{name: "unknown format", input: fixtureStream(t), args: []string{"--offline", "--namespace", "x", "--format", "argo"}, want: `--format "argo": use flux or kustomize`},
		{name: "kustomize without the wiring object", input: stream, args: []string{"--offline", "--namespace", "x", "--format", "kustomize"}, want: "its release name is unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runPR(t, tt.input, append([]string{"gitops"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("gitops %v = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q with the error, want nothing", stdout)
			}
		})
	}
}
