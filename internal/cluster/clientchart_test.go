package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// TestClientChartSchedules installs the unmodified tracebloc/client chart as the harness
// documents it (its namespace and its node-agents namespace made by HostNetworkNamespace,
// the harness's StorageClass) and checks what the harness gives it: the install passes the
// chart's metrics API check, every claim binds, and every pod of both namespaces is
// admitted and scheduled on the host network with the loopback RuntimeClass. Whether the
// pods then run is for the images (stand-ins pushed to the registry), not the harness.
func TestClientChartSchedules(t *testing.T) {
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(root, "..", "shared", "thirdparty", "tracebloc-client")
	if _, err := os.Stat(filepath.Join(chart, "Chart.yaml")); err != nil {
		t.Skipf("no tracebloc/client chart beside the repository (%v): skipped", err)
	}
	c := clustertest.Get(t)
	helm := clustertest.Tool(t, "helm")
	clustertest.LockHostPorts(t)
	ns := clustertest.HostNetworkNamespace(t, c, nil)
	agents := clustertest.HostNetworkNamespace(t, c, nil)
	install := exec.Command(helm, "install", "client", chart, "-n", ns, "--kubeconfig", c.Kubeconfig,
		"--set", "clientId=placeholder", "--set", "clientPassword=placeholder",
		"--set", "storageClass.create=false", "--set", "storageClass.name="+cluster.StorageClass,
		"--set", "nodeAgents.namespace.create=false", "--set", "nodeAgents.namespace.name="+agents,
		"--set", "autoUpgrade.enabled=false")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("helm install the client chart: %v\n%s", err, out)
	}
	// Before the namespaces go (cleanups run last first): the chart's cluster-scoped
	// objects would stay and stop the next install.
	t.Cleanup(func() {
		out, err := exec.Command(helm, "uninstall", "client", "-n", ns, "--kubeconfig", c.Kubeconfig).CombinedOutput()
		if err != nil {
			t.Errorf("helm uninstall the client chart: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var why string
	for {
		now := clientChartWaiting(ctx, c, ns, agents)
		if now == "" {
			return
		}
		if ctx.Err() == nil {
			why = now // not the failure of a call cut short by the deadline
		}
		select {
		case <-ctx.Done():
			t.Fatalf("client chart in %s and %s: %s", ns, agents, why)
		case <-tick.C:
		}
	}
}

// clientChartWaiting says what of the client chart's release is not yet as the harness
// promises, or "" when every claim is bound and every pod of its workloads exists and is
// scheduled on the host network.
func clientChartWaiting(ctx context.Context, c *cluster.Cluster, ns, agents string) string {
	claims, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(claims.Items) == 0 {
		return fmt.Sprintf("no claims yet (%v)", err)
	}
	for _, pvc := range claims.Items {
		if pvc.Status.Phase != corev1.ClaimBound {
			return fmt.Sprintf("claim %s is %s", pvc.Name, pvc.Status.Phase)
		}
	}
	deployments, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(deployments.Items) == 0 {
		return fmt.Sprintf("no Deployments yet (%v)", err)
	}
	for _, d := range deployments.Items {
		if d.Spec.Replicas != nil && d.Status.Replicas < *d.Spec.Replicas {
			return fmt.Sprintf("Deployment %s has %d of %d pods", d.Name, d.Status.Replicas, *d.Spec.Replicas)
		}
	}
	daemonSets, err := c.Client.AppsV1().DaemonSets(agents).List(ctx, metav1.ListOptions{})
	if err != nil || len(daemonSets.Items) == 0 {
		return fmt.Sprintf("no DaemonSet in %s yet (%v)", agents, err)
	}
	for _, d := range daemonSets.Items {
		if d.Status.DesiredNumberScheduled == 0 || d.Status.CurrentNumberScheduled < d.Status.DesiredNumberScheduled {
			return fmt.Sprintf("DaemonSet %s has %d of %d pods", d.Name, d.Status.CurrentNumberScheduled, d.Status.DesiredNumberScheduled)
		}
	}
	for _, namespace := range []string{ns, agents} {
		pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, p := range pods.Items {
			rc := p.Spec.RuntimeClassName
			if !p.Spec.HostNetwork || rc == nil || *rc != cluster.LoopbackRuntimeClass || p.Spec.NodeName == "" {
				return fmt.Sprintf("pod %s/%s: hostNetwork %v, runtimeClassName %v, node %q", namespace, p.Name, p.Spec.HostNetwork, rc, p.Spec.NodeName)
			}
		}
	}
	return ""
}
