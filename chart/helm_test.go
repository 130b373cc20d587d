package chart_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/names"
)

// helmCLI runs a helm binary (helm or helm4 of the tool cache) with homes of its own
// and the given environment, and returns its combined output.
func helmCLI(t *testing.T, tool string, env []string, args ...string) (string, error) {
	t.Helper()
	bin := clustertest.Tool(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	for _, k := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		cmd.Env = append(cmd.Env, k+"="+filepath.Join(home, strings.ToLower(k)))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// valuesFile writes values into a file of the test for -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// helmTemplate runs `helm template edge <dir> -n tracebloc -f <values>` with the real CLI.
func helmTemplate(t *testing.T, dir, values string) (string, error) {
	t.Helper()
	return helmCLI(t, "helm", nil, "template", release, dir, "-n", namespace, "-f", valuesFile(t, values))
}

// object is one rendered manifest, as the API server would read it.
type object map[string]any

func (o object) str(path ...string) string {
	var v any = map[string]any(o)
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (o object) kind() string { return o.str("kind") }
func (o object) name() string { return o.str("metadata", "name") }
func (o object) ns() string   { return o.str("metadata", "namespace") }

// splitManifests decodes helm's output into objects, failing the test on a document that
// is not YAML.
func splitManifests(t *testing.T, out string) []object {
	t.Helper()
	var objs []object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("split helm's output: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("helm's output: %v\n%s", err, doc)
		}
		objs = append(objs, o)
	}
}

func find(objs []object, kind, ns, name string) object {
	for _, o := range objs {
		if o.kind() == kind && o.ns() == ns && o.name() == name {
			return o
		}
	}
	return nil
}

// TestHelmTemplateWithClient renders the chart with its dependency with the helm CLI:
// the client chart's objects are there as the post-renderer expects to find them, the
// wiring object carries the whole bootstrap init container, and every ServiceAccount the
// edge chart binds or runs pods as is rendered (the client chart's jobs-manager's).
func TestHelmTemplateWithClient(t *testing.T) {
	dir := chartdeps.DirWithClient(t)
	out, err := helmTemplate(t, dir, clientPlatform)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := splitManifests(t, out)
	clientChart := "client-" + names.ClientChartVersion
	jm := find(objs, "Deployment", namespace, "edge-jobs-manager")
	if jm == nil || jm.str("metadata", "labels", names.HelmChartLabel) != clientChart || jm.str("metadata", "labels", names.AppNameLabel) != names.ClientChartName {
		t.Fatalf("no Deployment %s/edge-jobs-manager labelled %s=%s, %s=%s", namespace, names.HelmChartLabel, clientChart, names.AppNameLabel, names.ClientChartName)
	}
	for _, want := range []struct{ kind, ns, name string }{
		{"ServiceAccount", namespace, "edge-jobs-manager"},
		{"Secret", namespace, "edge-secrets"},
		{"Namespace", "", "tracebloc-node-agents"},
		{"Secret", "tracebloc-node-agents", "edge-secrets"},
		{"DaemonSet", "tracebloc-node-agents", "edge-resource-monitor"},
		{"Role", "tracebloc-node-agents", "edge-bootstrap"},
		{names.WiringKind, namespace, "edge-install-with-post-renderer-tracebloc-postrender"},
	} {
		if find(objs, want.kind, want.ns, want.name) == nil {
			t.Errorf("no %s %s/%s rendered", want.kind, want.ns, want.name)
		}
	}
	if find(objs, "Deployment", namespace, "edge-enrollment") != nil {
		t.Errorf("the enrollment Deployment is rendered with the client chart")
	}
	var wiring *wiringObject
	for _, doc := range strings.Split(out, "\n---\n") {
		if w := decodeWiring(t, "helm template", []byte(doc)); w != nil {
			wiring = w
		}
	}
	inProcess := render(t, "").wiring
	if wiring == nil || inProcess == nil {
		t.Fatalf("wiring object: helm template %v, in-process render %v; want both", wiring != nil, inProcess != nil)
	}
	if diff := cmp.Diff(inProcess.Spec, wiring.Spec); diff != "" {
		t.Errorf("the wiring's spec with the client chart differs from the edge chart's alone (-alone +with client):\n%s", diff)
	}
	checkServiceAccounts(t, objs)
}

// checkServiceAccounts: every ServiceAccount a binding names or a pod runs as is rendered.
func checkServiceAccounts(t *testing.T, objs []object) {
	t.Helper()
	for _, o := range objs {
		if o.kind() != "RoleBinding" && o.kind() != "ClusterRoleBinding" || !strings.HasPrefix(o.name(), "edge-bootstrap") {
			continue
		}
		subjects, _ := o["subjects"].([]any)
		for _, s := range subjects {
			sub := object(s.(map[string]any))
			if find(objs, "ServiceAccount", sub.str("namespace"), sub.str("name")) == nil {
				t.Errorf("%s %s binds ServiceAccount %s/%s, which is not rendered", o.kind(), o.name(), sub.str("namespace"), sub.str("name"))
			}
		}
	}
}

// TestHelmTemplateWithoutClient: client.enabled=false renders the enrollment Deployment
// and its ServiceAccount, no wiring object and nothing of the client chart. It runs on a
// plain clone too (the copy then has no dependency).
func TestHelmTemplateWithoutClient(t *testing.T) {
	dir, _ := chartdeps.Dir(t)
	out, err := helmTemplate(t, dir, disabled)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := splitManifests(t, out)
	for _, want := range []struct{ kind, name string }{{"Deployment", "edge-enrollment"}, {"ServiceAccount", "edge-enrollment"}} {
		if find(objs, want.kind, namespace, want.name) == nil {
			t.Errorf("no %s %s/%s rendered", want.kind, namespace, want.name)
		}
	}
	for _, o := range objs {
		labels, _ := o["metadata"].(map[string]any)["labels"].(map[string]any)
		if chart, _ := labels[names.HelmChartLabel].(string); strings.HasPrefix(chart, names.ClientChartName+"-") || o.kind() == names.WiringKind {
			t.Errorf("%s %s rendered with client.enabled=false", o.kind(), o.name())
		}
	}
	checkServiceAccounts(t, objs)
}

// TestHelmRejects: through the helm CLI, with the client chart when it is there, the
// schema's and the templates' refusals reach the person as the in-process tests expect,
// and a credential put into the values is never repeated.
func TestHelmRejects(t *testing.T) {
	dir, withClient := chartdeps.Dir(t)
	base := clientPlatform
	if !withClient {
		base = disabled
	}
	type reject struct {
		name, values string
		want         []string
	}
	var cases []reject
	for _, c := range templateRejects() {
		if c.clientOnly && !withClient {
			continue
		}
		cases = append(cases, reject{"template: " + c.name, c.values, []string{c.want}})
	}
	for _, c := range schemaRejects() {
		cases = append(cases, reject{"schema: " + c.name, c.values, c.want})
	}
	// With the client chart its own checks come first and answer these in their words.
	clientFirst := map[string]string{
		"template: an empty client password": "at '/clientPassword': minLength: got 0, want 1",
		"schema: client as a string":         "type mismatch on client",
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if w, ok := clientFirst[tt.name]; ok && withClient {
				tt.want = []string{w}
			}
			out, err := helmTemplate(t, dir, merge(t, base, tt.values))
			if err == nil {
				t.Fatalf("helm template succeeded with\n%s\nwant it to refuse", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("helm's error lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, secretValue) {
				t.Errorf("helm's error repeats the credential of the values:\n%s", out)
			}
		})
	}
}

// TestHelmLintStrict runs `helm lint --strict` (the CLI) on the copy with its dependency,
// and with client.enabled=false.
func TestHelmLintStrict(t *testing.T) {
	dir, withClient := chartdeps.Dir(t)
	cases := []struct{ name, values string }{{"client disabled", disabled}}
	if withClient {
		cases = append(cases, struct{ name, values string }{"with the client chart", clientPlatform})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			out, err := helmCLI(t, "helm", nil, "lint", "--strict", dir, "-n", namespace, "-f", valuesFile(t, tt.values))
			if err != nil || !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[INFO]") {
				t.Errorf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}
