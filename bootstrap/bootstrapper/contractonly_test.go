package bootstrapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

// TestContractOnlyBackend runs every path of the bootstrap against a backend with only the
// pinned contract (no password reset, no namespace_conflict, no Retry-After, no approval
// context): each one works, or stops with one line that says what the backend cannot do
// and what to do instead.
func TestContractOnlyBackend(t *testing.T) {
	contractOnly := devbackend.Config{ContractOnly: true}
	t.Run("fresh mint, with the approval context ignored", func(t *testing.T) {
		e := newEnv(t, contractOnly)
		r := e.newRun("edge-1")
		r.cfg.ChartVersion = "0.4.0"
		out, err := e.start(e.ctx(), r)
		if err != nil || out.Enrollment != credential.Minted {
			t.Fatalf("Run() = %+v, %v, want minted\n%s", out, err, r.out.String())
		}
		e.verify()
		e.assertUserTokensRevoked()
	})
	t.Run("re-run takes the fast path", func(t *testing.T) {
		e := newEnv(t, contractOnly)
		if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
			t.Fatal(err)
		}
		before := len(e.backend.Requests())
		out, err := e.start(e.ctx(), e.newRun("edge-2"))
		if err != nil || !out.FastPath || len(e.backend.Requests()) != before {
			t.Fatalf("Run() = %+v, %v, want the fast path without a backend call", out, err)
		}
	})
	t.Run("adopt of a working credential", func(t *testing.T) {
		e := newEnv(t, contractOnly)
		if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
			t.Fatal(err)
		}
		s := e.secret()
		delete(s.Annotations, credential.AnnClusterID)
		if _, err := e.cluster.Client.CoreV1().Secrets(e.ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, err := e.start(e.ctx(), e.newRun("edge-2"))
		if err != nil || out.Enrollment != credential.Adopted {
			t.Fatalf("Run() = %+v, %v, want adopted", out, err)
		}
		e.verify()
	})
	t.Run("lost credential", func(t *testing.T) {
		e := newEnv(t, contractOnly)
		if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
			t.Fatal(err)
		}
		name := e.clients()[0].FirstName
		if err := e.cluster.Client.CoreV1().Secrets(e.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := e.start(e.ctx(), e.newRun("edge-2"))
		msg := fmt.Sprint(err)
		if exitCodeOf(err) != exitConflict || strings.Contains(msg, "\n") {
			t.Fatalf("Run() = %q (exit %d), want one line and exit %d", msg, exitCodeOf(err), exitConflict)
		}
		for _, want := range []string{"cannot reset a client's credential", "tracebloc client delete " + name, "a revoked client keeps this cluster's id"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Run() = %q, want it to say %q", msg, want)
			}
		}
		// The person does what the line says (deletes the client in the dashboard): the
		// pod's next start enrolls by itself, with a new client.
		if err := e.backend.DeleteClient(e.clients()[0].ID); err != nil {
			t.Fatal(err)
		}
		out, err := e.start(e.ctx(), e.newRun("edge-3"))
		if err != nil || out.Enrollment != credential.Minted {
			t.Fatalf("Run() after the delete = %+v, %v, want minted", out, err)
		}
		if n := len(e.clients()); n != 1 {
			t.Errorf("clients after the delete and the new enrollment = %d, want 1", n)
		}
		e.verify()
		e.assertUserTokensRevoked()
	})
	t.Run("migration", func(t *testing.T) {
		assertLegacySecretIsMigrated(t, contractOnly)
	})
	t.Run("namespace taken", func(t *testing.T) {
		assertNamespaceTakenSuggestsAFreeOne(t, contractOnly)
	})
}

// TestApprovalContextIsSent: the code request carries what the approval page shows about
// this install: the cluster, the namespace, the client name and both versions.
func TestApprovalContextIsSent(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	e := newEnvWrapped(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/device/code" {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				mu.Unlock()
				r.Body = io.NopCloser(strings.NewReader(string(b)))
			}
			next.ServeHTTP(w, r)
		})
	})
	r := e.newRun("edge-1")
	r.cfg.ClientName, r.cfg.ChartVersion = "lab-cluster", "0.4.0"
	if _, err := e.start(e.ctx(), r); err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("code requests = %d, want 1", len(bodies))
	}
	var got api.DeviceContext
	if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil {
		t.Fatalf("the code request's body %q is not a device context: %v", bodies[0], err)
	}
	if !regexp.MustCompile(`^v1\.[0-9]+\.[0-9]+`).MatchString(got.KubernetesVersion) {
		t.Errorf("kubernetes_version = %q, want the API server's, e.g. v1.34.2", got.KubernetesVersion)
	}
	want := api.DeviceContext{ClusterID: e.uid, Namespace: e.ns, ClientName: "lab-cluster", KubernetesVersion: got.KubernetesVersion, ChartVersion: "0.4.0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("device context (-want +got):\n%s", diff)
	}
}
