package cluster_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tracebloc/edge/internal/cluster"
)

func TestZZDebug(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Open(ctx, cluster.Options{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportImage(ctx, buildProbeImage(t)); err != nil {
		t.Fatal(err)
	}
	pod := probePod("sleeper")
	pod.Spec.Containers[0].Args = []string{"sleep"}
	c.PrepareForLoopback(&pod.Spec)
	c.Client.CoreV1().Pods("default").Delete(ctx, "sleeper", metav1.DeleteOptions{})
	time.Sleep(2 * time.Second)
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.WaitPod(ctx, "default", "sleeper", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	t.Log(p.Status, err)
	for _, args := range [][]string{{"tasks", "ls"}, {"containers", "ls"}} {
		out, err := exec.Command("ctr", append([]string{"--address", c.ContainerdSocket, "-n", "k8s.io"}, args...)...).CombinedOutput()
		t.Logf("%s %v", out, err)
	}
	logs, err := c.PodLogs(ctx, "default", "sleeper", "probe")
	t.Log(logs, err)
}
