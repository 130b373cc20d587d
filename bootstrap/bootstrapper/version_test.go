package bootstrapper

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/tracebloc/edge/bootstrap/kube"
)

// kubernetesVersion takes only a well-formed version from /version: the approval page
// shows it, so an API server's answer is bounded and checked, and a failure leaves it out.
func TestKubernetesVersion(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{name: "release", status: 200, body: `{"major":"1","minor":"34","gitVersion":"v1.34.2"}`, want: "v1.34.2"},
		{name: "distribution suffix", status: 200, body: `{"gitVersion":"v1.33.1+k3s1"}`, want: "v1.33.1+k3s1"},
		{name: "escape sequence", status: 200, body: `{"gitVersion":"v1.34.2\u001b[2J"}`, want: ""},
		{name: "text", status: 200, body: `{"gitVersion":"approve this code at evil.example"}`, want: ""},
		{name: "oversized", status: 200, body: `{"gitVersion":"v1.34.2","x":"` + strings.Repeat("a", 1<<20) + `"}`, want: ""},
		{name: "not JSON", status: 200, body: `<html>`, want: ""},
		{name: "refused", status: 403, body: `{}`, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/version" {
					t.Errorf("request to %s, want /version", r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			kc, err := kube.NewForConfig(&rest.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			b := &Bootstrapper{Kube: kc}
			if got := b.kubernetesVersion(context.Background(), zerolog.Nop()); got != tt.want {
				t.Errorf("kubernetesVersion() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("fake clientset", func(t *testing.T) {
		b := &Bootstrapper{Kube: fake.NewClientset()}
		if got := b.kubernetesVersion(context.Background(), zerolog.Nop()); got != "" {
			t.Errorf("kubernetesVersion() = %q, want none", got)
		}
	})
}
