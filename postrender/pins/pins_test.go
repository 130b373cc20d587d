package pins

import (
	"errors"
	"strings"
	"testing"
)

// zeroDigest is built, not written out: no committed file holds the all-zero digest.
var zeroDigest = "sha256:" + strings.Repeat("0", 64)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestResolve(t *testing.T) {
	set, err := Parse([]byte(`images:
- name: ghcr.io/tracebloc/edge-bootstrap
  tag: v1
  digest: ` + digestA + `
- name: tracebloc/jobs-manager
  digest: ` + digestB + `
- name: nginx
  tag: latest
  digest: ` + digestA + `
- name: localhost:5000/app
  digest: ` + digestB + `
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		image string
		want  string // "" = not pinned
	}{
		{name: "name and tag match", image: "ghcr.io/tracebloc/edge-bootstrap:v1", want: "ghcr.io/tracebloc/edge-bootstrap@" + digestA},
		{name: "other tag", image: "ghcr.io/tracebloc/edge-bootstrap:v2"},
		{name: "no tag means latest", image: "ghcr.io/tracebloc/edge-bootstrap"},
		{name: "tagless pin takes any tag", image: "tracebloc/jobs-manager:dev", want: "tracebloc/jobs-manager@" + digestB},
		{name: "docker.io spelling", image: "docker.io/tracebloc/jobs-manager:prod", want: "docker.io/tracebloc/jobs-manager@" + digestB},
		{name: "index.docker.io spelling", image: "index.docker.io/tracebloc/jobs-manager", want: "index.docker.io/tracebloc/jobs-manager@" + digestB},
		{name: "official image short name", image: "nginx", want: "nginx@" + digestA},
		{name: "official image long name", image: "docker.io/library/nginx:latest", want: "docker.io/library/nginx@" + digestA},
		{name: "registry with port", image: "localhost:5000/app:3", want: "localhost:5000/app@" + digestB},
		{name: "explicit digest kept", image: "tracebloc/jobs-manager:dev@" + digestA},
		{name: "similar name", image: "ghcr.io/tracebloc/edge-bootstrap-extra:v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := set.Resolve(tt.image)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Resolve(%q) = %q, %v; want %q", tt.image, got, ok, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "no name", data: "images:\n- digest: " + digestA + "\n", wantErr: "entry 1 has no name"},
		{name: "bad digest", data: "images:\n- name: a\n  digest: sha256:xyz\n", wantErr: `entry 1 (a): digest "sha256:xyz"`},
		{name: "upper-case hex", data: "images:\n- name: a\n  digest: sha256:" + strings.Repeat("A", 64) + "\n", wantErr: "not sha256:<64 lowercase hex digits>"},
		{
			name:    "all-zero digest",
			data:    "images:\n- name: a\n  digest: " + digestA + "\n- name: docker.io/tracebloc/jobs-manager\n  tag: prod\n  digest: " + zeroDigest + "\n",
			wantErr: "entry 2 (docker.io/tracebloc/jobs-manager:prod) has the all-zero digest, which no image has: remove the entry",
		},
		{name: "not YAML", data: "images: [\n", wantErr: "read the image list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tt.data, err, tt.wantErr)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "images: []\n", "images:\n"} {
		set, err := Parse([]byte(data))
		if err != nil || set.Len() != 0 {
			t.Errorf("Parse(%q) = %d pins, %v; want none and no error", data, set.Len(), err)
		}
		if _, ok := set.Resolve("docker.io/tracebloc/jobs-manager:prod"); ok {
			t.Errorf("Parse(%q).Resolve(jobs-manager:prod) pinned it, want the reference left as written", data)
		}
	}
}

func TestCheckDigest(t *testing.T) {
	tests := []struct {
		name, digest string
		wantErr      string // "" = valid
		zero         bool
	}{
		{name: "valid", digest: digestA},
		{name: "all zeros", digest: zeroDigest, wantErr: "all-zero", zero: true},
		{name: "short", digest: "sha256:abc", wantErr: "not sha256:"},
		{name: "no algorithm", digest: strings.Repeat("a", 64), wantErr: "not sha256:"},
		{name: "other algorithm", digest: "sha512:" + strings.Repeat("a", 64), wantErr: "not sha256:"},
		{name: "upper case", digest: "sha256:" + strings.Repeat("B", 64), wantErr: "lowercase"},
		{name: "empty", digest: "", wantErr: "not sha256:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDigest(tt.digest)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckDigest(%q) = %v, want nil", tt.digest, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckDigest(%q) = %v, want an error containing %q", tt.digest, err, tt.wantErr)
			}
			if errors.Is(err, ErrZeroDigest) != tt.zero {
				t.Errorf("errors.Is(CheckDigest(%q), ErrZeroDigest) = %v, want %v", tt.digest, !tt.zero, tt.zero)
			}
		})
	}
}
