package bootstrapper_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
)

// revokeClient revokes the Secret's client with its own credential, as the offboarding
// hook does.
func (e *env) revokeClient() {
	e.t.Helper()
	s := e.secret()
	c, _ := api.New(e.url)
	ctx := context.Background()
	m, err := c.MachineLogin(ctx, string(s.Data[credential.KeyClientID]), string(s.Data[credential.KeyClientPassword]))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := m.RevokeEdgeDevice(ctx, e.clients()[0].ID); err != nil {
		e.t.Fatal(err)
	}
}

// A credential the backend rejects is replaced by a new enrollment with a new approval,
// whether the run finds out by asking (TRACEBLOC_VERIFY_CREDENTIAL) or from the revoked
// mark of the offboarding hook.
func TestRejectedCredentialIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		verify bool
		mark   bool
	}{
		{name: "found by verifying", verify: true},
		{name: "marked revoked", mark: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, devbackend.Config{})
			if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
				t.Fatal(err)
			}
			e.revokeClient()
			if tc.mark {
				store := &credential.Store{Client: e.kube, Namespace: e.ns, Name: secretName}
				if err := store.MarkRevoked(context.Background(), string(e.secret().Data[credential.KeyClientID])); err != nil {
					t.Fatal(err)
				}
			}
			r := e.newRun("edge-2")
			r.cfg.VerifyCredential = tc.verify
			out, err := e.start(e.ctx(), r)
			if err != nil {
				t.Fatalf("Run() = %v\n%s", err, r.out.String())
			}
			if out.FastPath || out.Enrollment != credential.Reset || len(r.codes) != 1 {
				t.Errorf("Run() = %+v showing codes %v, want a new approval and the client's credential reset", out, r.codes)
			}
			if n := len(e.clients()); n != 1 {
				t.Errorf("clients = %d, want 1", n)
			}
			e.verify()
		})
	}
}

// A working credential whose Secret lost its annotations survives a backend that cannot
// confirm it: the run stops, and the restart keeps it.
func TestWorkingCredentialSurvivesAFailedCheck(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	s := e.secret()
	password := string(s.Data[credential.KeyClientPassword])
	s.Annotations = nil
	if _, err := e.cluster.Client.CoreV1().Secrets(e.ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.fault("/api-token-auth/", 503, 1, 0)
	r := e.newRun("edge-2")
	if _, err := e.start(e.ctx(), r); err == nil || !strings.Contains(err.Error(), "it is kept") {
		t.Fatalf("Run() = %v, want a stop saying the credential is kept\n%s", err, r.out.String())
	}
	if got := e.secret(); string(got.Data[credential.KeyClientPassword]) != password || len(got.Data[credential.KeyClientID]) == 0 {
		t.Fatalf("the working credential was replaced after a 503")
	}
	out, err := e.start(e.ctx(), e.newRun("edge-3"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Enrollment != credential.Adopted || string(e.secret().Data[credential.KeyClientPassword]) != password {
		t.Errorf("the restart enrolled %q, want the working credential adopted", out.Enrollment)
	}
	e.verify()
}

// A second install of the same account in namespace B does not reset the client of the
// idle install in namespace A.
func TestSecondNamespaceDoesNotTakeOverTheClient(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-a")); err != nil {
		t.Fatal(err)
	}
	nsA, secretA := e.ns, e.secret()
	e.ns = clustertest.Namespace(t, e.cluster)
	_, err := e.start(e.ctx(), e.newRun("edge-b"))
	if exitCodeOf(err) != exitConflict || !strings.Contains(fmt.Sprint(err), "namespace "+nsA) || !strings.Contains(fmt.Sprint(err), "namespace "+e.ns) {
		t.Fatalf("Run() = %v (exit %d), want exit %d naming namespaces %s and %s", err, exitCodeOf(err), exitConflict, nsA, e.ns)
	}
	c, _ := api.New(e.url)
	if err := c.VerifyCredential(context.Background(), string(secretA.Data[credential.KeyClientID]), string(secretA.Data[credential.KeyClientPassword])); err != nil {
		t.Errorf("namespace %s's install is locked out: %v", nsA, err)
	}
	e.assertUserTokensRevoked()
}

// A Secret of the credential Secret's name that the bootstrap did not make is never
// written: another type or someone else's Secret stops the run (exit 2) before any code is
// shown; an operator's credential is used as it is once the backend accepts it.
func TestSecretsOfOthersAreLeftAlone(t *testing.T) {
	tests := []struct {
		name     string
		typ      corev1.SecretType
		data     map[string]string // "$id" and "$password" stand for a working credential
		wantErr  string            // "" = the run ends well
		wantCode int
	}{
		{name: "another type", typ: corev1.SecretTypeDockerConfigJson, data: map[string]string{".dockerconfigjson": "{}"},
			wantErr: "is of type kubernetes.io/dockerconfigjson, not Opaque", wantCode: exitConfig},
		{name: "someone else's Opaque", typ: corev1.SecretTypeOpaque, data: map[string]string{"token": "x"},
			wantErr: "kubectl delete secret -n", wantCode: exitConfig},
		{name: "an operator's refused credential", typ: corev1.SecretTypeOpaque, data: map[string]string{"CLIENT_ID": "$id", "CLIENT_PASSWORD": "wrong-password-0123456789"},
			wantErr: "kubectl label secret -n", wantCode: exitConfig},
		{name: "an operator's working credential", typ: corev1.SecretTypeOpaque, data: map[string]string{"CLIENT_ID": "$id", "CLIENT_PASSWORD": "$password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, devbackend.Config{})
			const password = "an-operators-password-0123456789"
			dev, _, err := e.userClient("dev@example.com").CreateEdgeDevice(context.Background(), api.CreateRequest{
				FirstName: "by-hand", Namespace: e.ns, Password: password, ClusterID: e.uid,
			})
			if err != nil {
				t.Fatal(err)
			}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName}, Type: tt.typ, Data: map[string][]byte{}}
			for k, v := range tt.data {
				sec.Data[k] = []byte(strings.NewReplacer("$id", dev.Username, "$password", password).Replace(v))
			}
			before, err := e.cluster.Client.CoreV1().Secrets(e.ns).Create(context.Background(), sec, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := e.newRun("edge-1")
			out, err := e.start(e.ctx(), r)
			switch {
			case tt.wantErr == "" && (err != nil || !out.FastPath):
				t.Fatalf("Run() = %+v, %v, want the operator's credential used as it is\n%s", out, err, r.out.String())
			case tt.wantErr != "" && (exitCodeOf(err) != tt.wantCode || !strings.Contains(fmt.Sprint(err), tt.wantErr) || !strings.Contains(fmt.Sprint(err), secretName)):
				t.Fatalf("Run() = %v (exit %d), want exit %d naming the Secret and saying %q", err, exitCodeOf(err), tt.wantCode, tt.wantErr)
			}
			if after := e.secret(); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the Secret was written: resourceVersion %s, was %s", after.ResourceVersion, before.ResourceVersion)
			}
			if len(r.codes) != 0 {
				t.Errorf("a code was shown: %v", r.codes)
			}
		})
	}
}
