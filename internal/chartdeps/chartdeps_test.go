package chartdeps

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/tracebloc/edge/internal/names"
)

func chartDir(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "chart")
}

// load loads the prepared copy as helm install does, dependencies checked.
func load(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("load the copy: %v", err)
	}
	if err := action.CheckDependencies(ch, ch.Metadata.Dependencies); err != nil {
		t.Fatalf("helm would refuse the copy: %v", err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(path, ".go") || d.Name() == "testdata") {
			t.Errorf("the copy holds %s, which .helmignore leaves out", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestPrepareWithClient: the copy carries charts/client-1.9.62.tgz, which Helm loads as
// the dependency Chart.yaml names.
func TestPrepareWithClient(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, ok := ClientSource(root)
	if !ok {
		t.Skipf("needs the tracebloc/client chart %s beside the repository; a plain clone has none", names.ClientChartVersion)
	}
	dst := filepath.Join(t.TempDir(), "edge")
	withClient, err := prepare(chartDir(t), src, dst)
	if err != nil || !withClient {
		t.Fatalf("prepare = %v, %v; want true, nil", withClient, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "charts", ClientArchive)); err != nil {
		t.Errorf("no %s in the copy's charts/: %v", ClientArchive, err)
	}
	ch := load(t, dst)
	deps := ch.Dependencies()
	if len(deps) != 1 || deps[0].Name() != names.ClientChartName || deps[0].Metadata.Version != names.ClientChartVersion {
		t.Fatalf("the copy's dependencies %v, want %s %s", deps, names.ClientChartName, names.ClientChartVersion)
	}
	if ch.Lock == nil || ch.Values["client"].(map[string]any)["enabled"] != true {
		t.Errorf("the copy lost Chart.lock (%v) or client.enabled=true", ch.Lock)
	}
}

// TestPrepareWithoutClient: without the client chart the copy names no dependency, has no
// Chart.lock and installs with client.enabled=false, its values.yaml otherwise unchanged.
func TestPrepareWithoutClient(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "edge")
	withClient, err := prepare(chartDir(t), "", dst)
	if err != nil || withClient {
		t.Fatalf("prepare = %v, %v; want false, nil", withClient, err)
	}
	ch := load(t, dst)
	if len(ch.Metadata.Dependencies) != 0 || ch.Lock != nil {
		t.Errorf("the copy names dependencies %v, lock %v; want none", ch.Metadata.Dependencies, ch.Lock)
	}
	if got := ch.Values["client"].(map[string]any)["enabled"]; got != false {
		t.Errorf("client.enabled = %v, want false", got)
	}
	values, err := os.ReadFile(filepath.Join(dst, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(values), "# -- installs the client chart.") {
		t.Errorf("the copy's values.yaml lost its comments:\n%s", values)
	}
	if ch.Metadata.Name != "edge" || ch.Metadata.Description == "" {
		t.Errorf("the copy's Chart.yaml lost its metadata: %+v", ch.Metadata)
	}
}

// TestPrepareRefusesAnotherVersion: a client chart of another version is not packaged.
func TestPrepareRefusesAnotherVersion(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "Chart.yaml"), []byte("apiVersion: v2\nname: client\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := prepare(chartDir(t), src, filepath.Join(t.TempDir(), "edge"))
	if err == nil || !strings.Contains(err.Error(), "holds chart client 1.0.0, want client "+names.ClientChartVersion) {
		t.Errorf("prepare with client 1.0.0 = %v, want a refusal naming both versions", err)
	}
}
