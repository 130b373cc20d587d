package bootstrapper_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

// TestLegacyCopyIsMigrated is the in-place upgrade of a tracebloc/client release: the hook
// copies the release's credential (credential.LegacyCopy), Helm's upgrade then strips
// CLIENT_ID and CLIENT_PASSWORD from the release's Secret, and the bootstrap, given the
// copy as its legacy Secret, takes the old client over with its password. The copy stays:
// the bootstrap's Role may only get it.
func TestLegacyCopyIsMigrated(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	ctx := context.Background()
	const password = "legacy-password-0123456789"
	old, _, err := e.userClient("dev@example.com").CreateEdgeDevice(ctx, api.CreateRequest{FirstName: "old-install", Namespace: e.ns, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	secrets := e.cluster.Client.CoreV1().Secrets(e.ns)
	src, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "old-secrets"}, Data: map[string][]byte{
		credential.KeyClientID: []byte(old.Username), credential.KeyClientPassword: []byte(password), "OTHER": []byte("kept"),
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hook := &credential.LegacyCopy{Store: &credential.Store{Client: e.cluster.Client, Namespace: e.ns, Name: secretName},
		Source: "old-secrets", Name: "old-legacy-credentials"}
	if got, err := hook.Run(ctx); got != credential.Copied || err != nil {
		t.Fatalf("LegacyCopy.Run() = %v, %v; want Copied", got, err)
	}
	delete(src.Data, credential.KeyClientID) // what the upgrade does to the live Secret
	delete(src.Data, credential.KeyClientPassword)
	if _, err := secrets.Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-1")
	r.cfg.LegacySecret = "old-legacy-credentials"
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if out.Enrollment != credential.Migrated {
		t.Errorf("enrollment = %q, want migrated", out.Enrollment)
	}
	if s := e.secret(); string(s.Data[credential.KeyClientID]) != old.Username || string(s.Data[credential.KeyClientPassword]) != password {
		t.Errorf("the credential Secret does not hold the old release's credential")
	}
	if clients := e.clients(); len(clients) != 1 || clients[0].ID != old.ID {
		t.Errorf("clients = %+v, want the old release's only", clients)
	}
	if got, err := hook.Run(ctx); got != credential.AlreadyEnrolled || err != nil {
		t.Errorf("LegacyCopy.Run() after the enrollment = %v, %v; want AlreadyEnrolled", got, err)
	}
}
