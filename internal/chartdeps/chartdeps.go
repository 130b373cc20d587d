// Package chartdeps provides a copy of the edge chart (chart/) that Helm can install,
// with its dependency, the tracebloc/client chart, in the copy's charts/ folder: the
// tests, the journey and the demo install it the way a user's `helm dependency update`
// would leave it. The dependency is never committed; it is packaged from an unpacked copy
// of the client chart kept beside the repository (ClientSource). Without it (a plain
// clone) the copy has no dependency and installs with client.enabled=false.
package chartdeps

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/release/chartfiles"
	"github.com/tracebloc/edge/internal/yamlnode"
)

// ClientArchive is the file name of the packaged dependency in the copy's charts/ folder,
// as `helm dependency update` names it.
const ClientArchive = names.ClientChartName + "-" + names.ClientChartVersion + ".tgz"

// RepoRoot finds the repository root (the folder with go.mod) from the working directory
// up; `go test` runs in the package's folder.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ClientSource returns the folder of the unpacked tracebloc/client chart beside the
// repository at root, and whether it is there.
func ClientSource(root string) (string, bool) {
	dir := filepath.Join(filepath.Dir(root), "shared", "thirdparty", "tracebloc-client")
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return dir, err == nil
}

// Prepare writes the copy into dst (created; it must not hold a chart already). With the
// client chart available it packages it into dst/charts/ and returns true; otherwise it
// removes the dependency from the copy's Chart.yaml, deletes its Chart.lock, sets
// client.enabled=false in its values.yaml, and returns false.
func Prepare(dst string) (withClient bool, err error) {
	root, err := RepoRoot()
	if err != nil {
		return false, err
	}
	src, ok := ClientSource(root)
	if !ok {
		src = ""
	}
	return prepare(filepath.Join(root, "chart"), src, dst)
}

// prepare is Prepare of the chart in chartDir, with the client chart in clientSrc ("": none).
func prepare(chartDir, clientSrc, dst string) (withClient bool, err error) {
	if err := chartfiles.Copy(chartDir, dst); err != nil {
		return false, err
	}
	if clientSrc == "" {
		return false, withoutClient(dst)
	}
	if err := packageClient(clientSrc, filepath.Join(dst, "charts")); err != nil {
		return false, err
	}
	return true, nil
}

// Dir is Prepare into a fresh temporary folder of the test; it fails the test on error.
func Dir(t testing.TB) (dir string, withClient bool) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "edge")
	withClient, err := Prepare(dir)
	if err != nil {
		t.Fatalf("prepare the edge chart with its dependency: %v", err)
	}
	return dir, withClient
}

// DirWithClient is Dir for a test that needs the client chart: without it (a plain clone)
// the test is skipped with one line.
func DirWithClient(t testing.TB) string {
	t.Helper()
	dir, withClient := Dir(t)
	if !withClient {
		t.Skipf("needs the tracebloc/client chart %s beside the repository (shared/thirdparty/tracebloc-client); a plain clone has none", names.ClientChartVersion)
	}
	return dir
}

// packageClient packages the chart in src into dir as `helm package` would, and checks
// that it is the version the edge chart depends on.
func packageClient(src, dir string) error {
	ch, err := loader.LoadDir(src)
	if err != nil {
		return fmt.Errorf("load the tracebloc/client chart from %s: %w", src, err)
	}
	if ch.Name() != names.ClientChartName || ch.Metadata.Version != names.ClientChartVersion {
		return fmt.Errorf("%s holds chart %s %s, want %s %s (the version chart/Chart.yaml depends on)",
			src, ch.Name(), ch.Metadata.Version, names.ClientChartName, names.ClientChartVersion)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path, err := chartutil.Save(ch, dir)
	if err != nil {
		return fmt.Errorf("package the tracebloc/client chart into %s: %w", dir, err)
	}
	if filepath.Base(path) != ClientArchive {
		return fmt.Errorf("packaged the tracebloc/client chart as %s, want %s", path, ClientArchive)
	}
	return nil
}

// withoutClient makes the copy in dir installable without its dependency: Helm refuses a
// chart whose Chart.yaml names a dependency missing from charts/, whatever its condition.
func withoutClient(dir string) error {
	if err := editYAML(filepath.Join(dir, "Chart.yaml"), func(doc *yaml.Node) error {
		return deleteKey(doc, "dependencies")
	}); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, "Chart.lock")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return editYAML(filepath.Join(dir, "values.yaml"), func(doc *yaml.Node) error {
		client := yamlnode.Field(doc, "client")
		enabled := yamlnode.Field(client, "enabled")
		if enabled == nil {
			return errors.New("values.yaml has no client.enabled")
		}
		enabled.Value, enabled.Tag = "false", "!!bool"
		return nil
	})
}

// editYAML rewrites the YAML file at path with edit applied to its top-level mapping,
// keeping its comments.
func editYAML(path string, edit func(doc *yaml.Node) error) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var file yaml.Node
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if len(file.Content) != 1 || file.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not a YAML mapping", path)
	}
	if err := edit(file.Content[0]); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&file); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

func deleteKey(m *yaml.Node, key string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return nil
		}
	}
	return fmt.Errorf("no key %q", key)
}
