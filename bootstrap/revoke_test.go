package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

const revokePassword = "the-machine-password-0123456789"

// revokeWorld is a development backend with one client of this cluster and its complete
// credential Secret (on the fake clientset: the hook's logic, not Kubernetes, is tested).
func revokeWorld(t *testing.T, cfg devbackend.Config) (*api.Client, *fake.Clientset, *config.Config, api.EdgeDevice) {
	t.Helper()
	srv, err := devbackend.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, _ := api.New(hs.URL)
	ctx := context.Background()
	code, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Approve(code.UserCode, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, code.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := c.WithToken(tok.Token).CreateEdgeDevice(ctx, api.CreateRequest{FirstName: "edge-01", Namespace: "edge", Password: revokePassword, ClusterID: "uid-1"})
	if err != nil {
		t.Fatal(err)
	}
	kc := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials", Namespace: "edge", Labels: map[string]string{credential.LabelCredential: "true"},
			Annotations: map[string]string{credential.AnnEnrollment: credential.Minted, credential.AnnClusterID: "uid-1",
				credential.AnnClientID: fmt.Sprint(dev.ID), credential.AnnClientName: dev.FirstName}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{credential.KeyClientID: []byte(dev.Username), credential.KeyClientPassword: []byte(revokePassword)},
	})
	return c, kc, &config.Config{Namespace: "edge", CredentialSecret: "edge-credentials"}, *dev
}

func enrollmentOf(t *testing.T, kc *fake.Clientset) string {
	t.Helper()
	s, err := kc.CoreV1().Secrets("edge").Get(context.Background(), "edge-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Annotations[credential.AnnEnrollment]
}

// The offboarding hook revokes the client and marks the Secret, so that a later start
// enrolls again without asking; a credential refused already is marked too.
func TestRevokeMarksTheSecret(t *testing.T) {
	for _, already := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused already %v", already), func(t *testing.T) {
			c, kc, cfg, dev := revokeWorld(t, devbackend.Config{})
			ctx := context.Background()
			if already {
				m, err := c.MachineLogin(ctx, dev.Username, revokePassword)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.RevokeEdgeDevice(ctx, dev.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := revoke(ctx, cfg, kc, c, zerolog.Nop()); err != nil {
				t.Fatalf("revoke() = %v", err)
			}
			if got := enrollmentOf(t, kc); got != credential.Revoked {
				t.Errorf("enrollment after revoke = %q, want %q", got, credential.Revoked)
			}
			if err := c.VerifyCredential(ctx, dev.Username, revokePassword); err == nil {
				t.Errorf("the backend still accepts the revoked credential")
			}
		})
	}
}

// A backend that does not let a client revoke itself: the hook stops with one line that
// says what to do instead, and the Secret is not marked.
func TestRevokeWithoutSelfRevokeSaysWhatToDo(t *testing.T) {
	c, kc, cfg, _ := revokeWorld(t, devbackend.Config{ContractOnly: true})
	err := revoke(context.Background(), cfg, kc, c, zerolog.Nop())
	var stderr bytes.Buffer
	code := exitCode(err, &stderr)
	line := stderr.String()
	if code != 1 || strings.Count(line, "\n") != 1 {
		t.Fatalf("revoke() exit %d, stderr %q, want exit 1 and one line", code, line)
	}
	for _, want := range []string{"does not let a client revoke itself", "tracebloc client delete edge-01"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr = %q, want it to say %q", line, want)
		}
	}
	if strings.Contains(line, "the pod restarts") {
		t.Errorf("stderr = %q: a hook's stop does not restart a pod", line)
	}
	if got := enrollmentOf(t, kc); got != credential.Minted {
		t.Errorf("enrollment = %q, want %q (not revoked)", got, credential.Minted)
	}
}

// check (the chart's helm test) passes for the bootstrap's finished credential and for an
// operator's, and names the Secret otherwise.
func TestCheck(t *testing.T) {
	cred := map[string][]byte{credential.KeyClientID: []byte("u-1"), credential.KeyClientPassword: []byte(revokePassword)}
	tests := []struct {
		name    string
		sec     *corev1.Secret
		wantOut string
		wantErr string
	}{
		{name: "the bootstrap's", sec: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{credential.LabelCredential: "true"},
			Annotations: map[string]string{credential.AnnEnrollment: credential.Minted}}, Data: cred}, wantOut: "ok: "},
		{name: "an operator's", sec: &corev1.Secret{Data: cred}, wantOut: "an operator's"},
		{name: "pending", sec: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{credential.LabelCredential: "true"},
			Annotations: map[string]string{credential.AnnEnrollment: credential.Pending}}, Data: cred}, wantErr: "does not hold a complete"},
		{name: "another type", sec: &corev1.Secret{Type: corev1.SecretTypeTLS, Data: cred}, wantErr: "not Opaque"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sec.Name, tt.sec.Namespace = "edge-credentials", "edge"
			var out bytes.Buffer
			err := check(context.Background(), &config.Config{Namespace: "edge", CredentialSecret: "edge-credentials"}, fake.NewClientset(tt.sec), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "edge/edge-credentials") {
					t.Errorf("check() = %v, want an error naming edge/edge-credentials and saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), tt.wantOut) || strings.Contains(out.String(), revokePassword) {
				t.Errorf("check() = %v, printed %q, want it to say %q (and never the password)", err, out.String(), tt.wantOut)
			}
		})
	}
}
