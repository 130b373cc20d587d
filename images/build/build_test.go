package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunIsReproducible(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "tracebloc-bootstrap")
	if err := os.WriteFile(binary, []byte("#!/not/really/a/binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out string) string {
		var stdout, stderr bytes.Buffer
		args := []string{"--binary", binary, "--name", "ghcr.io/tracebloc/edge-bootstrap", "--version", "v0.0.0",
			"--ca-bundle", ca, "--out", filepath.Join(dir, out)}
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("run(%v): %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	first, second := build("a.tar"), build("b.tar")
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(first) {
		t.Fatalf("run printed %q, want a sha256 digest", first)
	}
	if first != second {
		t.Errorf("two builds of the same binary: digests %s and %s, want equal", first, second)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same binary wrote different tarballs")
	}
}

func TestRunNeedsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--name", "x"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--binary") {
		t.Errorf("run(--name x) error = %v, want one naming --binary", err)
	}
	err = run(context.Background(), []string{"--binary", "b", "--name", "ghcr.io/x:v1", "--version", "v1", "--out", "o"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "tag") {
		t.Errorf("run(--name with tag) error = %v, want one about the tag", err)
	}
}

const newDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
const zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func TestSetDigest(t *testing.T) {
	list := `# comment kept
images:
- name: ghcr.io/tracebloc/edge-bootstrap
  tag: v0.0.0
  digest: ` + zero + `
- name: docker.io/tracebloc/jobs-manager
  tag: prod
  digest: ` + zero + `  # placeholder
- name: docker.io/tracebloc/jobs-manager
  tag: dev
  digest: ` + zero + `
`
	tests := []struct {
		name, image, version, want, wantErr string
	}{
		{
			name: "single entry, new tag", image: "ghcr.io/tracebloc/edge-bootstrap", version: "v0.1.0",
			want: strings.Replace(strings.Replace(list, "tag: v0.0.0", "tag: v0.1.0", 1), zero, newDigest, 1),
		},
		{
			name: "several entries, chosen by tag, comment kept", image: "docker.io/tracebloc/jobs-manager", version: "prod",
			want: strings.Replace(list, "digest: "+zero+"  # placeholder", "digest: "+newDigest+"  # placeholder", 1),
		},
		{name: "several entries, no such tag", image: "docker.io/tracebloc/jobs-manager", version: "stg", wantErr: "found 0"},
		{name: "unknown image", image: "example.com/other", version: "v1", wantErr: "found 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setDigest(list, tc.image, tc.version, newDigest)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("setDigest() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("setDigest() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("setDigest() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestImagesListParses keeps images/images.yaml in the format setDigest edits.
func TestImagesListParses(t *testing.T) {
	data, err := os.ReadFile("../images.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setDigest(string(data), "ghcr.io/tracebloc/edge-bootstrap", "v0.0.0", newDigest); err != nil {
		t.Errorf("images.yaml: %v", err)
	}
}
