package trust_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebloc/edge/bootstrap/trust"
)

// caPEM is a real certificate: the one of an httptest TLS server.
func caPEM(t *testing.T) []byte {
	t.Helper()
	srv := httptest.NewTLSServer(nil)
	t.Cleanup(srv.Close)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBundleIsTheRootsThenTheExtraCA(t *testing.T) {
	extra := caPEM(t)
	roots := caPEM(t) // stands in for the image's roots: any valid PEM
	got, err := trust.Bundle(write(t, "roots.crt", roots), write(t, "extra.crt", append([]byte("comment before\n"), extra...)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, roots) {
		t.Errorf("the bundle does not start with the image's roots")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Fatal("the bundle holds no certificate")
	}
	if !bytes.Contains(got, extra) {
		t.Errorf("the bundle lacks the extra CA")
	}
	if strings.Contains(string(got), "comment before") {
		t.Errorf("text around the extra CA's PEM blocks went into the bundle")
	}
}

func TestBundleWithoutImageRoots(t *testing.T) {
	extra := caPEM(t)
	got, err := trust.Bundle(filepath.Join(t.TempDir(), "none"), write(t, "extra.crt", extra))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, extra) {
		t.Errorf("the bundle lacks the extra CA")
	}
}

func TestBundleRejects(t *testing.T) {
	roots := write(t, "roots.crt", caPEM(t))
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	for _, tc := range []struct {
		name  string
		extra []byte
		want  string
	}{
		{"empty", nil, "holds no PEM certificate"},
		{"not PEM", []byte("hello"), "holds no PEM certificate"},
		{"a key", append(caPEM(t), key...), `PEM block 2 is a "PRIVATE KEY", not a CERTIFICATE`},
		{"broken certificate", broken, "PEM block 1 is not a valid certificate"},
		{"too large", bytes.Repeat([]byte("a"), trust.MaxExtra+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trust.Bundle(roots, write(t, "extra.crt", tc.extra))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hello") || strings.Contains(err.Error(), "aaaa") {
				t.Errorf("the message echoes the file: %v", err)
			}
		})
	}
	if _, err := trust.Bundle(roots, filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "mount the ConfigMap or Secret of backend.caBundle") {
		t.Errorf("missing extra CA: err = %v", err)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ca-certificates.crt")
	for _, content := range []string{"first", "second"} {
		if err := trust.Write(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644 (the client's containers run as other users)", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left %d files, want 1 (no temporary files)", len(entries))
	}
	if err := trust.Write(filepath.Join(dir, "missing", "x.crt"), []byte("x")); err == nil || !strings.Contains(err.Error(), "the chart mounts a writable volume there") {
		t.Errorf("write into a missing folder: err = %v", err)
	}
}
