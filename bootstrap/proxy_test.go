package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/kube"
)

// apiServerHost is the API server's name in the kubeconfig of TestKubeCallsBypassTheProxy:
// Go never proxies a loopback address, so the test needs a name (.invalid never resolves;
// the child's dialer maps it to the test server).
const apiServerHost = "kubernetes.proxytest.invalid"

// TestKubeCallsBypassTheProxy: with HTTPS_PROXY set (for the backend), the Kubernetes
// client still talks to the API server directly. net/http reads the proxy variables once
// per process, so the client runs in a child process that starts with them set.
func TestKubeCallsBypassTheProxy(t *testing.T) {
	if addr := os.Getenv("TRACEBLOC_TEST_PROXY_CHILD"); addr != "" {
		proxyChild(t, addr)
		return
	}
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		http.Error(w, "this proxy refuses everything", http.StatusBadGateway)
	}))
	defer proxy.Close()
	var served atomic.Int64
	apiServer := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"uid-1"}}`))
	}))
	defer apiServer.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\ncurrent-context: c\n" +
		"clusters: [{name: c, cluster: {server: 'https://" + apiServerHost + "', insecure-skip-tls-verify: true}}]\n" +
		"contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKubeCallsBypassTheProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TRACEBLOC_TEST_PROXY_CHILD="+apiServer.Listener.Addr().String(),
		"KUBECONFIG="+kubeconfig, "KUBERNETES_SERVICE_HOST=", "NO_PROXY=", "no_proxy=",
		"HTTPS_PROXY="+proxy.URL, "https_proxy="+proxy.URL, "HTTP_PROXY="+proxy.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("the Kubernetes call with HTTPS_PROXY set failed: %v\n%s", err, out)
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("the proxy received %d Kubernetes requests, want 0", n)
	}
	if served.Load() == 0 {
		t.Errorf("the API server received no request: the test did not test")
	}
}

// proxyChild reads kube-system through kubeConfig, dialling apiServerHost at addr.
func proxyChild(t *testing.T, addr string) {
	rc, err := kubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	rc.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(address); host == apiServerHost {
			address = addr
		} else if !strings.HasPrefix(address, "127.0.0.1:") {
			return nil, fmt.Errorf("dial %s: the test allows loopback only", address)
		}
		return d.DialContext(ctx, network, address)
	}
	kc, err := kube.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("read kube-system: %v", err)
	}
}
