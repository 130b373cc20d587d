package chart_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

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
	default:
		err = fmt.Errorf("the test does not know %T: add it to dryRunCreate", o)
	}
	return err
}

// TestRBACOnCluster installs the rendered ServiceAccount, Role, ClusterRole and bindings for
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
	for _, o := range decode(t, out).objects {
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
			name := x.Name
			t.Cleanup(func() {
				_ = c.Client.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
			})
		case *rbacv1.ClusterRoleBinding:
			_, err = c.Client.RbacV1().ClusterRoleBindings().Create(ctx, x, metav1.CreateOptions{})
			name := x.Name
			t.Cleanup(func() {
				_ = c.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
			})
		}
		if err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	user := "system:serviceaccount:" + ns + ":edge-bootstrap"
	tests := []struct {
		name  string
		attrs authzv1.ResourceAttributes
		want  bool
	}{
		{"create secrets", authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "secrets"}, true},
		{"get the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "edge-credentials"}, true},
		{"update the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "update", Resource: "secrets", Name: "edge-credentials"}, true},
		{"patch the credential", authzv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "secrets", Name: "edge-credentials"}, true},
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
