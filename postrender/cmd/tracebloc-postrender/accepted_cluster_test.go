package main

import (
	"path/filepath"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/postrender/gitops"
)

// TestClusterWiredObjectsAccepted renders the edge chart with the real tracebloc/client
// chart through the post-renderer and has the local cluster's API server validate every
// object it wrote (a server-side dry run of each create): the wired jobs-manager, the
// DaemonSet and the Secret are objects the API server takes.
func TestClusterWiredObjectsAccepted(t *testing.T) {
	c := clustertest.Get(t)
	chart := chartdeps.DirWithClient(t)
	ns, agents := clustertest.Namespace(t, c), clustertest.Namespace(t, c)
	env := helmEnv(t, filepath.Join(t.TempDir(), "no-kubeconfig"))
	out := helm(t, clustertest.Tool(t, "helm"), env, "template", "edge", chart, "-n", ns,
		"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard",
		"--set", "client.nodeAgents.namespace.name="+agents,
		"--post-renderer", filepath.Join(binary(t), "tracebloc-postrender"),
		"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1")
	objs, err := gitops.Decode([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dyn, err := dynamic.NewForConfig(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	checked := 0
	for _, o := range objs {
		if meta, _ := o.Value["metadata"].(map[string]any); meta != nil {
			if ann, _ := meta["annotations"].(map[string]any); ann["helm.sh/hook"] != nil {
				// Helm creates hooks after the release's objects, which a dry run never
				// creates (a test pod's ServiceAccount would be missing).
				continue
			}
		}
		checked++
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
		if err != nil {
			t.Errorf("%s: the cluster serves no such kind: %v", o, err)
			continue
		}
		u := &unstructured.Unstructured{Object: o.Value}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ri = dyn.Resource(m.Resource).Namespace(o.Namespace)
		}
		_, err = ri.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("%s: the API server refuses it: %v", o, err)
		}
	}
	if checked < 20 {
		t.Errorf("checked %d objects, want the client chart's (more than 20)", checked)
	}
}
