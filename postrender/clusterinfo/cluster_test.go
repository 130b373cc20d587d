package clusterinfo

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/metadata"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/postrender/transform"
)

// TestClusterScopes reads the scopes both ways (aggregated discovery, which the local
// cluster serves, and the group-at-a-time fallback for older clusters) and checks them
// against kinds whose scope is known.
func TestClusterScopes(t *testing.T) {
	c := clustertest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewDiscoverer(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	aggregated, err := d.Scopes(ctx)
	if err != nil {
		t.Fatalf("Scopes: %v", err)
	}
	legacy, err := d.legacyScopes(ctx)
	if err != nil {
		t.Fatalf("legacyScopes: %v", err)
	}
	known := map[transform.GroupKind]bool{
		{Kind: "Namespace"}: true,
		{Kind: "ConfigMap"}: false,
		{Kind: "Secret"}:    false,
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         true,
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:         false,
		{Group: "apps", Kind: "Deployment"}:                               false,
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: true,
	}
	for name, scopes := range map[string]map[transform.GroupKind]bool{"aggregated": aggregated, "legacy": legacy} {
		for gk, want := range known {
			if got, ok := scopes[gk]; !ok || got != want {
				t.Errorf("%s discovery: scope of %v = %v (found %v), want cluster-scoped %v", name, gk, got, ok, want)
			}
		}
	}
}

func TestClusterID(t *testing.T) {
	c := clustertest.Get(t)
	client, err := metadata.NewForConfig(c.REST)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ClusterID(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if want := clustertest.KubeSystemUID(t, c); got != want {
		t.Errorf("ClusterID = %q, want the kube-system UID %q", got, want)
	}
}
