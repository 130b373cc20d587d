package pins

import (
	"strings"
	"testing"
)

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
- name: docker.io/tracebloc/placeholder
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
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
		{name: "placeholder digest pins nothing", image: "docker.io/tracebloc/placeholder:x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := set.Resolve(tt.image)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Resolve(%q) = %q, %v; want %q", tt.image, got, ok, tt.want)
			}
		})
	}
	if got := set.Placeholders(); len(got) != 1 || got[0] != "docker.io/tracebloc/placeholder" {
		t.Errorf("Placeholders() = %q, want the placeholder entry", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "no name", data: "images:\n- digest: " + digestA + "\n", wantErr: "entry 1 has no name"},
		{name: "bad digest", data: "images:\n- name: a\n  digest: sha256:xyz\n", wantErr: `digest "sha256:xyz"`},
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
	set, err := Parse(nil)
	if err != nil || set.Len() != 0 {
		t.Errorf("Parse(nil) = %d pins, %v; want none and no error", set.Len(), err)
	}
}
