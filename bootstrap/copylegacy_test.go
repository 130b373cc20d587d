package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

const (
	legacyID       = "3f2a9c1e-legacy-client"
	legacyPassword = "legacy-password-0123456789"
	legacySource   = "old-secrets"
	legacyCopy     = "old-legacy-credentials"
	legacyCred     = "edge-credentials"
)

// TestCopyLegacy runs the real binary against the local cluster, as the chart's hook Job
// does, with the hook's least-privilege Role (get on the three Secrets by name, create on
// secrets): each case's exit code and one line, the copy it leaves, and that no value of a
// credential reaches stdout or stderr.
func TestCopyLegacy(t *testing.T) {
	c := clustertest.Get(t)
	bin := buildBinary(t)
	both := map[string][]byte{credential.KeyClientID: []byte(legacyID), credential.KeyClientPassword: []byte(legacyPassword)}
	placeholder := []byte(credential.Placeholder)
	tests := []struct {
		name     string
		secrets  map[string]map[string][]byte // name -> data
		wantCode int
		wantLine string
		wantCopy bool // the copy exists afterwards with both keys
	}{
		{name: "already enrolled", secrets: map[string]map[string][]byte{legacyCred: both, legacySource: both}, wantLine: "already enrolled"},
		{name: "copy in place", secrets: map[string]map[string][]byte{legacyCopy: both}, wantLine: "copy in place", wantCopy: true},
		{name: "copied", secrets: map[string]map[string][]byte{legacySource: both}, wantLine: "copied CLIENT_ID and CLIENT_PASSWORD from", wantCopy: true},
		{name: "no source", wantLine: "nothing copied: the Secret"},
		{name: "keys stripped", secrets: map[string]map[string][]byte{legacySource: {"OTHER": []byte("x")}}, wantLine: "holds no usable"},
		{name: "placeholder", secrets: map[string]map[string][]byte{legacySource: {credential.KeyClientID: placeholder, credential.KeyClientPassword: placeholder}}, wantLine: "holds no usable"},
		{name: "one key", secrets: map[string]map[string][]byte{legacySource: {credential.KeyClientID: []byte(legacyID)}}, wantCode: exitConfig, wantLine: "error: cannot copy the legacy credential: the Secret "},
		{name: "copy without the keys", secrets: map[string]map[string][]byte{legacySource: both, legacyCopy: {"OTHER": []byte("x")}}, wantCode: exitConfig, wantLine: "delete it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := clustertest.Namespace(t, c)
			for name, data := range tt.secrets {
				createSecret(t, c, ns, name, data)
			}
			code, stdout, stderr := runCopyLegacy(t, bin, hookKubeconfig(t, c, ns, true), ns)
			out := stdout + stderr
			if code != tt.wantCode || !strings.Contains(out, tt.wantLine) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("copy-legacy = exit %d, output %q; want exit %d and one line saying %q", code, out, tt.wantCode, tt.wantLine)
			}
			if tt.wantCode != 0 && !strings.Contains(out, ns+"/") {
				t.Errorf("copy-legacy's error %q does not name the Secret in namespace %s", out, ns)
			}
			if strings.Contains(out, legacyPassword) || strings.Contains(out, legacyID) {
				t.Errorf("copy-legacy printed a credential value: %q", out)
			}
			checkCopy(t, c, ns, tt.wantCopy)
		})
	}
}

// TestCopyLegacyNamesTheRole: without the Role, the hook stops with exit 2 and names the
// rights it needs.
func TestCopyLegacyNamesTheRole(t *testing.T) {
	c := clustertest.Get(t)
	bin := buildBinary(t)
	ns := clustertest.Namespace(t, c)
	code, stdout, stderr := runCopyLegacy(t, bin, hookKubeconfig(t, c, ns, false), ns)
	for _, want := range []string{"may not get Secret " + ns + "/" + legacyCred, "get on secrets named " + legacyCred + ", " + legacySource + " and " + legacyCopy, "create on secrets"} {
		if code != exitConfig || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("copy-legacy without RBAC = exit %d, stdout %q, stderr %q; want exit %d and stderr saying %q", code, stdout, stderr, exitConfig, want)
		}
	}
}

// TestCopyLegacyConfig: each required variable is named when missing, and the three
// Secrets must differ.
func TestCopyLegacyConfig(t *testing.T) {
	full := map[string]string{"TRACEBLOC_NAMESPACE": "edge", "TRACEBLOC_LEGACY_SOURCE": legacySource,
		"TRACEBLOC_LEGACY_SECRET": legacyCopy, "TRACEBLOC_CREDENTIAL_SECRET": legacyCred}
	for name := range full {
		t.Run("without "+name, func(t *testing.T) {
			for k, v := range full {
				if k != name {
					t.Setenv(k, v)
				}
			}
			t.Setenv(name, "") // restored at the end; unset for the run
			os.Unsetenv(name)
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"copy-legacy"}, &bytes.Buffer{}, &stderr)
			if code := exitCode(err, &stderr); code != exitConfig || !strings.Contains(stderr.String(), name) {
				t.Errorf("copy-legacy without %s = exit %d, %q; want exit %d naming it", name, code, stderr.String(), exitConfig)
			}
		})
	}
	t.Run("same Secret twice", func(t *testing.T) {
		for k, v := range full {
			t.Setenv(k, v)
		}
		t.Setenv("TRACEBLOC_LEGACY_SECRET", legacySource)
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"copy-legacy"}, &bytes.Buffer{}, &stderr)
		if code := exitCode(err, &stderr); code != exitConfig || !strings.Contains(stderr.String(), "TRACEBLOC_LEGACY_SECRET: names the same Secret as TRACEBLOC_LEGACY_SOURCE") {
			t.Errorf("copy-legacy with the copy named as the source = exit %d, %q; want exit %d naming both", code, stderr.String(), exitConfig)
		}
	})
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tracebloc-bootstrap")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func runCopyLegacy(t *testing.T, bin, kubeconfig, ns string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "copy-legacy")
	cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "TRACEBLOC_NAMESPACE=" + ns, "TRACEBLOC_LEGACY_SOURCE=" + legacySource,
		"TRACEBLOC_LEGACY_SECRET=" + legacyCopy, "TRACEBLOC_CREDENTIAL_SECRET=" + legacyCred}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run copy-legacy: %v", err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func createSecret(t *testing.T, c *cluster.Cluster, ns, name string, data map[string][]byte) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeOpaque, Data: data}
	if name == legacyCopy {
		sec.Labels = map[string]string{credential.LabelLegacyCopy: "true"}
		sec.Annotations = map[string]string{credential.AnnLegacySource: legacySource}
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// checkCopy checks the copy is exactly what the bootstrap's legacy path reads, or absent.
func checkCopy(t *testing.T, c *cluster.Cluster, ns string, want bool) {
	t.Helper()
	got, err := c.Client.CoreV1().Secrets(ns).Get(context.Background(), legacyCopy, metav1.GetOptions{})
	if !want {
		if err == nil && len(got.Data[credential.KeyClientPassword]) > 0 {
			t.Errorf("copy-legacy left a copy %s/%s holding a password; want none", ns, legacyCopy)
		}
		return
	}
	if err != nil {
		t.Fatalf("the copy: %v", err)
	}
	data := map[string]string{}
	for k, v := range got.Data {
		data[k] = string(v)
	}
	wantData := map[string]string{credential.KeyClientID: legacyID, credential.KeyClientPassword: legacyPassword}
	if diff := cmp.Diff(wantData, data); diff != "" || got.Type != corev1.SecretTypeOpaque || got.Labels[credential.LabelLegacyCopy] != "true" ||
		got.Annotations[credential.AnnLegacySource] != legacySource {
		t.Errorf("the copy: type %s, labels %v, annotations %v, data (-want +got):\n%s", got.Type, got.Labels, got.Annotations, diff)
	}
}

// hookKubeconfig writes a kubeconfig of a fresh ServiceAccount of ns, bound (when withRole)
// to the hook's least-privilege Role.
func hookKubeconfig(t *testing.T, c *cluster.Cluster, ns string, withRole bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "hook"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if withRole {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "hook"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{legacyCred, legacySource, legacyCopy}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "hook"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "hook"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "hook", Namespace: ns}}}
		if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rc := c.RESTFor(clustertest.Token(t, c, ns, "hook"))
	if withRole {
		clustertest.WaitAllowed(t, c, clustertest.ServiceAccount(ns, "hook"),
			authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "secrets"},
			authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: legacySource})
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.CAFile, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos["hook"] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	cfg.Contexts["hook"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "hook", Namespace: ns}
	cfg.CurrentContext = "hook"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
