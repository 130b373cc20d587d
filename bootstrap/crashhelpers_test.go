package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// userCodeRE finds a user code (RFC 8628 alphabet, XXXX-XXXX) in the bootstrap's output.
var userCodeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// buildCrashBinary builds the bootstrap with -tags crashtest (TRACEBLOC_TEST_CRASH_AT ends
// it at a named step; without that variable it runs like the real binary).
func buildCrashBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tracebloc-bootstrap")
	build := exec.Command("go", "build", "-tags", "crashtest", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
