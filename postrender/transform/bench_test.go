package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// benchStream is a Helm 3 style stream of n mixed resources of about 240 bytes each, the
// shapes of scripts/bench-postrender.
func benchStream(n int) []byte {
	shapes := []string{
		"---\n# Source: b/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%[1]d\n  labels:\n    app.kubernetes.io/name: bench\ndata:\n  key: value-%[1]d\n  other: \"more data for %[1]d\"\n",
		"---\n# Source: b/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%[1]d\nspec:\n  selector:\n    matchLabels:\n      app: app-%[1]d\n  template:\n    metadata:\n      labels:\n        app: app-%[1]d\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n",
		"---\n# Source: b/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%[1]d\nspec:\n  selector:\n    app: app-%[1]d\n  ports:\n  - port: 80\n    targetPort: 8080\n",
		"---\n# Source: b/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%[1]d\n  labels:\n    app.kubernetes.io/name: bench\n    app.kubernetes.io/instance: bench\n",
		"---\n# Source: b/templates/rb.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb-%[1]d\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader\nsubjects:\n- kind: ServiceAccount\n  name: sa-%[1]d\n",
	}
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, shapes[i%len(shapes)], i)
	}
	return b.Bytes()
}

func BenchmarkStream(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		input := benchStream(n)
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			for b.Loop() {
				if _, err := Stream(bytes.NewReader(input), Options{Namespace: "bench", ClusterID: testClusterID}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamDeferred measures the stream when nothing gives the release namespace up
// front (Helm 3 with no post-renderer arguments), so that documents without one wait for
// the end.
func BenchmarkStreamDeferred(b *testing.B) {
	input := benchStream(1000)
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		if _, err := Stream(bytes.NewReader(input), Options{ClusterID: testClusterID}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor is the least a YAML-preserving post-renderer costs: yaml.v3 decode and
// encode of one document at a time, no edits (the floor of scripts/bench-postrender).
func BenchmarkFloor(b *testing.B) {
	input := benchStream(1000)
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		dec := yaml.NewDecoder(bytes.NewReader(input))
		var out bytes.Buffer
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
			out.WriteString("---\n")
			enc := yaml.NewEncoder(&out)
			if err := enc.Encode(&doc); err != nil {
				b.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
