package cluster_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// TestMetricsAPI: the APIService the client chart looks for is registered and Available,
// and the node's usage comes back through it (what `kubectl top node` reads): the
// metrics server scrapes the kubelet.
func TestMetricsAPI(t *testing.T) {
	c := clustertest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.MetricsAPIAvailable(ctx); err != nil {
		t.Fatal(err)
	}
	path := "/apis/metrics.k8s.io/v1beta1/nodes/" + cluster.NodeName
	// The first figures come after two scrapes (a CPU rate needs two samples).
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		data, err := c.Client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
		var m struct {
			Usage map[string]resource.Quantity `json:"usage"`
		}
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		cpu, mem := m.Usage["cpu"], m.Usage["memory"]
		if err == nil && !cpu.IsZero() && !mem.IsZero() {
			t.Logf("node %s: cpu %s, memory %s", cluster.NodeName, cpu.String(), mem.String())
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: no node usage: %v (%s)", path, err, data)
		case <-tick.C:
		}
	}
}
