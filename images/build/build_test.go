package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tracebloc/edge/images"
	"github.com/tracebloc/edge/postrender/pins"
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

// TestRunPin: with --pin, the digest run prints is the one the list then pins the
// image's tag to, and the list's comments stay.
func TestRunPin(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "tracebloc-bootstrap")
	if err := os.WriteFile(binary, []byte("#!/not/really/a/binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "images.yaml")
	if err := os.WriteFile(list, images.PinList(), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--binary", binary, "--name", "ghcr.io/tracebloc/edge-bootstrap", "--version", "v0.3.0",
		"--ca-bundle", ca, "--out", filepath.Join(dir, "img.tar"), "--pin", list}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%v): %v\n%s", args, err, stderr.String())
	}
	digest := strings.TrimSpace(stdout.String())
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse(data)
	if err != nil {
		t.Fatalf("pins.Parse(the pinned list) error = %v\n%s", err, data)
	}
	if got, _ := set.Resolve("ghcr.io/tracebloc/edge-bootstrap:v0.3.0"); got != "ghcr.io/tracebloc/edge-bootstrap@"+digest {
		t.Errorf("the pinned list resolves the bootstrap to %q, want the printed digest %s\n%s", got, digest, data)
	}
	if !bytes.HasPrefix(data, []byte("# The images the chart runs")) {
		t.Errorf("the pinned list lost its comments:\n%s", data)
	}
}
