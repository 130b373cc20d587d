package journey_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// loggedIn is what a stand-in of the client chart's workloads prints once the machine
// credential worked (images/standin).
const loggedIn = "logged in with the machine credential"

// assertWorkloadsLoggedIn waits until each container of the client chart that reads the
// credential - jobs-manager's api and pods-monitor-container, and the resource-monitor of
// the node-agents namespace when it runs - is running and has logged in with it. The
// client being online shows that one of them did; this shows that every one did.
func (w *world) assertWorkloadsLoggedIn(ctx context.Context, ns, release string) {
	w.t.Helper()
	want := []struct{ ns, selector, container string }{
		{ns, "app=manager", "api"},
		{ns, "app=manager", "pods-monitor-container"},
	}
	if w.stage.ResourceMonitor() {
		want = append(want, struct{ ns, selector, container string }{w.stage.NodeAgentsNamespace(ns), "app=" + release + "-resource-monitor", ""})
	}
	for _, c := range want {
		if err := w.waitLoggedIn(ctx, c.ns, c.selector, c.container); err != nil {
			w.t.Errorf("%v\npods: %s", err, w.podStates(ctx, ns))
		}
	}
}

// waitLoggedIn polls the logs of the running pods of ns matching selector (container, or
// the pod's first container when empty) until one has logged in, or ctx ends.
func (w *world) waitLoggedIn(ctx context.Context, ns, selector, container string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := "no running pod"
	for {
		pods, err := w.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodRunning {
					continue
				}
				name := container
				if name == "" {
					name = p.Spec.Containers[0].Name
				}
				b, err := w.c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: name}).DoRaw(ctx)
				if err == nil && strings.Contains(string(b), loggedIn) {
					return nil
				}
				last = fmt.Sprintf("%s/%s container %s: %q", ns, p.Name, name, tail(string(b), 300))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no pod %s in %s logged in with the credential (%s)", selector, ns, last)
		case <-tick.C:
		}
	}
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
