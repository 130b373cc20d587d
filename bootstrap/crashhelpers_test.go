package main

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
)

// userCodeRE finds a user code (RFC 8628 alphabet, XXXX-XXXX) in the bootstrap's output.
var userCodeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// buildCrashBinary builds the bootstrap with -tags crashtest (TRACEBLOC_TEST_CRASH_AT ends
// it at a named step; without that variable it runs like the real binary).
func buildCrashBinary(t testing.TB) string {
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

// crashWorld is one crash run's world: a fresh namespace of c, a development backend, and
// the bootstrap's environment pointing at both (TRACEBLOC_TEST_CRASH_AT is the caller's).
func crashWorld(t testing.TB, c *cluster.Cluster) (srv *devbackend.Server, url, ns string, env []string) {
	t.Helper()
	ns = clustertest.Namespace(t, c)
	srv, err := devbackend.New(devbackend.Config{DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	env = append(os.Environ(),
		"KUBECONFIG="+c.Kubeconfig, "TRACEBLOC_API_URL="+hs.URL, "TRACEBLOC_NAMESPACE="+ns,
		"TRACEBLOC_POD_NAME=edge-1", "TRACEBLOC_CREDENTIAL_SECRET=edge-credentials",
		"TRACEBLOC_LOG_FORMAT=json", "TRACEBLOC_LEASE_DURATION=3s")
	return srv, hs.URL, ns, env
}
