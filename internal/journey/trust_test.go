package journey_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExtraCAReachesTheClient: the backend serves HTTPS under a certificate that only the
// chart's extra CA (backend.caBundle) vouches for, as behind a TLS-inspecting proxy. The
// bootstrap enrolls with it, and the client's workloads (jobs-manager's api and
// pods-monitor, the resource-monitor in the node-agents namespace) log in and bring the
// client online only because the post-renderer gave them the bootstrap's CA bundle.
func TestExtraCAReachesTheClient(t *testing.T) {
	w := newWorldServing(t, clusterName, withClient, true)
	ctx := w.ctx()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "corp-ca"}, Data: map[string]string{"ca.crt": string(w.caPEM)}}
	if _, err := w.c.Client.CoreV1().ConfigMaps(w.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	w.enroll("edge", w.ns, "--set", "backend.caBundle.configMapName=corp-ca")
	w.assertCredential(w.ns, "edge", "minted")
	w.waitOnline(ctx, w.ns, "edge", since)
	w.assertWorkloadsLoggedIn(ctx, w.ns, "edge")

	// The node-agents copy carries the bundle the resource-monitor mounts.
	if w.stage.ResourceMonitor() {
		cp, err := w.c.Client.CoreV1().Secrets(w.stage.NodeAgentsNamespace(w.ns)).Get(context.Background(), "edge-credentials", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cp.Data["ca-certificates.crt"]) == 0 {
			t.Errorf("the node-agents copy has no ca-certificates.crt (keys: %d)", len(cp.Data))
		}
	}
}
