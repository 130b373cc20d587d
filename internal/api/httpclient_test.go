package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func userinfoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/userinfo/" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"email":"a@example.test","account":"acct"}`)
	})
}

func writeCA(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLSCABundle: a backend with a private CA is refused until its CA is in the bundle.
func TestTLSCABundle(t *testing.T) {
	srv := httptest.NewUnstartedServer(userinfoHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	t.Run("refused without the CA file", func(t *testing.T) {
		hc, err := NewHTTPClient("", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(srv.URL, WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UserInfo(context.Background())
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("UserInfo() = %v, want a certificate verification error", err)
		}
		if !strings.Contains(err.Error(), "CA bundle") {
			t.Errorf("error %q does not point to the CA bundle", err)
		}
	})
	t.Run("accepted with the CA file", func(t *testing.T) {
		hc, err := NewHTTPClient(writeCA(t, srv.Certificate()), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(srv.URL, WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.UserInfo(context.Background())
		if err != nil {
			t.Fatalf("UserInfo() = %v", err)
		}
		if got.Email != "a@example.test" {
			t.Errorf("UserInfo().Email = %q, want a@example.test", got.Email)
		}
	})
}

// TestTLSOldVersionRefused: TLS below 1.2 is refused even with a trusted certificate.
func TestTLSOldVersionRefused(t *testing.T) {
	srv := httptest.NewUnstartedServer(userinfoHandler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	hc, err := NewHTTPClient(writeCA(t, srv.Certificate()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL, WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserInfo(context.Background()); err == nil {
		t.Errorf("UserInfo() over TLS 1.1 = nil error, want refused")
	}
}

func TestNewHTTPClientBadCAFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, file string }{
		{"missing", filepath.Join(dir, "missing.pem")},
		{"no certificate", garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := NewHTTPClient(tt.file, 0)
			if err == nil || hc != nil {
				t.Fatalf("NewHTTPClient(%q) = %v, %v; want an error", tt.file, hc, err)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %q does not name the file %s", err, tt.file)
			}
		})
	}
}

// TestNewHTTPClientSettings pins what cannot be seen from a single exchange.
func TestNewHTTPClientSettings(t *testing.T) {
	hc, err := NewHTTPClient("", 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport)
	got := struct {
		Timeout    time.Duration
		MinVersion uint16
		Insecure   bool
		HasProxy   bool
	}{hc.Timeout, tr.TLSClientConfig.MinVersion, tr.TLSClientConfig.InsecureSkipVerify, tr.Proxy != nil}
	want := got
	want.Timeout, want.MinVersion, want.Insecure, want.HasProxy = DefaultTimeout, tls.VersionTLS12, false, true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewHTTPClient settings (-want +got):\n%s", diff)
	}
}

// TestProxyFromEnvironment runs the client in a child process (http.ProxyFromEnvironment
// reads the environment once per process) with HTTP_PROXY pointing at a loopback proxy.
// The backend's name, backend.test, is never resolved: the child's dialer refuses every
// address that is not loopback, so a request that bypassed the proxy fails instead of
// leaving the machine. The proxy forwards to the real backend on 127.0.0.1.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("TRACEBLOC_API_PROXY_CHILD") == "1" {
		proxyChild(t)
		return
	}
	backend := httptest.NewServer(userinfoHandler())
	t.Cleanup(backend.Close)
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s auth=%q", r.Method, r.URL, r.Header.Get("Authorization")))
		mu.Unlock()
		if r.URL.Host != "backend.test" {
			http.Error(w, "unexpected host", http.StatusBadGateway)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, backend.URL+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := backend.Client().Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)

	tests := []struct {
		name     string
		noProxy  string
		wantOK   bool
		wantSeen []string
	}{
		{"through HTTP_PROXY", "", true, []string{`GET http://backend.test/userinfo/ auth="Bearer tok"`}},
		{"NO_PROXY bypasses it", "backend.test", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1", "-test.v")
			for _, kv := range os.Environ() {
				name, _, _ := strings.Cut(kv, "=")
				switch strings.ToUpper(name) {
				case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD":
					continue
				}
				cmd.Env = append(cmd.Env, kv)
			}
			cmd.Env = append(cmd.Env, "TRACEBLOC_API_PROXY_CHILD=1", "HTTP_PROXY="+proxy.URL, "NO_PROXY="+tt.noProxy)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tt.wantOK {
				t.Fatalf("child: err = %v, want success %v; output:\n%s", err, tt.wantOK, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantSeen, seen); diff != "" {
				t.Errorf("requests the proxy saw (-want +got):\n%s", diff)
			}
		})
	}
}

// proxyChild is the child's side of TestProxyFromEnvironment.
func proxyChild(t *testing.T) {
	hc, err := NewHTTPClient("", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test refuses to dial %s: only loopback", addr)
		}
		return dial(ctx, network, addr)
	}
	c, err := New("http://backend.test", WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.WithToken("tok").UserInfo(context.Background())
	if err != nil {
		t.Fatalf("UserInfo() = %v", err)
	}
	if got.Email != "a@example.test" {
		t.Fatalf("UserInfo().Email = %q", got.Email)
	}
}
