package bootstrapper_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/devbackend"
)

// TestWorkingCredentialWithoutAnnotationIsKept: a Secret whose credential still works but
// whose annotations were lost (edited by hand, restored from a backup) is not replaced: the
// run signs in, finds the client, verifies the password and keeps it.
func TestWorkingCredentialWithoutAnnotationIsKept(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	s := e.secret()
	password := string(s.Data["CLIENT_PASSWORD"])
	delete(s.Annotations, credential.AnnClusterID)
	if _, err := e.cluster.Client.CoreV1().Secrets(e.ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := e.start(e.ctx(), e.newRun("edge-2"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Enrollment != credential.Adopted {
		t.Errorf("enrollment = %q, want %q", out.Enrollment, credential.Adopted)
	}
	if got := e.secret(); string(got.Data["CLIENT_PASSWORD"]) != password || got.Annotations[credential.AnnClusterID] != e.uid {
		t.Errorf("the working credential was replaced, or the cluster annotation not restored")
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	e.verify()
}
