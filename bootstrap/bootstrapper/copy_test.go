package bootstrapper_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/names"
)

const release = "edge"

// TestCredentialSecretCarriesTheReleaseLabels: the tracebloc CLI finds the credential by
// app.kubernetes.io/name=client in the namespace; a fresh enrollment writes the labels, and
// a Secret written without them (an earlier version) gets them on the next start, with one
// read and update (the chart's rights alone), its data and annotations unchanged; the
// start after that is the fast path of two reads again.
func TestCredentialSecretCarriesTheReleaseLabels(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	leastPrivilege(t, e)
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil { // no release: an earlier version
		t.Fatal(err)
	}
	before := e.secret()
	if _, ok := before.Labels[names.AppNameLabel]; ok {
		t.Fatalf("labels without a release = %v, want no %s", before.Labels, names.AppNameLabel)
	}
	for i, wantCalls := range []int64{4, 2} { // read, kube-system, then the label's read and update
		e.kubeCalls.Store(0)
		r := e.newRun(fmt.Sprintf("edge-%d", i+2))
		r.cfg.Release = release
		out, err := e.start(e.ctx(), r)
		if err != nil || !out.FastPath {
			t.Fatalf("start %d = %+v, %v, want the fast path\n%s", i+2, out, err, r.out.String())
		}
		if got := e.kubeCalls.Load(); got != wantCalls {
			t.Errorf("start %d: Kubernetes requests = %d, want %d", i+2, got, wantCalls)
		}
	}
	after := e.secret()
	for k, v := range map[string]string{names.AppNameLabel: "client", names.AppInstanceLabel: release, names.CredentialLabel: "true"} {
		if after.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, after.Labels[k], v)
		}
	}
	if diff := cmp.Diff(before.Data, after.Data); diff != "" {
		t.Errorf("the label patch changed the data (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.Annotations, after.Annotations); diff != "" {
		t.Errorf("the label patch changed the annotations (-before +after):\n%s", diff)
	}
	e.verify()

	// A fresh enrollment with the release writes the labels itself.
	f := newEnv(t, devbackend.Config{})
	r := f.newRun("edge-1")
	r.cfg.Release = release
	if _, err := f.start(f.ctx(), r); err != nil {
		t.Fatal(err)
	}
	if s := f.secret(); s.Labels[names.AppNameLabel] != "client" || s.Labels[names.AppInstanceLabel] != release {
		t.Errorf("labels after a fresh enrollment = %v, want name=client and instance=%s", s.Labels, release)
	}
}

// copyEnv is an env with a node-agents namespace beside the release namespace.
type copyEnv struct {
	*env
	agents string
}

func newCopyEnv(t *testing.T) *copyEnv {
	t.Helper()
	e := newEnv(t, devbackend.Config{})
	return &copyEnv{env: e, agents: clustertest.Namespace(t, e.cluster)}
}

func (c *copyEnv) newRun(pod string) *run {
	r := c.env.newRun(pod)
	r.cfg.Release = release
	r.cfg.NodeAgents = c.agents
	return r
}

// copySecret is the copy in the node-agents namespace, nil when there is none.
func (c *copyEnv) copySecret() *corev1.Secret {
	c.t.Helper()
	s, err := c.cluster.Client.CoreV1().Secrets(c.agents).Get(context.Background(), secretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// assertCopy checks that the copy holds exactly the credential Secret's two keys, with
// the copy's labels and not the credential's.
func (c *copyEnv) assertCopy(when string) {
	c.t.Helper()
	orig, cp := c.secret(), c.copySecret()
	if cp == nil {
		c.t.Fatalf("%s: no copy in %s", when, c.agents)
		return
	}
	want := map[string][]byte{credential.KeyClientID: orig.Data[credential.KeyClientID], credential.KeyClientPassword: orig.Data[credential.KeyClientPassword]}
	if diff := cmp.Diff(want, cp.Data); diff != "" {
		c.t.Errorf("%s: copy data differ from the credential's two keys (-want +got):\n%s", when, diff)
	}
	if cp.Type != corev1.SecretTypeOpaque || cp.Labels[names.CredentialCopyLabel] != "true" || cp.Labels[names.AppInstanceLabel] != release {
		c.t.Errorf("%s: copy type %s labels %v, want Opaque with %s=true and %s=%s", when, cp.Type, cp.Labels, names.CredentialCopyLabel, names.AppInstanceLabel, release)
	}
	if _, ok := cp.Labels[names.CredentialLabel]; ok {
		c.t.Errorf("%s: the copy carries %s: the guard would count it as a second credential", when, names.CredentialLabel)
	}
	if _, ok := cp.Labels[names.AppNameLabel]; ok {
		c.t.Errorf("%s: the copy carries %s: the tracebloc CLI would find two", when, names.AppNameLabel)
	}
}

// TestNodeAgentsCopy: the copy is written after a fresh enrollment, restored on the next
// start after it was deleted (the fast path, one more read when it is in place), and
// updated after a password reset.
func TestNodeAgentsCopy(t *testing.T) {
	c := newCopyEnv(t)
	if _, err := c.start(c.ctx(), c.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	c.assertCopy("after a fresh enrollment")

	if err := c.cluster.Client.CoreV1().Secrets(c.agents).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, wantCalls := range []int64{4, 3} { // read, kube-system, the copy's read (and its create)
		c.kubeCalls.Store(0)
		r := c.newRun(fmt.Sprintf("edge-%d", i+2))
		out, err := c.start(c.ctx(), r)
		if err != nil || !out.FastPath {
			t.Fatalf("restart %d = %+v, %v, want the fast path\n%s", i+1, out, err, r.out.String())
		}
		if got := c.kubeCalls.Load(); got != wantCalls {
			t.Errorf("restart %d: Kubernetes requests = %d, want %d", i+1, got, wantCalls)
		}
		c.assertCopy(fmt.Sprintf("restart %d", i+1))
	}

	old := c.copySecret().Data[credential.KeyClientPassword]
	if err := c.cluster.Client.CoreV1().Secrets(c.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := c.newRun("edge-4")
	out, err := c.start(c.ctx(), r)
	if err != nil || out.Enrollment != credential.Reset {
		t.Fatalf("Run() = %+v, %v, want a reset\n%s", out, err, r.out.String())
	}
	c.assertCopy("after a password reset")
	if string(c.copySecret().Data[credential.KeyClientPassword]) == string(old) {
		t.Errorf("the copy still holds the password from before the reset")
	}
	c.verify()
}

// TestNodeAgentsCopyRefusals: without the copy's namespace, or next to a Secret of that
// name that is not a copy, the run stops with the configuration exit code and says what to
// do, and the credential Secret is in place and untouched.
func TestNodeAgentsCopyRefusals(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(c *copyEnv)
		want    []string
	}{
		{name: "no such namespace", arrange: func(c *copyEnv) { c.agents = "no-such-namespace-" + c.ns },
			want: []string{"does not exist", "kubectl create namespace no-such-namespace-", "is in place"}},
		{name: "a Secret that is not a copy", arrange: func(c *copyEnv) {
			if _, err := c.cluster.Client.CoreV1().Secrets(c.agents).Create(context.Background(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: secretName}, StringData: map[string]string{"other": "data"},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"is not the bootstrap's copy", "kubectl delete secret -n "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCopyEnv(t)
			tt.arrange(c)
			r := c.newRun("edge-1")
			_, err := c.start(c.ctx(), r)
			if exitCodeOf(err) != exitConfig {
				t.Fatalf("Run() = %v (exit %d), want exit %d\n%s", err, exitCodeOf(err), exitConfig, r.out.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			s := c.secret()
			if s.Annotations[credential.AnnEnrollment] != credential.Minted {
				t.Errorf("the credential Secret's enrollment = %q, want minted", s.Annotations[credential.AnnEnrollment])
			}
			c.verify()
			if cp := c.copySecret(); cp != nil && string(cp.Data["other"]) != "data" {
				t.Errorf("the Secret that is not a copy was changed: keys %v", keys(cp.Data))
			}
			// The next start takes the fast path to the same stop, the credential still in place.
			if _, err := c.start(c.ctx(), c.newRun("edge-2")); exitCodeOf(err) != exitConfig {
				t.Errorf("restart = %v, want exit %d again", err, exitConfig)
			}
		})
	}
}

// TestNodeAgentsCopyNeedsItsRole: with the chart's Role in the release namespace but none
// in the node-agents namespace, the stop names the Role the chart must grant there.
func TestNodeAgentsCopyNeedsItsRole(t *testing.T) {
	c := newCopyEnv(t)
	sa := leastPrivilege(t, c.env)
	r := c.newRun("edge-1")
	_, err := c.start(c.ctx(), r)
	if exitCodeOf(err) != exitConfig || !strings.Contains(fmt.Sprint(err), "must grant it a Role there") || !strings.Contains(fmt.Sprint(err), c.agents) {
		t.Fatalf("Run() = %v (exit %d), want exit %d naming the Role in %s\n%s", err, exitCodeOf(err), exitConfig, c.agents, r.out.String())
	}
	c.verify()
	copyRole(t, c, sa)
	if _, err := c.start(c.ctx(), c.newRun("edge-2")); err != nil {
		t.Fatalf("with the node-agents Role: %v", err)
	}
	c.assertCopy("with the node-agents Role")
}

// copyRole grants sa of the release namespace what the chart grants in the node-agents
// namespace: get, update and patch on the copy by name, create on secrets.
func copyRole(t *testing.T, c *copyEnv, sa string) {
	t.Helper()
	ctx := context.Background()
	admin := c.cluster.Client
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secretName}, Verbs: []string{"get", "update", "patch"}},
	}}
	if _, err := admin.RbacV1().Roles(c.agents).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: c.ns}}
	if _, err := admin.RbacV1().RoleBindings(c.agents).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitAllowed(t, c.cluster, clustertest.ServiceAccount(c.ns, sa),
		authzv1.ResourceAttributes{Namespace: c.agents, Verb: "create", Resource: "secrets"})
}
