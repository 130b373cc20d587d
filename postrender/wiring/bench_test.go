package wiring

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tracebloc/edge/postrender/transform"
)

// benchStream is n generated resources of the shapes of scripts/bench-postrender, plus the
// client-chart-shaped fixture when wired is set.
func benchStream(b *testing.B, n int, wired bool) []byte {
	var s bytes.Buffer
	for i := range n {
		fmt.Fprintf(&s, "---\n# Source: b/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%[1]d\nspec:\n  selector:\n    matchLabels:\n      app: app-%[1]d\n  template:\n    metadata:\n      labels:\n        app: app-%[1]d\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%[1]d\ndata:\n  key: value-%[1]d\n", i)
	}
	if wired {
		data, err := os.ReadFile(filepath.Join("testdata", "client", "input.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		s.Write(data)
	}
	return s.Bytes()
}

// BenchmarkStream compares, at 1,000 resources, the transform alone, the transform with
// the wiring over a stream without the wiring object (what every other chart pays), and a
// stream that is wired (go test -run '^$' -bench . -benchmem ./postrender/wiring/).
func BenchmarkStream(b *testing.B) {
	for _, c := range []struct {
		name         string
		holder, wire bool
	}{{"transform-alone", false, false}, {"with-wiring-no-wiring-object", true, false}, {"wired", true, true}} {
		input := benchStream(b, 500, c.wire)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			for b.Loop() {
				opts := transform.Options{Namespace: "bench", ClusterID: testClusterID}
				if c.holder {
					opts.Holder = New()
				}
				if _, err := transform.Stream(bytes.NewReader(input), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
