package chartrelease

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const valuesSample = `# top comment
bootstrap:
  image:
    # -- the image's tag.
    tag: "" # trailing comment
    # -- a digest pins the image.
    digest: ""
    single: 'x'
    plain: 0.1.0
  block: |
    text
other:
  digest: keep
`

func TestSetScalar(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  []string
		value string
		// from and to are the one line that changes; "" for an error.
		from, to string
	}{
		{"double quoted", []string{"bootstrap", "image", "digest"}, "sha256:ab", `    digest: ""`, `    digest: "sha256:ab"`},
		{"trailing comment kept", []string{"bootstrap", "image", "tag"}, "v1", `    tag: "" # trailing comment`, `    tag: "v1" # trailing comment`},
		{"single quoted", []string{"bootstrap", "image", "single"}, "y", `    single: 'x'`, `    single: 'y'`},
		{"plain", []string{"bootstrap", "image", "plain"}, "0.4.0", `    plain: 0.1.0`, `    plain: 0.4.0`},
		{"top level", []string{"other", "digest"}, "changed", `  digest: keep`, `  digest: changed`},
		{"missing key", []string{"bootstrap", "image", "nope"}, "x", "", ""},
		{"not a scalar", []string{"bootstrap", "image"}, "x", "", ""},
		{"block scalar", []string{"bootstrap", "block"}, "x", "", ""},
		{"value needing escapes", []string{"bootstrap", "image", "digest"}, `a"b`, "", ""},
		{"value with a comment mark", []string{"bootstrap", "image", "digest"}, "a #b", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetScalar([]byte(valuesSample), tc.path, tc.value)
			if tc.from == "" {
				if err == nil {
					t.Fatalf("SetScalar(%v, %q) = nil error, want one:\n%s", tc.path, tc.value, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetScalar(%v, %q) error = %v", tc.path, tc.value, err)
			}
			want := strings.Replace(valuesSample, tc.from+"\n", tc.to+"\n", 1)
			if want == valuesSample {
				t.Fatalf("the case's line %q is not in the sample", tc.from)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("SetScalar(%v, %q) (-want +got):\n%s", tc.path, tc.value, diff)
			}
		})
	}
}

func TestCheckDigest(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"digest", "sha256:" + hex, true},
		{"all zeros", "sha256:" + strings.Repeat("0", 64), false},
		{"upper case", "sha256:" + strings.ToUpper(hex), false},
		{"short", "sha256:" + hex[:63], false},
		{"no algorithm", hex, false},
		{"sha512", "sha512:" + hex, false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckDigest(tc.in); (err == nil) != tc.ok {
				t.Errorf("CheckDigest(%q) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

// TestCopyChart: the copy holds what .helmignore lets through, without charts/ (the
// dependency is vendored afresh) and with .helmignore itself, which helm package reads.
func TestCopyChart(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "edge")
	for name, data := range map[string]string{
		".helmignore":         "*.go\ntestdata/\nREADME.md.gotmpl\n",
		"Chart.yaml":          "name: edge\n",
		"values.yaml":         "a: 1\n",
		"templates/cm.yaml":   "kind: ConfigMap\n",
		"embed.go":            "package chart\n",
		"chart_test.go":       "package chart\n",
		"testdata/want.yaml":  "x: 1\n",
		"README.md.gotmpl":    "{{ . }}\n",
		"charts/old-1.0.tgz":  "old\n",
		"templates/NOTES.txt": "notes\n",
	} {
		path := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyChart(src, dst); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".helmignore", "Chart.yaml", "templates/NOTES.txt", "templates/cm.yaml", "values.yaml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copyChart files (-want +got):\n%s", diff)
	}
}
