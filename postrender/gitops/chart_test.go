package gitops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// platformValues are the values a platform must give the client chart (it has no default
// storage class); the rest are the edge chart's defaults.
var platformValues = []string{"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard"}

// helmTemplate renders the chart in dir as the release "edge" in namespace, with the
// chart's default values and platformValues.
func helmTemplate(t *testing.T, dir string, extra ...string) []byte {
	t.Helper()
	args := append(append([]string{"template", "edge", dir, "-n", namespace}, platformValues...), extra...)
	cmd := exec.Command(clustertest.Tool(t, "helm"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	return out
}

// maskSecretData hides the values of Secrets' data: the client chart makes some of them
// at random on each render (the kept ones come from lookup), so two renders differ there.
func maskSecretData(o *Object) {
	if o.Kind != "Secret" {
		return
	}
	if data, ok := o.Value["data"].(map[string]any); ok {
		for k := range data {
			data[k] = "(masked)"
		}
	}
}

// TestPatchesEdgeChart renders the edge chart with the real tracebloc/client chart,
// post-renders it, compares the list of edits with its golden file (the list of what the
// post-renderer does; the rendered output itself is not committed), and checks with the
// real kustomize that the patches of the Flux block make the post-renderer's output.
func TestPatchesEdgeChart(t *testing.T) {
	if testing.Short() {
		t.Skip("helm and kustomize: not under -short")
	}
	dir := chartdeps.DirWithClient(t)
	rendered := helmTemplate(t, dir)
	res := postRender(t, rendered)
	if res.Release != "edge" || len(res.Wired) == 0 {
		t.Fatalf("post-render of the edge chart: release %q, wired %v; want release edge and the client chart wired", res.Release, res.Wired)
	}
	patches, err := Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		t.Fatalf("Patches: %v", err)
	}
	goldenEdits(t, "edge-chart-edits.txt", patches)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "rendered.yaml"), rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	sameObjects(t, res.Output, kustomize(t, work, fluxKustomization(t, patches)), nil)
}

// TestPatchesWithExtraCA: with backend.caBundle the wiring also gives the client's
// containers the CA bundle; the Flux patches make that output too.
func TestPatchesWithExtraCA(t *testing.T) {
	if testing.Short() {
		t.Skip("helm and kustomize: not under -short")
	}
	rendered := helmTemplate(t, chartdeps.DirWithClient(t), "--set", "backend.caBundle.configMapName=corp-ca")
	res := postRender(t, rendered)
	if !bytes.Contains(res.Output, []byte("REQUESTS_CA_BUNDLE")) {
		t.Fatal("the post-renderer's output has no CA bundle variables: the wiring did not take spec.trust")
	}
	patches, err := Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		t.Fatalf("Patches: %v", err)
	}
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "rendered.yaml"), rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	sameObjects(t, res.Output, kustomize(t, work, fluxKustomization(t, patches)), nil)
}

// TestKustomizeHelmCharts is Argo CD's path: `kustomize build --enable-helm` over the
// kustomization that --format kustomize prints, which inflates the chart itself (from a
// local chart home here) and makes the patches. It must give the post-renderer's output
// of the same chart and values, Secret values aside (made at random on each render).
func TestKustomizeHelmCharts(t *testing.T) {
	if testing.Short() {
		t.Skip("helm and kustomize: not under -short")
	}
	dir := chartdeps.DirWithClient(t)
	rendered := helmTemplate(t, dir)
	res := postRender(t, rendered)
	patches, err := Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		t.Fatalf("Patches: %v", err)
	}
	work := t.TempDir()
	values := filepath.Join(work, "values.yaml")
	if err := os.WriteFile(values, []byte("client:\n  storageClass: {create: false, name: standard}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var k bytes.Buffer
	err = WriteKustomization(&k, patches, Release{Name: res.Release, Namespace: res.Namespace, ClusterID: res.ClusterID},
		Chart{Name: filepath.Base(dir), Home: filepath.Dir(dir), ValuesFile: values})
	if err != nil {
		t.Fatal(err)
	}
	out := kustomize(t, work, k.Bytes(), "--enable-helm", "--helm-command", clustertest.Tool(t, "helm"))
	sameObjects(t, res.Output, out, maskSecretData)
}
