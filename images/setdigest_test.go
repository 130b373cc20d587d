package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/postrender/pins"
)

const (
	bootstrap = "ghcr.io/tracebloc/edge-bootstrap"
	digestA   = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB   = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestN   = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// zeroDigest is built, not written out: no committed file holds the all-zero digest.
var zeroDigest = "sha256:" + strings.Repeat("0", 64)

// several is a list with two entries of one name and comments to keep.
const several = `# comment kept
images:
- name: ghcr.io/tracebloc/edge-bootstrap   # the bootstrap
  tag: v0.1.0
  digest: ` + digestA + `
- name: docker.io/tracebloc/jobs-manager
  tag: prod
  digest: ` + digestB + `  # prod's
- name: docker.io/tracebloc/jobs-manager
  tag: dev
  digest: ` + digestB + `
# trailing comment
`

func TestSetDigest(t *testing.T) {
	tests := []struct {
		name, list, image, tag, want string
	}{
		{
			name: "empty list, comments kept", list: "# what the list is\nimages: []  # none yet\n", image: bootstrap, tag: "v0.2.0",
			want: "# what the list is\nimages: # none yet\n- name: " + bootstrap + "\n  tag: v0.2.0\n  digest: " + digestN + "\n",
		},
		{
			name: "no images key", list: "", image: bootstrap, tag: "v0.2.0",
			want: "images:\n- name: " + bootstrap + "\n  tag: v0.2.0\n  digest: " + digestN + "\n",
		},
		{
			name: "only entry of the name, new tag", list: several, image: bootstrap, tag: "v0.2.0",
			want: strings.Replace(strings.Replace(several, "tag: v0.1.0", "tag: v0.2.0", 1), digestA, digestN, 1),
		},
		{
			name: "several of the name, chosen by tag, comment kept", list: several, image: "docker.io/tracebloc/jobs-manager", tag: "prod",
			want: strings.Replace(several, digestB+"  # prod's", digestN+"  # prod's", 1),
		},
		{
			name: "several of the name, none with the tag: appended", list: several, image: "docker.io/tracebloc/jobs-manager", tag: "stg",
			want: strings.Replace(several, "# trailing comment\n",
				"- name: docker.io/tracebloc/jobs-manager\n  tag: stg\n  digest: "+digestN+"\n# trailing comment\n", 1),
		},
		{
			name: "new name, indented list", list: "images:\n  - name: a\n    digest: " + digestA + "\n", image: bootstrap, tag: "v1",
			want: "images:\n  - name: a\n    digest: " + digestA + "\n  - name: " + bootstrap + "\n    tag: v1\n    digest: " + digestN + "\n",
		},
		{
			name: "tag line added", list: "images:\n- name: a\n  digest: " + digestA + "\n", image: "a", tag: "v1",
			want: "images:\n- name: a\n  tag: v1\n  digest: " + digestN + "\n",
		},
		{
			name: "no tag: the tag line goes", list: "images:\n- name: a\n  tag: v1\n  digest: " + digestA + "\n", image: "a",
			want: "images:\n- name: a\n  digest: " + digestN + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetDigest([]byte(tc.list), tc.image, tc.tag, digestN)
			if err != nil {
				t.Fatalf("SetDigest() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("SetDigest() (-want +got):\n%s", diff)
			}
			set, err := pins.Parse(got)
			if err != nil {
				t.Fatalf("pins.Parse(SetDigest()) error = %v", err)
			}
			ref := tc.image
			if tc.tag != "" {
				ref += ":" + tc.tag
			}
			if pinned, ok := set.Resolve(ref); pinned != tc.image+"@"+digestN {
				t.Errorf("pins.Parse(SetDigest()).Resolve(%s) = %q, %v; want %s@%s", ref, pinned, ok, tc.image, digestN)
			}
		})
	}
}

func TestSetDigestErrors(t *testing.T) {
	tests := []struct {
		name, list, image, digest, wantErr string
		zero                               bool
	}{
		{name: "all-zero digest", list: several, image: bootstrap, digest: zeroDigest, wantErr: "all-zero", zero: true},
		{name: "not a digest", list: several, image: bootstrap, digest: "sha256:abc", wantErr: "not sha256:"},
		{name: "upper-case digest", list: several, image: bootstrap, digest: strings.ToUpper(digestN), wantErr: "not sha256:"},
		{name: "name with tag", list: several, image: bootstrap + ":v1", digest: digestN, wantErr: "without tag or digest"},
		{name: "no name", list: several, image: "", digest: digestN, wantErr: "without tag or digest"},
		{name: "entry without digest", list: "images:\n- name: a\n  tag: v1\n", image: "a", digest: digestN, wantErr: "line 2: the entry for a has no digest line"},
		{name: "flow list", list: "images: [{name: a, digest: " + digestA + "}]\n", image: "a", digest: digestN, wantErr: `line 1: write the image list as one "- name:" item`},
		{name: "item without name first", list: "images:\n- digest: " + digestA + "\n", image: "a", digest: digestN, wantErr: "line 2"},
		{name: "another entry all zeros", list: "images:\n- name: b\n  digest: " + zeroDigest + "\n", image: "a", digest: digestN, wantErr: "entry 1 (b) has the all-zero digest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetDigest([]byte(tc.list), tc.image, "v1", tc.digest)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("SetDigest(%q, %q) = %q, %v; want an error containing %q", tc.image, tc.digest, got, err, tc.wantErr)
			}
			if errors.Is(err, pins.ErrZeroDigest) != tc.zero {
				t.Errorf("errors.Is(SetDigest() error, pins.ErrZeroDigest) = %v, want %v", !tc.zero, tc.zero)
			}
		})
	}
}

// TestPinList: the committed images.yaml parses, pins nothing (no digest is known for
// certain here), and takes the bootstrap's entry as the release writes it.
func TestPinList(t *testing.T) {
	set, err := pins.Parse(PinList())
	if err != nil {
		t.Fatalf("images.yaml: %v", err)
	}
	if set.Len() != 0 {
		t.Errorf("images.yaml has %d pins, want none: commit only digests known for certain", set.Len())
	}
	got, err := SetDigest(PinList(), bootstrap, "v0.2.0", digestN)
	if err != nil {
		t.Fatalf("SetDigest(images.yaml) error = %v", err)
	}
	if !strings.HasPrefix(string(got), string(PinList()[:strings.Index(string(PinList()), "images:")])) {
		t.Errorf("SetDigest(images.yaml) dropped the comments above the list:\n%s", got)
	}
	if set, err = pins.Parse(got); err != nil || set.Len() != 1 {
		t.Errorf("pins.Parse(SetDigest(images.yaml)) = %d pins, %v; want the bootstrap's", set.Len(), err)
	}
}

// FuzzSetDigest: whatever the list, SetDigest does not panic, and a list it returns
// parses and pins the entry it was asked for.
func FuzzSetDigest(f *testing.F) {
	for _, seed := range []string{"", "images: []\n", several, "images:\n  - name: a\n    digest: " + digestA + "\n", "images:\n- name: a\n  tag: v1\n", "images: [\n", "x: 1\nimages:\n- name: " + bootstrap + "\n  digest: " + digestA + "\ny: 2\n"} {
		f.Add(seed, bootstrap, "v1")
	}
	f.Fuzz(func(t *testing.T, list, name, tag string) {
		out, err := SetDigest([]byte(list), name, tag, digestN)
		if err != nil {
			return
		}
		set, err := pins.Parse(out)
		if err != nil {
			t.Fatalf("SetDigest(%q, %q, %q) = %q, which pins.Parse refuses: %v", list, name, tag, out, err)
		}
		ref := name
		if tag != "" {
			ref += ":" + tag
		}
		if got, _ := set.Resolve(ref); got != name+"@"+digestN {
			t.Fatalf("SetDigest(%q, %q, %q) = %q, which resolves %s to %q", list, name, tag, out, ref, got)
		}
	})
}
