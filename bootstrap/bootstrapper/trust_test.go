package bootstrapper_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/names"
)

// TestTrustBundle: with TRACEBLOC_TRUST_FILE, every start writes the CA bundle of the
// client's containers (the roots, then the extra CA) and the node-agents copy carries it;
// an extra CA that holds no certificate stops the run at once with the configuration
// exit code, before any sign-in.
func TestTrustBundle(t *testing.T) {
	c := newCopyEnv(t)
	dir := t.TempDir()
	srv := httptest.NewTLSServer(nil)
	t.Cleanup(srv.Close)
	extra := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	roots := []byte("# the image's roots\n")
	writeFile(t, filepath.Join(dir, "roots.crt"), roots)
	writeFile(t, filepath.Join(dir, "extra.crt"), extra)
	trustFile := filepath.Join(dir, "trust", names.TrustBundleKey)
	if err := os.Mkdir(filepath.Dir(trustFile), 0o755); err != nil {
		t.Fatal(err)
	}
	runWith := func(pod string) *run {
		r := c.newRun(pod)
		r.cfg.CAFile, r.cfg.SystemCAFile, r.cfg.TrustFile = filepath.Join(dir, "extra.crt"), filepath.Join(dir, "roots.crt"), trustFile
		return r
	}
	for i, pod := range []string{"edge-1", "edge-2"} { // a fresh enrollment, then the fast path
		if err := os.Remove(trustFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		r := runWith(pod)
		if _, err := c.start(c.ctx(), r); err != nil {
			t.Fatalf("start %d: %v\n%s", i+1, err, r.out.String())
		}
		got, err := os.ReadFile(trustFile)
		if err != nil || !bytes.HasPrefix(got, roots) || !bytes.Contains(got, extra) {
			t.Fatalf("start %d: the trust file = %q, %v; want the roots, then the extra CA", i+1, got, err)
		}
		if cp := c.copySecret(); cp == nil || !bytes.Equal(cp.Data[names.TrustBundleKey], got) {
			t.Errorf("start %d: the node-agents copy does not carry the bundle", i+1)
		}
	}

	writeFile(t, filepath.Join(dir, "extra.crt"), []byte("not a certificate"))
	r := runWith("edge-3")
	_, err := c.start(c.ctx(), r)
	var st *enroll.Error
	if !errors.As(err, &st) || st.Kind != enroll.Config || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("start with a broken extra CA = %v, want a configuration stop naming it", err)
	}
	if strings.Contains(r.out.String(), "not a certificate") {
		t.Error("the log echoes the CA file's content")
	}
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
