package cluster

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata from the current output")

// TestHostNetworkPoliciesGolden keeps the policies a reviewer reads in
// testdata/host-network-policies.yaml (for API server port 6443); the tests against the
// cluster show what they do.
func TestHostNetworkPoliciesGolden(t *testing.T) {
	policies, bindings := hostNetworkPolicies(6443)
	var got []byte
	for _, obj := range []any{policies, bindings} {
		data, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	golden := filepath.Join("testdata", "host-network-policies.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("hostNetworkPolicies(6443) (-want +got):\n%s", diff)
	}
}

func TestIsProvisionedFolder(t *testing.T) {
	tests := []struct {
		name, path string
		want       bool
	}{
		{name: "provisioned", path: "/tmp/hostpath_pv/0b7a9c6e-1f0e-4f7e-9d0a-2a1f3c4d5e6f", want: true},
		{name: "the root itself", path: "/tmp/hostpath_pv"},
		{name: "deeper", path: "/tmp/hostpath_pv/a/b"},
		{name: "escapes", path: "/tmp/hostpath_pv/../etc"},
		{name: "another hostPath", path: "/tracebloc/edge/logs"},
		{name: "dot", path: "/tmp/hostpath_pv/."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isProvisionedFolder(tc.path); got != tc.want {
				t.Errorf("isProvisionedFolder(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}
