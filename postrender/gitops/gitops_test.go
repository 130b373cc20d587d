package gitops

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/postrender/renderer"
)

var update = flag.Bool("update", false, "rewrite the golden lists of edits in testdata")

const (
	testClusterID = "0b7ab7e4-5f0a-4c43-9a57-2f1f0e3c9d11"
	namespace     = "tracebloc"
)

// postRender runs the post-renderer over rendered as Helm would, without a cluster.
func postRender(t *testing.T, rendered []byte) renderer.Result {
	t.Helper()
	res, err := renderer.New(renderer.Config{Offline: true, ClusterID: testClusterID, Namespace: namespace}).
		RenderResult(context.Background(), bytes.NewReader(rendered))
	if err != nil {
		t.Fatalf("post-render: %v", err)
	}
	return res
}

// goldenEdits compares the list of edits with testdata/<name>.
func goldenEdits(t *testing.T, name string, patches []Patch) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteEdits(&b, patches); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("edits (-want +got):\n%s\nAfter a change of the chart that changes what the post-renderer does, check the diff and rewrite the list: go test ./postrender/gitops -run %s -update", diff, t.Name())
	}
}

// kustomize runs `kustomize build` on dir with the kustomization k.
func kustomize(t *testing.T, dir string, k []byte, args ...string) []byte {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clustertest.Tool(t, "kustomize"), append([]string{"build", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build: %v\n%s\nkustomization:\n%s", err, stderr.String(), k)
	}
	return out
}

// fluxKustomization is what Flux's helm-controller runs: the rendered manifests as the
// resources, with the patches of the printed spec.postRenderers.
func fluxKustomization(t *testing.T, patches []Patch) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteFlux(&b, patches, Release{Name: "edge", Namespace: namespace}); err != nil {
		t.Fatal(err)
	}
	printed := b.String()
	i := strings.Index(printed, "postRenderers:")
	if i < 0 {
		t.Fatalf("WriteFlux printed no postRenderers:\n%s", printed)
	}
	// The printed block is postRenderers[0].kustomize.patches; a kustomization takes the
	// same list under patches.
	lines := strings.Split(printed[i:], "\n")
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- rendered.yaml\npatches:\n")
	for _, l := range lines[3:] {
		k.WriteString(strings.TrimPrefix(l, "    ") + "\n")
	}
	return []byte(k.String())
}

// sameObjects compares two streams parsed, object by object, not as text.
func sameObjects(t *testing.T, want, got []byte, mask func(*Object)) {
	t.Helper()
	index := func(stream []byte) map[string]any {
		objs, err := Decode(stream)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for _, o := range objs {
			if o.Namespace == "" {
				o.Namespace = namespace // Helm puts it there
			}
			if mask != nil {
				mask(&o)
			}
			m[fmt.Sprintf("%s %s %s/%s", o.APIVersion, o.Kind, o.Namespace, o.Name)] = o.Value
		}
		return m
	}
	if diff := cmp.Diff(index(want), index(got)); diff != "" {
		t.Errorf("objects (-post-renderer +kustomize with the patches):\n%s", diff)
	}
}

// TestPatchesFixture makes the patches for the wiring package's client-chart-shaped
// fixture, compares the list of edits with its golden file, and checks with the real
// kustomize that the patches make what the post-renderer makes.
func TestPatchesFixture(t *testing.T) {
	rendered, err := os.ReadFile("../wiring/testdata/client/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := postRender(t, rendered)
	patches, err := Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		t.Fatalf("Patches: %v", err)
	}
	goldenEdits(t, "fixture-edits.txt", patches)
	if testing.Short() {
		t.Skip("kustomize: not under -short")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	sameObjects(t, res.Output, kustomize(t, dir, fluxKustomization(t, patches)), nil)
}

// TestPatchesFailOnAnotherRender checks with the real kustomize that the patches refuse a
// chart rendered otherwise than the one they were made for, instead of editing the wrong
// list entry: here the jobs-manager's api container lists CLIENT_PASSWORD first.
func TestPatchesFailOnAnotherRender(t *testing.T) {
	if testing.Short() {
		t.Skip("kustomize: not under -short")
	}
	rendered, err := os.ReadFile("../wiring/testdata/client/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := postRender(t, rendered)
	patches, err := Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	s := string(rendered)
	api := s[strings.Index(s, "        - name: api\n"):]
	first := "            - name: CLIENT_ID\n              valueFrom:\n                secretKeyRef:\n                  name: edge-secrets\n                  key: CLIENT_ID\n"
	if !strings.Contains(api, first) {
		t.Fatal("the fixture's api container changed: fix the test")
	}
	other := strings.Replace(s, first, "", 1)
	other = strings.Replace(other, "                  key: POD_TOKEN_SIGNING_SECRET\n", "                  key: POD_TOKEN_SIGNING_SECRET\n"+first, 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), fluxKustomization(t, patches), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(clustertest.Tool(t, "kustomize"), "build", dir).CombinedOutput()
	if err == nil {
		t.Fatalf("kustomize build of another render with the patches succeeded, want a failed test op:\n%s", out)
	}
	if !strings.Contains(string(out), "testing value") {
		t.Errorf("kustomize build failed for another reason than a test op:\n%s", out)
	}
}
