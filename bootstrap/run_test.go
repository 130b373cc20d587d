package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/api"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"configuration", fmt.Errorf("%w: TRACEBLOC_ENV: bad", config.ErrInvalid), 2},
		{"denied", fmt.Errorf("sign in: %w", deviceflow.ErrDenied), 3},
		{"conflict", &enroll.Error{Kind: enroll.Conflict, Msg: "taken: do this"}, 4},
		{"forbidden", &enroll.Error{Kind: enroll.Forbidden, Msg: "no: ask"}, 5},
		{"upgrade", fmt.Errorf("x: %w", &api.UpgradeRequiredError{MinVersion: "1.0.0"}), 6},
		{"mismatch", &enroll.Error{Kind: enroll.ClusterMismatch, Msg: "other cluster: render again"}, 7},
		{"anything else", errors.New("boom"), 1},
		{"stopped", context.Canceled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(tt.err, &stderr); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if tt.err != nil && (len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ")) {
				t.Errorf("stderr = %q, want one line starting with error:", stderr.String())
			}
		})
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"no secret name", "TRACEBLOC_CREDENTIAL_SECRET", "", "TRACEBLOC_CREDENTIAL_SECRET"},
		{"bad env", "TRACEBLOC_ENV", "production", "TRACEBLOC_ENV"},
		{"bad duration", "TRACEBLOC_RESET_WINDOW", "ten minutes", "TRACEBLOC_RESET_WINDOW"},
		{"bad bool", "TRACEBLOC_QR", "maybe", "TRACEBLOC_QR"},
		{"bad url", "TRACEBLOC_API_URL", "ftp://x", "TRACEBLOC_API_URL"},
		{"bad namespace", "TRACEBLOC_NAMESPACE", "Not_A_Namespace", "TRACEBLOC_NAMESPACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials")
			t.Setenv("TRACEBLOC_NAMESPACE", "edge")
			t.Setenv(tt.key, tt.value)
			err := run(context.Background(), nil, &bytes.Buffer{}, &bytes.Buffer{})
			var stderr bytes.Buffer
			if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run() = %v (exit %d), want exit 2 naming %s", err, code, tt.want)
			}
		})
	}
}

// An API server that accepts the connection and never answers fails the request after
// kubeRequestTimeout, instead of hanging the run.
func TestKubeRequestsHaveATimeout(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\ncurrent-context: c\n" +
		"clusters: [{name: c, cluster: {server: " + hang.URL + "}}]\n" +
		"contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	defer func(d time.Duration) { kubeRequestTimeout = d }(kubeRequestTimeout)
	kubeRequestTimeout = 300 * time.Millisecond
	client, err := kubeClient()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !kube.Transient(err) {
			t.Errorf("Get() = %v, want a timeout that the Secret store tries again", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request to an API server that never answers did not end within 10s")
	}
}
