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
