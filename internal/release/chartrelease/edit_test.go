package chartrelease

import (
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

const chartSample = `apiVersion: v2
name: edge
# -- the chart's version.
version: 0.1.0
annotations:
  artifacthub.io/license: Apache-2.0
  artifacthub.io/images: |
    # listed on the chart's page
    - name: edge-bootstrap
      image: ghcr.io/tracebloc/edge-bootstrap:0.1.0 # the bootstrap
    - name: jobs-manager
      image: docker.io/tracebloc/jobs-manager:prod
  artifacthub.io/prerelease: "true"
`

// TestSetImage: the image of the entry named changes in the artifacthub.io/images block
// and nothing else, comments included; what the edit cannot write in place is refused.
func TestSetImage(t *testing.T) {
	for _, tc := range []struct {
		name, src, entry, image string
		from, to                string // the line that changes; "" = an error
	}{
		{"plain", chartSample, "edge-bootstrap", "ghcr.io/tracebloc/edge-bootstrap:0.4.0",
			"      image: ghcr.io/tracebloc/edge-bootstrap:0.1.0 # the bootstrap", "      image: ghcr.io/tracebloc/edge-bootstrap:0.4.0 # the bootstrap"},
		{"the other entry", chartSample, "jobs-manager", "docker.io/tracebloc/jobs-manager:1.0",
			"      image: docker.io/tracebloc/jobs-manager:prod", "      image: docker.io/tracebloc/jobs-manager:1.0"},
		{"quoted", strings.Replace(chartSample, "image: ghcr.io/tracebloc/edge-bootstrap:0.1.0", `image: "ghcr.io/tracebloc/edge-bootstrap:0.1.0"`, 1), "edge-bootstrap", "ghcr.io/tracebloc/edge-bootstrap:0.4.0",
			`      image: "ghcr.io/tracebloc/edge-bootstrap:0.1.0" # the bootstrap`, `      image: "ghcr.io/tracebloc/edge-bootstrap:0.4.0" # the bootstrap`},
		{"other indentation", strings.ReplaceAll(chartSample, "\n    ", "\n      "), "edge-bootstrap", "ghcr.io/tracebloc/edge-bootstrap:0.4.0",
			"        image: ghcr.io/tracebloc/edge-bootstrap:0.1.0 # the bootstrap", "        image: ghcr.io/tracebloc/edge-bootstrap:0.4.0 # the bootstrap"},
		{"no such entry", chartSample, "mysql", "mysql:8", "", ""},
		{"entry twice", strings.Replace(chartSample, "- name: jobs-manager", "- name: edge-bootstrap", 1), "edge-bootstrap", "x:1", "", ""},
		{"no annotation", "apiVersion: v2\nname: edge\nannotations: {}\n", "edge-bootstrap", "x:1", "", ""},
		{"folded block", strings.Replace(chartSample, "artifacthub.io/images: |", "artifacthub.io/images: >", 1), "edge-bootstrap", "x:1", "", ""},
		{"value needing escapes", chartSample, "edge-bootstrap", "x #1", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetImage([]byte(tc.src), tc.entry, tc.image)
			if tc.from == "" {
				if err == nil {
					t.Errorf("SetImage(%q, %q) = nil error, want one", tc.entry, tc.image)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetImage(%q, %q) error = %v", tc.entry, tc.image, err)
			}
			want := strings.Replace(tc.src, tc.from+"\n", tc.to+"\n", 1)
			if want == tc.src {
				t.Fatalf("the case's line %q is not in the sample", tc.from)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("SetImage(%q, %q) (-want +got):\n%s", tc.entry, tc.image, diff)
			}
		})
	}
}
