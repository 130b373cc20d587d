package chart_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/provenance"
	"sigs.k8s.io/yaml"

	"github.com/tracebloc/edge/internal/names"
)

// lockDigest is the digest Helm's dependency resolver writes into Chart.lock and checks on
// `helm dependency build`: the SHA-256 of the JSON of Chart.yaml's dependencies and the
// locked ones, "sha256:"-prefixed.
func lockDigest(req, locked []*helmchart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*helmchart.Dependency{req, locked})
	if err != nil {
		return "", err
	}
	sum, err := provenance.Digest(bytes.NewBuffer(data))
	return "sha256:" + sum, err
}

// TestChartLock: Chart.lock locks the client chart Chart.yaml names, at the version the
// post-renderer knows, with the digest Helm computes from Chart.yaml; a stale lock makes
// `helm dependency build` refuse the chart.
func TestChartLock(t *testing.T) {
	var meta helmchart.Metadata
	readYAML(t, "Chart.yaml", &meta)
	var lock helmchart.Lock
	readYAML(t, "Chart.lock", &lock)
	want := []*helmchart.Dependency{{
		Name: names.ClientChartName, Version: names.ClientChartVersion,
		Repository: "https://tracebloc.github.io/client", Condition: "client.enabled",
	}}
	if diff := cmp.Diff(want, meta.Dependencies); diff != "" {
		t.Errorf("Chart.yaml dependencies (-want +got):\n%s", diff)
	}
	wantLocked := []*helmchart.Dependency{{Name: names.ClientChartName, Version: names.ClientChartVersion, Repository: "https://tracebloc.github.io/client"}}
	if diff := cmp.Diff(wantLocked, lock.Dependencies); diff != "" {
		t.Errorf("Chart.lock dependencies (-want +got):\n%s", diff)
	}
	digest, err := lockDigest(meta.Dependencies, lock.Dependencies)
	if err != nil {
		t.Fatal(err)
	}
	if lock.Digest != digest {
		t.Errorf("Chart.lock digest = %s, want %s (from Chart.yaml): regenerate it with `helm dependency update chart/` (the repository https://tracebloc.github.io/client reachable)", lock.Digest, digest)
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
