package chartfiles_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/release/chartfiles"
)

// TestCopy: the copy holds what .helmignore and Helm's defaults let through, without
// charts/ (the dependency comes afresh) and with .helmignore itself, which helm package
// reads; a chart without .helmignore gets Helm's defaults alone.
func TestCopy(t *testing.T) {
	files := map[string]string{
		".helmignore":           "*.go\ntestdata/\nREADME.md.gotmpl\n",
		"Chart.yaml":            "name: edge\n",
		"values.yaml":           "a: 1\n",
		"templates/cm.yaml":     "kind: ConfigMap\n",
		"embed.go":              "package chart\n",
		"chart_test.go":         "package chart\n",
		"testdata/want.yaml":    "x: 1\n",
		"README.md.gotmpl":      "{{ . }}\n",
		"charts/old-1.0.tgz":    "old\n",
		"templates/NOTES.txt":   "notes\n",
		"templates/.draft.yaml": "kind: Draft\n", // Helm's default rule: no dotfiles in templates/
	}
	for _, tc := range []struct {
		name   string
		ignore bool // write .helmignore
		want   []string
	}{
		{"with .helmignore", true, []string{".helmignore", "Chart.yaml", "templates/NOTES.txt", "templates/cm.yaml", "values.yaml"}},
		{"without .helmignore", false, []string{"Chart.yaml", "README.md.gotmpl", "chart_test.go", "embed.go", "templates/NOTES.txt", "templates/cm.yaml", "testdata/want.yaml", "values.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), filepath.Join(t.TempDir(), "edge")
			for name, data := range files {
				if name == ".helmignore" && !tc.ignore {
					continue
				}
				writeFile(t, filepath.Join(src, filepath.FromSlash(name)), data)
			}
			if err := chartfiles.Copy(src, dst); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, list(t, dst)); diff != "" {
				t.Errorf("Copy files (-want +got):\n%s", diff)
			}
			for _, name := range tc.want {
				got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
				if err != nil || string(got) != files[name] {
					t.Errorf("the copy's %s = %q, %v, want %q", name, got, err, files[name])
				}
			}
		})
	}
}

// TestCopyRefusesSymlinks: a symlink in the chart is refused by name, not followed.
func TestCopyRefusesSymlinks(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "Chart.yaml"), "name: edge\n")
	if err := os.Symlink("Chart.yaml", filepath.Join(src, "values.yaml")); err != nil {
		t.Fatal(err)
	}
	err := chartfiles.Copy(src, filepath.Join(t.TempDir(), "edge"))
	if err == nil || !strings.Contains(err.Error(), "values.yaml is not a regular file") {
		t.Errorf("Copy of a chart with a symlink = %v, want an error naming values.yaml", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// list is the regular files below dir, slash-separated and sorted.
func list(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
