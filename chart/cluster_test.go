package chart_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/events"
	"github.com/tracebloc/edge/bootstrap/lock"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// clusterValues is everything but hostNetwork (which restricted forbids without the test
// cluster's RuntimeClass exemption), so the API server checks every optional field.
func clusterValues(clusterID string) string {
	return `
clusterId: ` + clusterID + `
legacySecret: {name: old-client}
enrollToken: {secretName: fleet-token}
client: {name: lab-01, location: DE}
backend: {url: 'http://127.0.0.1:8080', caBundle: {configMapName: corp-ca}}
proxy: {httpsProxy: 'http://127.0.0.1:3128', noProxy: '127.0.0.1'}
bootstrap: {extraEnv: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}]}
workload: {serviceAccount: {rules: [{apiGroups: [batch], resources: [jobs], verbs: [create, get]}]}}
offboarding: {revokeOnUninstall: true}
`
}

// TestAPIServerAcceptsRender sends every rendered object to the local cluster's API server
// (ServiceAccounts for real, the rest as a server-side dry run), in a namespace that enforces Pod Security restricted: the
// schemas, the downward API paths and the admission of every pod are the real ones. Pods
// the Deployment and the Job would create are dry-run as Pods too, since Pod Security
// enforces on Pods only.
func TestAPIServerAcceptsRender(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	id := clustertest.KubeSystemUID(t, c)
	out, err := renderValuesIn(t, ns, clusterValues(id))
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Pods need their ServiceAccount to exist, even in a dry run: create those for real
	// (the namespace goes at cleanup).
	for _, o := range r.objects {
		if sa, ok := o.(*corev1.ServiceAccount); ok {
			if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create ServiceAccount %s: %v", sa.Name, err)
			}
		}
	}
	for _, o := range r.objects {
		m, kind := meta(t, o)
		if kind == "ServiceAccount" {
			continue
		}
		if err := dryRunCreate(ctx, c.Client, o); err != nil {
			t.Errorf("dry-run create %s %s: %v", kind, m.GetName(), err)
		}
	}
	for _, p := range r.pods() {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dry-run", Namespace: ns, Labels: p.meta.Labels}, Spec: *p.spec}
		if err := dryRunCreate(ctx, c.Client, pod); err != nil {
			t.Errorf("dry-run a Pod of %s in a restricted namespace: %v", p.name, err)
		}
	}
}

func dryRunCreate(ctx context.Context, kube kubernetes.Interface, o runtime.Object) error {
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var err error
	switch x := o.(type) {
	case *corev1.ServiceAccount:
		_, err = kube.CoreV1().ServiceAccounts(x.Namespace).Create(ctx, x, dry)
	case *corev1.Secret:
		_, err = kube.CoreV1().Secrets(x.Namespace).Create(ctx, x, dry)
	case *corev1.Pod:
		_, err = kube.CoreV1().Pods(x.Namespace).Create(ctx, x, dry)
	case *rbacv1.Role:
		_, err = kube.RbacV1().Roles(x.Namespace).Create(ctx, x, dry)
	case *rbacv1.RoleBinding:
		_, err = kube.RbacV1().RoleBindings(x.Namespace).Create(ctx, x, dry)
	case *rbacv1.ClusterRole:
		_, err = kube.RbacV1().ClusterRoles().Create(ctx, x, dry)
	case *rbacv1.ClusterRoleBinding:
		_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, x, dry)
	case *appsv1.Deployment:
		_, err = kube.AppsV1().Deployments(x.Namespace).Create(ctx, x, dry)
	case *batchv1.Job:
		_, err = kube.BatchV1().Jobs(x.Namespace).Create(ctx, x, dry)
	case *admissionv1.ValidatingAdmissionPolicy:
		_, err = kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, x, dry)
	case *admissionv1.ValidatingAdmissionPolicyBinding:
		_, err = kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, x, dry)
	default:
		err = fmt.Errorf("the test does not know %T: add it to dryRunCreate", o)
	}
	return err
}

// TestRBACOnCluster installs the rendered ServiceAccounts, RBAC and admission policy for
// real and asks the API server what the bootstrap's ServiceAccount may do.
func TestRBACOnCluster(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	out, err := renderValuesIn(t, ns, "legacySecret: {name: old-client}\n")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createForReal(ctx, t, c, ns, decode(t, out).objects)
	user := "system:serviceaccount:" + ns + ":edge-bootstrap"
	tests := []struct {
		name  string
		attrs authzv1.ResourceAttributes
		want  bool
	}{
		{"create secrets", authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "secrets"}, true},
		{"get the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "edge-credentials"}, true},
		{"update the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "secrets", Name: "edge-credentials"}, true},
		{"patch the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "secrets", Name: "edge-credentials"}, false},
		{"delete the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "delete", Resource: "secrets", Name: "edge-credentials"}, false},
		{"get the legacy secret", authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "old-client"}, true},
		{"update the legacy secret", authzv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "secrets", Name: "old-client"}, false},
		{"get another secret", authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "other"}, false},
		{"list secrets", authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"}, false},
		{"secrets of another namespace", authzv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "secrets"}, false},
		{"create leases", authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"}, true},
		{"update the lock", authzv1.ResourceAttributes{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "edge-credentials-lock"}, true},
		{"update another lease", authzv1.ResourceAttributes{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "other"}, false},
		{"create events", authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "events"}, true},
		{"get kube-system", authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"}, true},
		{"get another namespace", authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "default"}, false},
		{"list pods", authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "pods"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := tt.attrs
			review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}, ResourceAttributes: &attrs,
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed != tt.want {
				t.Errorf("%s may %s %s %q = %v, want %v (%s)", user, attrs.Verb, attrs.Resource, attrs.Name, review.Status.Allowed, tt.want, review.Status.Reason)
			}
		})
	}
}

// createForReal creates the ServiceAccounts, RBAC objects and admission policies among
// objects (what the bootstrap's rights are made of) and deletes the cluster-scoped ones
// when the test ends; the namespace takes the rest.
func createForReal(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string, objects []runtime.Object) {
	t.Helper()
	admission := c.Client.AdmissionregistrationV1()
	for _, o := range objects {
		var err error
		switch x := o.(type) {
		case *corev1.ServiceAccount:
			_, err = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.Client.RbacV1().Roles(ns).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.Client.RbacV1().RoleBindings(ns).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = c.Client.RbacV1().ClusterRoles().Create(ctx, x, metav1.CreateOptions{})
			cleanup(t, x.Name, c.Client.RbacV1().ClusterRoles().Delete)
		case *rbacv1.ClusterRoleBinding:
			_, err = c.Client.RbacV1().ClusterRoleBindings().Create(ctx, x, metav1.CreateOptions{})
			cleanup(t, x.Name, c.Client.RbacV1().ClusterRoleBindings().Delete)
		case *admissionv1.ValidatingAdmissionPolicy:
			_, err = admission.ValidatingAdmissionPolicies().Create(ctx, x, metav1.CreateOptions{})
			cleanup(t, x.Name, admission.ValidatingAdmissionPolicies().Delete)
		case *admissionv1.ValidatingAdmissionPolicyBinding:
			_, err = admission.ValidatingAdmissionPolicyBindings().Create(ctx, x, metav1.CreateOptions{})
			cleanup(t, x.Name, admission.ValidatingAdmissionPolicyBindings().Delete)
		}
		if err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func cleanup(t *testing.T, name string, del func(context.Context, string, metav1.DeleteOptions) error) {
	t.Cleanup(func() {
		if err := del(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", name, err)
		}
	})
}

// TestAdmissionPolicyOnCluster installs the bootstrap's rights and the admission policy for
// real, then acts as the bootstrap's ServiceAccount (a TokenRequest token): the API server
// refuses the service-account-token trick and every Secret that is not the bootstrap's own,
// while the bootstrap's own packages (lock, credential, events) do all they do with the
// chart's Role.
func TestAdmissionPolicyOnCluster(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	out, err := renderValuesIn(t, ns, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createForReal(ctx, t, c, ns, decode(t, out).objects)
	policy := "edge-bootstrap-secrets-" + ns
	bootstrap, err := kubernetes.NewForConfig(c.RESTFor(clustertest.Token(t, c, ns, "edge-bootstrap")))
	if err != nil {
		t.Fatal(err)
	}
	secrets := bootstrap.CoreV1().Secrets(ns)
	own := map[string]string{credential.LabelCredential: "true", credential.LabelManagedBy: "tracebloc-bootstrap"}
	// The token trick: a Secret the bootstrap may read, which the token controller fills
	// with a token of the workload's ServiceAccount.
	trick := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials", Labels: own, Annotations: map[string]string{corev1.ServiceAccountNameKey: "edge"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}

	// The API server starts to enforce a new policy once its informer has it (about a
	// second): watch for that with dry runs (they store nothing) of a Secret that breaks
	// every rule of the policy.
	probe := trick.DeepCopy()
	probe.Name, probe.Labels = "probe", nil
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := secrets.Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), policy), nil
	})
	if err != nil {
		t.Fatalf("the API server did not start to apply the admission policy %s within a minute: %v", policy, err)
	}

	refused := []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"service-account-token Secret under the credential's name", trick, "may write Opaque Secrets only"},
		{
			"Opaque credential without labels",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials"}, Type: corev1.SecretTypeOpaque},
			"only with the label tracebloc.io/credential=true",
		},
		{
			"Opaque credential without the managed-by label",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials", Labels: map[string]string{credential.LabelCredential: "true"}}, Type: corev1.SecretTypeOpaque},
			"only with the label app.kubernetes.io/managed-by=tracebloc-bootstrap",
		},
		{
			"another name, with the labels",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: own}, Type: corev1.SecretTypeOpaque},
			"may create its credential Secret edge-credentials only",
		},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secrets.Create(ctx, tt.secret, metav1.CreateOptions{})
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), policy) {
				t.Errorf("create as the bootstrap = %v, want Forbidden by %s: %q", err, policy, tt.want)
			}
			if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, tt.secret.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("get %s after the refusal = %v, want NotFound", tt.secret.Name, err)
			}
		})
	}

	// The bootstrap's own writes, with its own code: hold the Lease, create the credential
	// Secret (the first commit) and update it (the second), record an Event.
	var logs bytes.Buffer
	log := zerolog.New(&logs).Level(zerolog.WarnLevel)
	store := &credential.Store{Client: bootstrap, Namespace: ns, Name: "edge-credentials", Log: log}
	id := clustertest.KubeSystemUID(t, c)
	const password = "test-password-0123456789"
	lease := &lock.Lock{Client: bootstrap, Namespace: ns, Name: "edge-credentials-lock", Identity: "edge-test", Log: log}
	record := credential.Record{ClientID: "0f6c1c9e-5b7a-4d8e-9f00-1a2b3c4d5e6f", Password: password, ClusterID: id, DashboardID: 1, Name: "lab-01", Enrollment: credential.Minted}
	err = lease.Run(ctx, func(context.Context) (bool, error) { return false, nil }, func(ctx context.Context) error {
		if err := store.Commit(ctx, record); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := store.Commit(ctx, record); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the bootstrap's lock and credential writes: %v\n%s", err, logs.String())
	}
	rec := &events.Recorder{Client: bootstrap, Namespace: ns, PodName: "edge-test", Log: log}
	rec.Normal(ctx, events.ReasonEnrolled, "test")
	if logs.Len() > 0 {
		t.Errorf("the bootstrap's packages logged warnings:\n%s", logs.String())
	}
	if s, err := store.Read(ctx); err != nil || !s.Complete() {
		t.Errorf("credential after the commit: complete %v, error %v; want a complete credential", s.Complete(), err)
	}

	// Its own Secret, once it exists, still cannot lose the bootstrap's label.
	sec, err := secrets.Get(ctx, "edge-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(sec.Labels, credential.LabelCredential)
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), policy) {
		t.Errorf("update without the label tracebloc.io/credential = %v, want Forbidden by %s", err, policy)
	}

	// Everyone else is not the bootstrap: the admin still creates what it likes.
	plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-made"}, Type: corev1.SecretTypeOpaque}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Errorf("create an unlabelled Secret as the admin: %v, want it allowed", err)
	}
}
