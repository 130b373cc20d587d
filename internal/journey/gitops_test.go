package journey_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/internal/names"
)

// TestFluxPatches: the GitOps path without any post-renderer at install time. The chart
// rendered by `helm template`, the patches `tracebloc-postrender gitops` prints for a
// Flux HelmRelease applied by the real kustomize, the result applied server-side: the
// client chart's pods start with the bootstrap's credential and the client comes online.
func TestFluxPatches(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	ctx := w.ctx()
	rendered, err := w.stage.Template(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	suite.add("helm template ("+t.Name()+")", string(rendered))
	patches, err := w.stage.FluxPatches(ctx, rendered, w.ns)
	if err != nil {
		t.Fatal(err)
	}
	out, err := journey.Kustomize(ctx, clustertest.Tool(t, "kustomize"), t.TempDir(), rendered, patches)
	if err != nil {
		t.Fatal(err)
	}
	suite.add("kustomize build ("+t.Name()+")", string(out))
	since := time.Now()
	applied, err := w.stage.Apply(ctx, out, w.ns)
	t.Cleanup(func() {
		if err := w.stage.DeleteClusterScoped(context.Background(), applied); err != nil {
			t.Errorf("delete the cluster-scoped objects the test applied: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applied {
		if a.Kind == names.WiringKind {
			t.Errorf("the patched manifests still hold the wiring object %s", a.Name)
		}
	}
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	if codes := f.Codes(); len(codes) != 1 {
		t.Errorf("codes shown = %v, want exactly one", codes)
	}
	data, _ := w.assertCredential(w.ns, "edge", "minted")
	w.assertWired(ctx, w.ns, "edge", string(data["CLIENT_ID"]))
	w.waitOnline(ctx, w.ns, "edge", since)
	dep, err := w.c.Client.AppsV1().Deployments(w.ns).Get(ctx, "edge-jobs-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Template.Labels[names.ClusterIDLabel] != w.uid {
		t.Errorf("the patched jobs-manager lacks the cluster label: %v", dep.Spec.Template.Labels)
	}
}
