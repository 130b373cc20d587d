package wiring

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/postrender/pins"
	"github.com/tracebloc/edge/postrender/transform"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata from the current output")

const testClusterID = "0b7ab7e4-5f0a-4c43-9a57-2f1f0e3c9d11"

func testPins(t *testing.T) pins.Set {
	t.Helper()
	set, err := pins.Parse([]byte("images:\n- name: ghcr.io/tracebloc/edge-bootstrap\n  tag: v0.0.0\n  digest: sha256:" + strings.Repeat("a", 64) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// render runs the transform with a Wiring over input.
func render(t *testing.T, input string) (transform.Result, *Wiring, error) {
	t.Helper()
	w := New()
	res, err := transform.Stream(strings.NewReader(input), transform.Options{
		ClusterID: testClusterID, Pins: testPins(t), Holder: w,
	})
	return res, w, err
}

func fixture(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "client", "input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// golden compares got with testdata/client/<file> (-update rewrites it).
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "client", file)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

// TestWire runs the client-chart-shaped fixture through the transform with the wiring and
// compares the stream and the list of what was wired with their golden files.
func TestWire(t *testing.T) {
	res, w, err := render(t, fixture(t))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	golden(t, "want.yaml", res.Output)
	var b bytes.Buffer
	for _, x := range w.Wired() {
		fmt.Fprintf(&b, "%s: %s\n", x.Object, x.What)
	}
	golden(t, "wired.txt", b.Bytes())
	if w.Release() != "edge" || w.MigrateFrom() != "" {
		t.Errorf("Release, MigrateFrom = %q, %q; want edge, \"\"", w.Release(), w.MigrateFrom())
	}
	if got, want := len(w.Secrets()), 2; got != want {
		t.Errorf("Secrets() = %v, want the %d Secrets of the stream", w.Secrets(), want)
	}
}

// TestWireTwice checks that the wired output, run through again, is left alone: it holds
// no wiring object any more.
func TestWireTwice(t *testing.T) {
	res, _, err := render(t, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	again, w, err := render(t, string(res.Output))
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if diff := cmp.Diff(string(res.Output), string(again.Output)); diff != "" {
		t.Errorf("second pass changed the stream (-once +twice):\n%s", diff)
	}
	if len(w.Wired()) != 0 {
		t.Errorf("second pass wired %v, want nothing", w.Wired())
	}
}

// TestNoWiringObject checks that without the wiring object the client chart's objects pass
// as the transform alone writes them: with nothing else to edit, byte for byte.
func TestNoWiringObject(t *testing.T) {
	input := fixture(t)
	input = input[:strings.Index(input, "---\n# Source: edge/templates/wiring.yaml")]
	w := New()
	res, err := transform.Stream(strings.NewReader(input), transform.Options{Namespace: "tracebloc", Holder: w})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(input, string(res.Output)); diff != "" {
		t.Errorf("with the wiring and no wiring object (-input +output):\n%s", diff)
	}
	if len(w.Wired()) != 0 {
		t.Errorf("Wired() = %v, want nothing", w.Wired())
	}
}
