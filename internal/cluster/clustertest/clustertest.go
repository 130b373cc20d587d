// Package clustertest gives Go tests the local Kubernetes cluster of package cluster: one
// shared instance per name, started on first use and left running for the next test
// binary (`make test` removes it at the end with `scripts/cluster down --name test`),
// fresh namespaces, and the cached CLI tools.
//
// Without the tools (containerd, runc, busybox-static, the Kubernetes binaries, the
// registry) a test fails and says what to install; under `go test -short` it is skipped
// instead.
// TRACEBLOC_TEST_CLUSTER overrides the shared instance's name (default "test").
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tracebloc/edge/internal/cluster"
)

// DefaultName is the shared test instance.
const DefaultName = "test"

// Get returns the shared test cluster named "test" (or $TRACEBLOC_TEST_CLUSTER), starting
// it if it is not running. Parallel test binaries are serialized by the instance's lock
// file; the instance is left running for the other packages.
func Get(t testing.TB) *cluster.Cluster {
	t.Helper()
	name := os.Getenv("TRACEBLOC_TEST_CLUSTER")
	if name == "" {
		name = DefaultName
	}
	return GetNamed(t, name)
}

// GetNamed is Get for another instance, e.g. a second cluster with its own cluster id.
func GetNamed(t testing.TB, name string) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local Kubernetes cluster: runs without -short (make test)")
	}
	opts := cluster.Options{Name: name, Log: logWriter{t}}
	EnsureTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Up(ctx, opts)
	if err != nil {
		t.Fatalf("local cluster %s: %v", name, err)
	}
	return c
}

// EnsureTools builds the missing Kubernetes binaries with scripts/build-tools (a cold
// build takes about 10 minutes on 2 cores) and installs the missing Debian packages; it
// fails the test, saying what to install, when that does not work.
func EnsureTools(t testing.TB) {
	t.Helper()
	var opts cluster.Options
	err := cluster.CheckTools(opts)
	if err == nil {
		return
	}
	if !errors.Is(err, cluster.ErrMissingTools) {
		t.Fatalf("local cluster: %v", err)
	}
	if _, err := buildTools(t, "cluster"); err != nil {
		t.Fatalf("local cluster: %v", err)
	}
	if err := cluster.CheckTools(opts); err != nil {
		t.Fatalf("local cluster: %v", err)
	}
}

// Tool returns the path of a cached CLI ("helm", "helm4", "kustomize", "kubelet", ...),
// building it with scripts/build-tools when it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	bin, err := buildTools(t, name)
	if err != nil {
		t.Fatalf("tool %s: %v", name, err)
	}
	return filepath.Join(bin, name)
}

// buildTools runs scripts/build-tools and returns the folder it built into.
func buildTools(t testing.TB, names ...string) (string, error) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "build-tools")
	cmd := exec.Command(script, names...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log(s)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w (install by hand: apt-get install containerd runc busybox-static ca-certificates; then run scripts/build-tools)", script, strings.Join(names, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot finds the repository root (the folder with scripts/build-tools) from the
// working directory up; `go test` runs in the package's folder.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "build-tools")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no scripts/build-tools above the working directory")
		}
		dir = parent
	}
}

// Namespace creates a fresh namespace that enforces the restricted Pod Security level,
// and deletes it when the test ends.
func Namespace(t testing.TB, c *cluster.Cluster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "test-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		grace := int64(0)
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			t.Errorf("delete test namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// HostNetworkNamespace creates a fresh namespace with cluster.Cluster.HostNetworkNamespace
// (its pods run on the host network, with env from its cluster.PodEnvConfigMap), for
// charts that know nothing of the harness, and deletes it when the test ends. Charts whose
// pods bind fixed ports must not run in two such namespaces at once.
func HostNetworkNamespace(t testing.TB, c *cluster.Cluster, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "hostnet-" + rand.String(6)
	if err := c.HostNetworkNamespace(ctx, name, env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		grace := int64(0)
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

// LockHostPorts holds, until the test ends, the machine-wide lock of host-network pods
// with fixed ports (a file lock in cluster.CacheDir(), so test binaries of other packages
// and instances wait too): take it before installing a chart such as tracebloc/client
// (8080, 3306, 8888, 3128) in a HostNetworkNamespace, since a second install on this
// machine would find its ports taken. It waits up to 20 minutes for the holder.
func LockHostPorts(t testing.TB) {
	t.Helper()
	cache, err := cluster.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cache, "host-ports.lock")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("create %s: %v", cache, err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open the host-ports lock: %v", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			t.Fatalf("lock %s: %v", file, err)
		}
	case <-time.After(20 * time.Minute):
		t.Fatalf("another test has held %s for 20 minutes (host-network pods with fixed ports run one at a time)", file)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}

// KubeSystemUID returns the cluster's id (the kube-system namespace's UID).
func KubeSystemUID(t testing.TB, c *cluster.Cluster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uid, err := c.KubeSystemUID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// Token returns a token of namespace/serviceAccount (see cluster.Cluster.Token).
func Token(t testing.TB, c *cluster.Cluster, namespace, serviceAccount string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, err := c.Token(ctx, namespace, serviceAccount)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Subject is who an access review asks about: a user name and its groups.
type Subject struct {
	User   string
	Groups []string
}

// ServiceAccount is the Subject a token of namespace/name authenticates as.
func ServiceAccount(namespace, name string) Subject {
	return Subject{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// WaitAllowed waits until the API server's authorizer allows who every one of attrs. The
// RBAC authorizer reads Roles and bindings from a cache that trails their creation by a
// moment, so a test that grants rights and uses them at once waits for this state first.
func WaitAllowed(t testing.TB, c *cluster.Cluster, who Subject, attrs ...authzv1.ResourceAttributes) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Allowed(ctx, c, who, attrs...); err != nil {
		t.Fatal(err)
	}
}

// Allowed asks the API server, until ctx ends, whether who may do every one of attrs, and
// returns nil once each is allowed.
func Allowed(ctx context.Context, c *cluster.Cluster, who Subject, attrs ...authzv1.ResourceAttributes) error {
	for _, a := range attrs {
		review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: who.User, Groups: who.Groups, ResourceAttributes: &a}}
		var last string
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			r, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			last = r.Status.Reason
			return r.Status.Allowed, nil
		})
		if err != nil {
			return fmt.Errorf("%s was never allowed to %s %s %s/%q: %w (last answer: %q)", who.User, a.Verb, a.Resource, a.Namespace, a.Name, err, last)
		}
	}
	return nil
}

// logWriter sends the harness's progress lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
