package clustertest_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// TestSharedCluster exercises what other packages use: the shared instance, a restricted
// namespace, a ServiceAccount token that carries that identity and no rights, and the
// cluster id.
func TestSharedCluster(t *testing.T) {
	c := clustertest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ns := clustertest.Namespace(t, c)
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if level := got.Labels["pod-security.kubernetes.io/enforce"]; level != "restricted" {
		t.Errorf("Namespace() enforce label = %q, want restricted", level)
	}

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := clustertest.Token(t, c, ns, "nobody")
	asSA, err := kubernetes.NewForConfig(c.RESTFor(token))
	if err != nil {
		t.Fatal(err)
	}
	review, err := asSA.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":nobody"; review.Status.UserInfo.Username != want {
		t.Errorf("token user = %q, want %q", review.Status.UserInfo.Username, want)
	}
	_, err = asSA.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("get kube-system as a ServiceAccount without rules: err = %v, want forbidden", err)
	}

	uid := clustertest.KubeSystemUID(t, c)
	if uid == "" {
		t.Error("KubeSystemUID() = \"\", want the kube-system UID")
	}
	again := clustertest.Get(t)
	if again.Kubeconfig != c.Kubeconfig || clustertest.KubeSystemUID(t, again) != uid {
		t.Errorf("second Get() returned another cluster: %s", again.Kubeconfig)
	}
}

// TestAllowed: a ServiceAccount with no rights is not allowed; once a Role grants the right,
// Allowed returns and the token can use it at once.
func TestAllowed(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	who := clustertest.ServiceAccount(ns, "reader")
	list := authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "configmaps"}
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if err := clustertest.Allowed(short, c, who, list); err == nil {
		t.Fatal("a ServiceAccount without a Role was allowed to list configmaps")
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}}}
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}}}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitAllowed(t, c, who, list)
	kc, err := kubernetes.NewForConfig(c.RESTFor(clustertest.Token(t, c, ns, "reader")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("allowed, but the token's list failed: %v", err)
	}
}

func TestTool(t *testing.T) {
	if testing.Short() {
		t.Skip("may build helm: runs without -short")
	}
	path := clustertest.Tool(t, "helm")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Tool(helm) = %s: %v", path, err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("Tool(helm) = %s, not executable", path)
	}
}

// TestLockHostPorts: while a test holds the lock, another holder (another process, in
// effect: a second open file) cannot take it; once that test ends, it can.
func TestLockHostPorts(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	file := filepath.Join(cache, "tracebloc-edge", "host-ports.lock")
	tryLock := func() error {
		f, err := os.OpenFile(file, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	t.Run("held", func(t *testing.T) {
		clustertest.LockHostPorts(t)
		if err := tryLock(); err == nil {
			t.Error("a second holder took the host-ports lock while a test held it")
		}
	})
	if err := tryLock(); err != nil {
		t.Errorf("take the host-ports lock after the holding test ended: %v", err)
	}
}
