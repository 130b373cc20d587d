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
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/ptr"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/events"
	"github.com/tracebloc/edge/bootstrap/lock"
	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/names"
)

// clusterValues is everything but hostNetwork (which restricted forbids without the test
// cluster's RuntimeClass exemption), so the API server checks every optional field.
func clusterValues(clusterID string) string {
	return `
clusterId: ` + clusterID + `
legacySecret: {name: old-client}
enrollToken: {secretName: fleet-token}
newClient: {name: lab-01, location: DE}
backend: {url: 'http://127.0.0.1:8080', caBundle: {configMapName: corp-ca}}
client: {env: {HTTP_PROXY_HOST: 127.0.0.1, HTTP_PROXY_PORT: '3128', NO_PROXY: '127.0.0.1'}}
bootstrap: {extraEnv: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}]}
offboarding: {revokeOnUninstall: true}
`
}

// nodeAgentsIn puts the client chart's node-agents namespace into ns.
func nodeAgentsIn(ns string) string {
	return "client: {nodeAgents: {namespace: {name: " + ns + "}}}\n"
}

// TestAPIServerAcceptsRender sends every rendered object to the local cluster's API server
// (ServiceAccounts for real, the rest as a server-side dry run), in namespaces that enforce
// Pod Security restricted: the schemas, the downward API paths and the admission of every
// pod are the real ones. Pods the Deployment and the Job would create are dry-run as Pods
// too, since Pod Security enforces on Pods only, and so is a pod with the wiring's init
// container and volumes, as the post-renderer puts them into the jobs-manager pod.
func TestAPIServerAcceptsRender(t *testing.T) {
	c := clustertest.Get(t)
	id := clustertest.KubeSystemUID(t, c)
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client.enabled=%t", client), func(t *testing.T) {
			ns := clustertest.Namespace(t, c)
			values := clusterValues(id)
			if client {
				values = merge(t, values, nodeAgentsIn(clustertest.Namespace(t, c)))
			} else {
				values = clientOff(t, values)
			}
			out, err := renderValuesIn(t, ns, values)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, out)
			if (r.wiring != nil) != client {
				t.Fatalf("wiring object rendered = %v, want %v", r.wiring != nil, client)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			acceptsRender(ctx, t, c, ns, r)
		})
	}
}

func acceptsRender(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string, r *rendered) {
	t.Helper()
	// Pods need their ServiceAccount to exist, even in a dry run: create those for real
	// (the namespace goes at cleanup). The client chart's is made here as it would.
	sas := []*corev1.ServiceAccount{{ObjectMeta: metav1.ObjectMeta{Name: "edge-jobs-manager", Namespace: ns}}}
	for _, o := range r.objects {
		if sa, ok := o.(*corev1.ServiceAccount); ok {
			sas = append(sas, sa)
		}
	}
	for _, sa := range sas {
		if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ServiceAccount %s: %v", sa.Name, err)
		}
	}
	for _, o := range r.objects {
		m, kind := meta(t, o)
		if kind == "ServiceAccount" {
			continue
		}
		if err := dryRunCreate(ctx, c.Client, o); err != nil {
			t.Errorf("dry-run create %s %s/%s: %v", kind, m.GetNamespace(), m.GetName(), err)
		}
	}
	pods := r.pods()
	if w := r.wiring; w != nil {
		init := w.Spec.InitContainer
		main := corev1.Container{Name: "main", Image: init.Image, Args: []string{"hold"}, SecurityContext: init.SecurityContext, Resources: init.Resources}
		spec := &corev1.PodSpec{
			ServiceAccountName: "edge-jobs-manager", InitContainers: []corev1.Container{init}, Containers: []corev1.Container{main}, Volumes: w.Spec.Volumes,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		}
		pods = append(pods, podSpec{"wiring", metav1.ObjectMeta{Labels: w.Metadata.Labels}, spec})
	}
	for _, p := range pods {
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
// real and asks the API server what the bootstrap's ServiceAccount may do: the
// enrollment's without the client chart, the jobs-manager's with it, which also keeps the
// copy in the node-agents namespace.
func TestRBACOnCluster(t *testing.T) {
	c := clustertest.Get(t)
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client.enabled=%t", client), func(t *testing.T) {
			ns, agents := clustertest.Namespace(t, c), clustertest.Namespace(t, c)
			values, sa := merge(t, "legacySecret: {name: old-client}\n", nodeAgentsIn(agents)), "edge-jobs-manager"
			if !client {
				values, sa = clientOff(t, values), "edge-enrollment"
			}
			out, err := renderValuesIn(t, ns, values)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			createForReal(ctx, t, c, decode(t, out).objects)
			// The authorizer's cache trails the new bindings: wait until every right the
			// chart grants is in force, then check each case, the refusals included.
			var granted []authzv1.ResourceAttributes
			for _, tt := range rbacCases(ns, agents, client) {
				if tt.want {
					granted = append(granted, tt.attrs)
				}
			}
			clustertest.WaitAllowed(t, c, clustertest.ServiceAccount(ns, sa), granted...)
			for _, tt := range rbacCases(ns, agents, client) {
				t.Run(tt.name, func(t *testing.T) {
					checkAccess(ctx, t, c, ns, sa, tt.attrs, tt.want)
				})
			}
		})
	}
}

type accessCase struct {
	name  string
	attrs authzv1.ResourceAttributes
	want  bool
}

func rbacCases(ns, agents string, copies bool) []accessCase {
	return []accessCase{
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
		{"create the copy", authzv1.ResourceAttributes{Namespace: agents, Verb: "create", Resource: "secrets"}, copies},
		{"get the copy", authzv1.ResourceAttributes{Namespace: agents, Verb: "get", Resource: "secrets", Name: "edge-credentials"}, copies},
		{"update the copy", authzv1.ResourceAttributes{Namespace: agents, Verb: "update", Resource: "secrets", Name: "edge-credentials"}, copies},
		{"patch the copy", authzv1.ResourceAttributes{Namespace: agents, Verb: "patch", Resource: "secrets", Name: "edge-credentials"}, copies},
		{"delete the copy", authzv1.ResourceAttributes{Namespace: agents, Verb: "delete", Resource: "secrets", Name: "edge-credentials"}, false},
		{"get another secret of the node agents", authzv1.ResourceAttributes{Namespace: agents, Verb: "get", Resource: "secrets", Name: "edge-secrets"}, false},
	}
}

func checkAccess(ctx context.Context, t *testing.T, c *cluster.Cluster, ns, sa string, attrs authzv1.ResourceAttributes, want bool) {
	t.Helper()
	who := clustertest.ServiceAccount(ns, sa)
	user := who.User
	review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user, Groups: who.Groups, ResourceAttributes: &attrs,
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if review.Status.Allowed != want {
		t.Errorf("%s may %s %s %s/%q = %v, want %v (%s)", user, attrs.Verb, attrs.Resource, attrs.Namespace, attrs.Name, review.Status.Allowed, want, review.Status.Reason)
	}
}

// createForReal creates the ServiceAccounts, RBAC objects and admission policies among
// objects (what the bootstrap's rights are made of) and deletes the cluster-scoped ones
// when the test ends; the namespace takes the rest.
func createForReal(ctx context.Context, t *testing.T, c *cluster.Cluster, objects []runtime.Object) {
	t.Helper()
	admission := c.Client.AdmissionregistrationV1()
	for _, o := range objects {
		var err error
		switch x := o.(type) {
		case *corev1.ServiceAccount:
			_, err = c.Client.CoreV1().ServiceAccounts(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.Client.RbacV1().Roles(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.Client.RbacV1().RoleBindings(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
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
// chart's Role. This is the enrollment's ServiceAccount (client.enabled=false);
// TestAdmissionPolicyCopyOnCluster is the jobs-manager's.
func TestAdmissionPolicyOnCluster(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	out, err := renderValuesIn(t, ns, disabled)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createForReal(ctx, t, c, decode(t, out).objects)
	policy := "edge-bootstrap-secrets-" + ns
	bootstrap, err := kubernetes.NewForConfig(c.RESTFor(clustertest.Token(t, c, ns, "edge-enrollment")))
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
	waitForPolicy(ctx, t, secrets, probe, policy)

	refused := []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"service-account-token Secret under the credential's name", trick, "may write edge-credentials as an Opaque Secret only"},
		{
			"Opaque credential without labels",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials"}, Type: corev1.SecretTypeOpaque},
			"may write edge-credentials only with the label tracebloc.io/credential=true",
		},
		{
			"Opaque credential without the managed-by label",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials", Labels: map[string]string{credential.LabelCredential: "true"}}, Type: corev1.SecretTypeOpaque},
			"may create edge-credentials only with the label app.kubernetes.io/managed-by=tracebloc-bootstrap",
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
	// Without a node-agents namespace the store keeps no copy.
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

// waitForPolicy waits until the API server applies the admission policy: it starts to once
// its informer has it (about a second). The dry runs of probe, a Secret that breaks the
// policy, store nothing.
func waitForPolicy(ctx context.Context, t *testing.T, secrets typedcorev1.SecretInterface, probe *corev1.Secret, policy string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := secrets.Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), policy), nil
	})
	if err != nil {
		t.Fatalf("the API server did not start to apply the admission policy %s within a minute: %v", policy, err)
	}
}

// TestAdmissionPolicyCopyOnCluster acts as the client chart's jobs-manager ServiceAccount
// (the bootstrap's with the client chart): in the node-agents namespace the credential's
// name may be written only as the copy (its label, not the credential's), in any other
// namespace not at all, while Secrets of other names stay the client chart's business.
func TestAdmissionPolicyCopyOnCluster(t *testing.T) {
	c := clustertest.Get(t)
	ns, agents, other := clustertest.Namespace(t, c), clustertest.Namespace(t, c), clustertest.Namespace(t, c)
	out, err := renderValuesIn(t, ns, nodeAgentsIn(agents))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "edge-jobs-manager"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createForReal(ctx, t, c, decode(t, out).objects)
	// What the client chart would grant its jobs-manager besides: Secrets in every namespace.
	grantSecrets(ctx, t, c, ns, "edge-jobs-manager", agents, other)
	policy := "edge-bootstrap-secrets-" + ns
	sa, err := kubernetes.NewForConfig(c.RESTFor(clustertest.Token(t, c, ns, "edge-jobs-manager")))
	if err != nil {
		t.Fatal(err)
	}
	copyLabels := map[string]string{names.CredentialCopyLabel: "true", names.AppInstanceLabel: release}
	secret := func(name string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Type: corev1.SecretTypeOpaque}
	}
	waitForPolicy(ctx, t, sa.CoreV1().Secrets(agents), secret("edge-credentials", nil), policy)
	tests := []struct {
		name, ns string
		secret   *corev1.Secret
		want     string // "": allowed
	}{
		{"the copy", agents, secret("edge-credentials", copyLabels), ""},
		{"the copy without its label", agents, secret("edge-credentials", map[string]string{names.AppInstanceLabel: release}), "may write the copy " + agents + "/edge-credentials only with the label tracebloc.io/credential-copy=true"},
		{"the copy as a second credential", agents, secret("edge-credentials", map[string]string{names.CredentialCopyLabel: "true", names.CredentialLabel: "true"}), "and without tracebloc.io/credential"},
		{"the credential's name elsewhere", other, secret("edge-credentials", copyLabels), "may write edge-credentials in " + ns + " and " + agents + " only"},
		{"another Secret of the client chart", ns, secret("edge-other", nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sa.CoreV1().Secrets(tt.ns).Create(ctx, tt.secret, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("create %s/%s: %v, want it allowed", tt.ns, tt.secret.Name, err)
			case tt.want != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), policy)):
				t.Errorf("create %s/%s = %v, want Forbidden by %s: %q", tt.ns, tt.secret.Name, err, policy, tt.want)
			}
		})
	}
}

// grantSecrets gives namespace/sa create on Secrets in each of namespaces, so that only the
// admission policy decides.
func grantSecrets(ctx context.Context, t *testing.T, c *cluster.Cluster, namespace, sa string, namespaces ...string) {
	t.Helper()
	for _, ns := range namespaces {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "client-secrets", Namespace: ns}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}}}}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "client-secrets", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "client-secrets"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}},
		}
		createForReal(ctx, t, c, []runtime.Object{role, binding})
	}
}

// TestInstallWithoutPostRenderer: `helm install` of the chart with the client chart but
// without --post-renderer fails, with Helm 3 and Helm 4, before anything is created: no
// API server serves the wiring object's kind, and the error names that object, whose name
// says the fix.
func TestInstallWithoutPostRenderer(t *testing.T) {
	dir := chartdeps.DirWithClient(t)
	c := clustertest.Get(t)
	for _, tool := range []string{"helm", "helm4"} {
		t.Run(tool, func(t *testing.T) {
			ns := clustertest.Namespace(t, c)
			values := merge(t, clientPlatform, "client: {resourceMonitor: false}\n")
			out, err := helmCLI(t, tool, []string{"KUBECONFIG=" + c.Kubeconfig}, "install", release, dir, "-n", ns, "-f", valuesFile(t, values))
			if err == nil {
				t.Fatalf("%s install without the post-renderer succeeded:\n%s", tool, out)
			}
			for _, want := range []string{
				`no matches for kind "` + names.WiringKind + `" in version "` + names.WiringAPIVersion + `"`,
				"edge-install-with-post-renderer-tracebloc-postrender",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("%s install: the error lacks %q:\n%s", tool, want, out)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets.Items {
				t.Errorf("%s install without the post-renderer left Secret %s (labels %v)", tool, s.Name, s.Labels)
			}
		})
	}
}
