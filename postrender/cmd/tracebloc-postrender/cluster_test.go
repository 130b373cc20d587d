package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/postrender/clusterinfo"
	"github.com/tracebloc/edge/postrender/transform"
)

// These tests run on the local cluster (skipped under -short). The cluster is shared with
// other packages' tests, whose credential Secrets may come and go: the guard is asserted
// on the namespaces a test made, and the Helm tests run as an operator who may not list
// Secrets across namespaces (the guard warns and goes on), so that another package's
// Secret never decides them.

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// createCRD makes a CustomResourceDefinition and waits until discovery serves its kind.
func createCRD(t *testing.T, c *cluster.Cluster, group, kind, scope string) {
	t.Helper()
	ctx := ctxFor(t)
	dyn, err := dynamic.NewForConfig(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	plural := strings.ToLower(kind) + "s"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": scope,
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD %s.%s: %v", kind, group, err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(crdGVR).Delete(context.Background(), plural+"."+group, metav1.DeleteOptions{})
	})
	disco, err := clusterinfo.NewDiscoverer(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	// Discovery catches up with a new CRD within seconds: wait for that state, not a time.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		scopes, err := disco.Scopes(ctx)
		if err != nil {
			return false, nil
		}
		_, ok := scopes[transform.GroupKind{Group: group, Kind: kind}]
		return ok, nil
	})
	if err != nil {
		t.Fatalf("discovery never served %s.%s: %v", kind, group, err)
	}
}

func TestClusterIdentityAndDiscovery(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	group := "pr-" + rand.String(6) + ".test.tracebloc.io"
	createCRD(t, c, group, "Gizmo", "Cluster")
	createCRD(t, c, group, "Gadget", "Namespaced")

	input := fmt.Sprintf(`---
# Source: t/templates/gizmo.yaml
apiVersion: %[1]s/v1
kind: Gizmo
metadata:
  name: cluster-wide
---
# Source: t/templates/gadget.yaml
apiVersion: %[1]s/v1
kind: Gadget
metadata:
  name: in-a-namespace
---
# Source: t/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
`, group)
	clearEnv(t)
	stdout, stderr, err := runPR(t, input, "--kubeconfig", operator(t, c, ns), "--namespace", ns)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	uid := clustertest.KubeSystemUID(t, c)
	want := fmt.Sprintf(`---
# Source: t/templates/gizmo.yaml
apiVersion: %[1]s/v1
kind: Gizmo
metadata:
  name: cluster-wide
  labels:
    tracebloc.io/cluster-id: %[2]s
---
# Source: t/templates/gadget.yaml
apiVersion: %[1]s/v1
kind: Gadget
metadata:
  name: in-a-namespace
  namespace: %[3]s
  labels:
    tracebloc.io/cluster-id: %[2]s
---
# Source: t/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: %[3]s
  labels:
    tracebloc.io/cluster-id: %[2]s
`, group, uid, ns)
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("run over custom kinds (-want +got):\n%s", diff)
	}
}

func TestClusterGuard(t *testing.T) {
	c := clustertest.Get(t)
	holder := clustertest.Namespace(t, c)
	target := clustertest.Namespace(t, c)
	ctx := ctxFor(t)
	_, err := c.Client.CoreV1().Secrets(holder).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-credentials", Labels: map[string]string{"tracebloc.io/credential": "true"}},
		StringData: map[string]string{"CLIENT_ID": "test", "CLIENT_PASSWORD": "never-printed"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clearEnv(t)

	t.Run("credential in another namespace stops the render", func(t *testing.T) {
		stdout, _, err := runPR(t, stream, "--kubeconfig", c.Kubeconfig, "--namespace", target)
		if err == nil {
			t.Fatalf("run --namespace %s succeeded, want the guard to stop it", target)
		}
		// Other packages' credential Secrets may be named too; ours must be, with both ways.
		for _, want := range []string{holder + "/edge-credentials", fmt.Sprintf("%q", holder), "helm install ... -n ", "kubectl delete secret -n " + holder + " edge-credentials"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("guard error = %q, want it to contain %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "never-printed") {
			t.Error("the guard error shows the Secret's data")
		}
		if stdout != "" {
			t.Errorf("stdout = %q with the error, want nothing", stdout)
		}
	})
	t.Run("credential in the target namespace is fine", func(t *testing.T) {
		_, _, err := runPR(t, stream, "--kubeconfig", c.Kubeconfig, "--namespace", holder)
		if err != nil && strings.Contains(err.Error(), holder+"/") {
			t.Errorf("run --namespace %s = %v, want no conflict with its own Secret", holder, err)
		}
	})
	t.Run("the README's quick-start command: the edge chart's objects name the namespace", func(t *testing.T) {
		// Helm 3 passes no arguments and no HELM_NAMESPACE; the chart's label is all there is.
		input := stream + strings.ReplaceAll(edgeStream, ": tracebloc\n", ": "+target+"\n")
		stdout, _, err := runPR(t, input, "--kubeconfig", c.Kubeconfig)
		if err == nil || !strings.Contains(err.Error(), holder+"/edge-credentials") {
			t.Errorf("run with the edge chart's objects in %s = %v, want the guard to name %s/edge-credentials", target, err, holder)
		}
		if stdout != "" {
			t.Errorf("stdout = %q with the error, want nothing", stdout)
		}
	})
	t.Run("no release namespace known: objects left to Helm, no guard", func(t *testing.T) {
		stdout, stderr, err := runPR(t, kubeSystemStream, "--kubeconfig", c.Kubeconfig)
		if err != nil {
			t.Fatalf("run with no release namespace: %v", err)
		}
		if !strings.Contains(stderr, "no release namespace known") {
			t.Errorf("stderr = %q, want it to say that no release namespace is known", stderr)
		}
		if strings.Contains(stdout, "namespace: "+holder) || strings.Contains(stdout, "namespace: "+target) {
			t.Errorf("stdout = %q, want the object without a namespace left as it is", stdout)
		}
	})
	t.Run("forbidden to list: a warning", func(t *testing.T) {
		kubeconfig := impersonating(t, c, "tracebloc-postrender-nobody-"+rand.String(5))
		stdout, stderr, err := runPR(t, stream, "--kubeconfig", kubeconfig, "--namespace", target, "--cluster-id", "given")
		if err != nil {
			t.Fatalf("run as a user who may not list Secrets: %v", err)
		}
		if !strings.Contains(stderr, "could not check for a tracebloc client in another namespace") {
			t.Errorf("stderr = %q, want the guard's warning", stderr)
		}
		if !strings.Contains(stdout, "tracebloc.io/cluster-id: given") {
			t.Errorf("stdout = %q, want the rendered stream", stdout)
		}
	})
}

// impersonating writes a copy of the admin kubeconfig that acts as user.
func impersonating(t *testing.T, c *cluster.Cluster, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// operator makes a user who may install the test chart into ns (namespace admin, cluster
// roles, reading kube-system) but not list Secrets across namespaces, and returns a
// kubeconfig acting as that user.
func operator(t *testing.T, c *cluster.Cluster, ns string) string {
	t.Helper()
	ctx := ctxFor(t)
	user := "operator-" + ns
	rbac := c.Client.RbacV1()
	_, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "escalate", "bind"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
		},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = rbac.ClusterRoleBindings().Delete(ctx, user, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, user, metav1.DeleteOptions{})
	})
	clustertest.WaitAllowed(t, c, clustertest.Subject{User: user, Groups: []string{"system:authenticated"}},
		authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"},
		authzv1.ResourceAttributes{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"})
	return impersonating(t, c, user)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string // removed at the end
	binDir    string
	buildErr  error
)

// binary builds tracebloc-postrender once per test binary (releaseBuild) and returns its
// folder.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tracebloc-postrender-bin-")
		if buildErr != nil {
			return
		}
		var bin string
		bin, buildErr = releaseBuild(archives.Package, archives.BinaryName, buildDir)
		binDir = filepath.Dir(bin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// releaseBuild builds the main package pkg (relative to the repository root) into dir as
// the release builds the post-renderer (archives.GoBuild: CGO_ENABLED=0, -trimpath, the
// release's link flags), so that the tests and the benchmarks run the binary users get,
// and returns the binary's path.
func releaseBuild(pkg, name, dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	here := archives.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	built, err := archives.GoBuild{Root: root, Version: "v0.0.0-test", OutDir: dir, Stderr: &stderr,
		Package: pkg, Name: name}.Run(context.Background(), []archives.Platform{here})
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, stderr.Bytes())
	}
	return built[here], nil
}

// helmEnv is a clean environment for a helm CLI: its own homes, the operator's
// kubeconfig, the post-renderer on PATH.
func helmEnv(t testing.TB, kubeconfig string) []string {
	t.Helper()
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + binary(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"KUBECONFIG=" + kubeconfig,
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"TRACEBLOC_POSTRENDER_LOG_FILE=" + filepath.Join(home, "postrender.log"),
	}
	if gocache := os.Getenv("GOCACHE"); gocache != "" {
		env = append(env, "GOCACHE="+gocache)
	}
	return env
}

func helm(t testing.TB, tool string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		logFile := ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "TRACEBLOC_POSTRENDER_LOG_FILE="); ok {
				data, _ := os.ReadFile(v)
				logFile = string(data)
			}
		}
		t.Fatalf("%s %s: %v\nstderr: %s\npost-renderer log:\n%s", filepath.Base(tool), strings.Join(args, " "), err, stderr.String(), logFile)
	}
	return stdout.String()
}

func TestClusterHelm3(t *testing.T) {
	c := clustertest.Get(t)
	tool := clustertest.Tool(t, "helm")
	postrenderer := filepath.Join(binary(t), "tracebloc-postrender")
	testHelm(t, c, tool, func(env []string) []string {
		return []string{"--post-renderer", postrenderer}
	})
}

func TestClusterHelm4Plugin(t *testing.T) {
	c := clustertest.Get(t)
	tool := clustertest.Tool(t, "helm4")
	testHelm(t, c, tool, func(env []string) []string {
		helm(t, tool, env, "plugin", "install", pluginDir(t))
		return []string{"--post-renderer", "tracebloc"}
	})
}

// pluginDir is the development Helm 4 plugin, which runs the tracebloc-postrender on PATH.
func pluginDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "plugin"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// testHelm renders, installs and upgrades the test chart with a post-renderer that setup
// installs and returns the helm flags for.
func testHelm(t *testing.T, c *cluster.Cluster, tool string, setup func(env []string) []string) {
	ns := clustertest.Namespace(t, c)
	env := helmEnv(t, operator(t, c, ns))
	pr := setup(env)
	uid := clustertest.KubeSystemUID(t, c)
	release := "edge"
	chart, err := filepath.Abs(filepath.Join("..", "..", "testdata", "chart"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("template", func(t *testing.T) {
		out := helm(t, tool, env, append([]string{"template", release, chart, "-n", ns}, pr...)...)
		if got, want := strings.Count(out, "tracebloc.io/cluster-id: "+uid), 8; got < want {
			t.Errorf("helm template: %d cluster-id labels, want at least %d (7 objects and the pod template; Helm 4 adds the hook):\n%s", got, want, out)
		}
		if !strings.Contains(out, "# Source: edge-test/templates/deployment.yaml") {
			t.Errorf("helm template lost the # Source: lines:\n%s", out)
		}
	})

	helm(t, tool, env, append([]string{"install", release, chart, "-n", ns}, pr...)...)
	t.Cleanup(func() {
		cmd := exec.Command(tool, "uninstall", release, "-n", ns)
		cmd.Env = env
		_ = cmd.Run()
	})
	ctx := ctxFor(t)
	t.Run("installed objects carry the label and the namespace", func(t *testing.T) {
		sa, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, release+"-bootstrap", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sa.Labels["tracebloc.io/cluster-id"] != uid {
			t.Errorf("ServiceAccount labels = %v, want cluster-id %s", sa.Labels, uid)
		}
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["tracebloc.io/cluster-id"] != uid || d.Spec.Template.Labels["tracebloc.io/cluster-id"] != uid {
			t.Errorf("Deployment labels = %v, template labels = %v, want cluster-id %s on both", d.Labels, d.Spec.Template.Labels, uid)
		}
		if _, ok := d.Spec.Selector.MatchLabels["tracebloc.io/cluster-id"]; ok {
			t.Errorf("Deployment selector = %v, want no cluster-id in it", d.Spec.Selector.MatchLabels)
		}
		rb, err := c.Client.RbacV1().RoleBindings(ns).Get(ctx, release+"-bootstrap", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Namespace != ns {
			t.Errorf("RoleBinding subjects = %+v, want the ServiceAccount in %s", rb.Subjects, ns)
		}
		crb, err := c.Client.RbacV1().ClusterRoleBindings().Get(ctx, ns+"-"+release+"-reader", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if crb.Labels["tracebloc.io/cluster-id"] != uid || crb.Subjects[0].Namespace != ns {
			t.Errorf("ClusterRoleBinding labels = %v, subjects = %+v; want the label and namespace %s", crb.Labels, crb.Subjects, ns)
		}
	})

	t.Run("upgrade with the same renderer changes nothing", func(t *testing.T) {
		before := helm(t, tool, env, "get", "manifest", release, "-n", ns)
		versions := resourceVersions(t, c, ns, release)
		helm(t, tool, env, append([]string{"upgrade", release, chart, "-n", ns}, pr...)...)
		after := helm(t, tool, env, "get", "manifest", release, "-n", ns)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("manifest changed on upgrade (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(versions, resourceVersions(t, c, ns, release)); diff != "" {
			t.Errorf("objects changed on upgrade (-before +after):\n%s", diff)
		}
	})
}

// resourceVersions of the chart's objects (hooks aside, which Helm recreates).
func resourceVersions(t *testing.T, c *cluster.Cluster, ns, release string) map[string]string {
	t.Helper()
	ctx := ctxFor(t)
	got := map[string]string{}
	add := func(kind string, m metav1.Object, err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if err == nil {
			got[kind] = m.GetResourceVersion()
		}
	}
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, release+"-bootstrap", metav1.GetOptions{})
	add("ServiceAccount", sa, err)
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, release+"-config", metav1.GetOptions{})
	add("ConfigMap", cm, err)
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	add("Deployment", d, err)
	rb, err := c.Client.RbacV1().RoleBindings(ns).Get(ctx, release+"-bootstrap", metav1.GetOptions{})
	add("RoleBinding", rb, err)
	crb, err := c.Client.RbacV1().ClusterRoleBindings().Get(ctx, ns+"-"+release+"-reader", metav1.GetOptions{})
	add("ClusterRoleBinding", crb, err)
	if len(got) != 5 {
		t.Fatalf("found %d of the chart's 5 objects: %v", len(got), got)
	}
	return got
}
