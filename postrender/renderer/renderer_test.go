package renderer

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/postrender/pins"
	"github.com/tracebloc/edge/postrender/transform"
)

// Renderer is what Helm's in-process API takes.
var _ postrender.PostRenderer = (*Renderer)(nil)

const testChart = "../testdata/chart"

// TestHelm3InProcess renders the test chart with Helm 3's own install action (client only,
// no cluster) and the Renderer as its post-renderer: the stream is exactly what Helm 3
// sends, `# Source:` lines and install order included.
func TestHelm3InProcess(t *testing.T) {
	chrt, err := loader.Load(testChart)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse([]byte("images:\n- name: docker.io/tracebloc/jobs-manager\n  tag: prod\n  digest: sha256:" + strings.Repeat("b", 64) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: t.Logf})
	install.ClientOnly, install.DryRun = true, true
	install.ReleaseName, install.Namespace = "edge", "release-ns"
	install.PostRenderer = New(Config{Offline: true, ClusterID: "test-cluster", Pins: set})
	rel, err := install.Run(chrt, map[string]any{})
	if err != nil {
		t.Fatalf("helm install --dry-run with the post-renderer: %v", err)
	}
	objects, err := kio.FromBytes([]byte(rel.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	type summary struct{ Namespace, Label string }
	got := map[string]summary{}
	for _, o := range objects {
		got[o.GetKind()+"/"+o.GetName()] = summary{o.GetNamespace(), o.GetLabels()[names.ClusterIDLabel]}
	}
	want := map[string]summary{
		"ServiceAccount/edge-bootstrap":             {"release-ns", "test-cluster"},
		"ConfigMap/edge-config":                     {"release-ns", "test-cluster"},
		"Role/edge-bootstrap":                       {"release-ns", "test-cluster"},
		"RoleBinding/edge-bootstrap":                {"release-ns", "test-cluster"},
		"ClusterRole/release-ns-edge-reader":        {"", "test-cluster"},
		"ClusterRoleBinding/release-ns-edge-reader": {"", "test-cluster"},
		"Deployment/edge":                           {"release-ns", "test-cluster"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("post-rendered objects (-want +got):\n%s", diff)
	}
	for _, o := range objects {
		switch o.GetKind() {
		case "Deployment":
			assertField(t, o, "test-cluster", "spec", "template", "metadata", "labels", names.ClusterIDLabel)
			assertField(t, o, "docker.io/tracebloc/jobs-manager@sha256:"+strings.Repeat("b", 64), "spec", "template", "spec", "containers", "[name=app]", "image")
			assertField(t, o, "", "spec", "selector", "matchLabels", names.ClusterIDLabel)
		case "RoleBinding", "ClusterRoleBinding":
			assertField(t, o, "release-ns", "subjects", "[name=edge-bootstrap]", "namespace")
		}
	}
	if !strings.Contains(rel.Manifest, "# Source: edge-test/templates/deployment.yaml") {
		t.Errorf("the manifest lost its # Source: lines:\n%s", rel.Manifest)
	}
}

func assertField(t *testing.T, o *yaml.RNode, want string, path ...string) {
	t.Helper()
	n, err := o.Pipe(yaml.Lookup(path...))
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if n != nil {
		got = yaml.GetValue(n)
	}
	if got != want {
		t.Errorf("%s %s: %s = %q, want %q", o.GetKind(), o.GetName(), strings.Join(path, "."), got, want)
	}
}

func TestRunBuffers(t *testing.T) {
	r := New(Config{Offline: true, Namespace: "ns"})
	out, err := r.Run(bytes.NewBufferString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n"; out.String() != want {
		t.Errorf("Run = %q, want %q", out, want)
	}
	if _, err := r.Run(bytes.NewBufferString("kind: [\n")); err == nil {
		t.Error("Run(malformed) succeeded, want an error")
	}
	empty, err := r.Run(&bytes.Buffer{})
	if err != nil || empty.Len() != 0 {
		t.Errorf("Run(empty) = %q, %v; want empty, nil", empty, err)
	}
}

// labelValueRule is Kubernetes' label value rule as its regexp; labelValue is held to it.
var labelValueRule = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)

func TestLabelValue(t *testing.T) {
	for _, tc := range []struct {
		name, v string
		want    bool
	}{
		{"empty", "", true},
		{"one character", "a", true},
		{"uid", "0b7ab7e4-5f0a-4c43-9a57-2f1f0e3c9d11", true},
		{"inner dot and underscore", "a.b_c", true},
		{"63 characters", strings.Repeat("a", 63), true},
		{"64 characters", strings.Repeat("a", 64), false},
		{"dash first", "-a", false},
		{"dot last", "a.", false},
		{"slash", "a/b", false},
		{"space", "a b", false},
		{"non-ASCII", "é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := labelValue(tc.v); got != tc.want {
				t.Errorf("labelValue(%q) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "a", "a-b", "-", "a.", strings.Repeat("z", 63), strings.Repeat("z", 64), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := labelValue(v), labelValueRule.MatchString(v); got != want {
			t.Errorf("labelValue(%q) = %v, want %v (the rule's regexp)", v, got, want)
		}
	})
}

// TestRenderParsed: a stream whose parse started before the render renders as the same
// stream read by the render, and an empty one gives nothing without asking the cluster.
func TestRenderParsed(t *testing.T) {
	input := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: b\n"
	r := New(Config{Offline: true, Namespace: "ns", ClusterID: "c1"})
	want, err := r.Render(context.Background(), strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Render(context.Background(), transform.ParseAhead(strings.NewReader(input)))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Render(ParseAhead) = %q, %v; want %q", got, err, want)
	}
	// Not offline: an empty stream must not reach the cluster (there is none here).
	online := New(Config{Kubeconfig: filepath.Join(t.TempDir(), "none")})
	empty, err := online.Render(context.Background(), transform.ParseAhead(strings.NewReader("")))
	if err != nil || len(empty) != 0 {
		t.Errorf("Render(ParseAhead(empty)) = %q, %v; want nothing, no error", empty, err)
	}
	if _, err := online.Render(context.Background(), transform.ParseAhead(strings.NewReader(input))); err == nil {
		t.Error("Render with no cluster succeeded; the empty case above proves nothing")
	}
}
