package bootstrapimage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/ociimage"
)

// BenchmarkPullAndStart measures, on the local cluster's node, a pod of the bootstrap
// image from its creation to the image pulled (the kubelet's Pulled event) and to its
// container started (the pod's status), both as a watch delivers them. The image is
// never on the node already: each iteration pushes the release index (Assemble of the
// bootstrap built from HEAD, then Push) with a CA bundle that ends in a comment line of
// its own, so that its layers are new to containerd and the whole layer is downloaded,
// as on a node that never ran it. The container runs `--version`, which exits at once.
//
//	TRACEBLOC_TEST_CLUSTER=<instance> go test -run '^$' -bench PullAndStart -benchtime 5x ./internal/release/bootstrapimage/
//
// Metrics, the mean over the iterations: pulled-ms and started-ms from the pod's
// creation, kubelet-pull-ms the pull as the kubelet timed it (its event's "in 1.2s").
// The kubelet notices a started container at its next relist (each second), so
// started-ms has that granularity. Pushing and assembling are outside the timer.
func BenchmarkPullAndStart(b *testing.B) {
	c := clustertest.Get(b)
	bins := benchBinaries(b)
	g := clusterRegistry(b, c)
	ns := clustertest.Namespace(b, c)
	base := benchRelease(b)
	ca, err := os.ReadFile(base.CABundle)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var pulled, started, kubeletPull time.Duration
	var images []string
	b.Cleanup(func() { removeImages(b, c, images) })
	n := 0
	for b.Loop() {
		b.StopTimer()
		ref, id, layer := pushFresh(b, g, base, bins, ca, dir)
		images = append(images, ref, id)
		b.StartTimer()
		m := pullAndStart(b, c, ns, fmt.Sprintf("pull-%d", n), ref)
		b.StopTimer()
		b.Logf("%s: %d bytes to pull; pulled after %s (the kubelet's pull %s), started after %s", ref, layer, m.pulled, m.kubeletPull, m.started)
		pulled += m.pulled
		started += m.started
		kubeletPull += m.kubeletPull
		n++
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(n) }
	b.ReportMetric(ms(pulled), "pulled-ms")
	b.ReportMetric(ms(started), "started-ms")
	b.ReportMetric(ms(kubeletPull), "kubelet-pull-ms")
}

// pushFresh assembles and pushes the release index with a CA bundle and a revision of its
// own, and returns the reference a pod runs it by (ghcr.io/...@sha256:<index>), the image
// ID the node will know it by (its config's digest) and the size of the layer it pulls.
func pushFresh(b *testing.B, g Registry, base Release, bins map[Platform]string, ca []byte, dir string) (ref, id string, layer int64) {
	b.Helper()
	runID := make([]byte, 20)
	if _, err := rand.Read(runID); err != nil {
		b.Fatal(err)
	}
	run := hex.EncodeToString(runID)
	r := base
	r.Revision = run
	r.CABundle = filepath.Join(dir, "ca-"+run+".crt")
	// Text outside the PEM blocks is ignored by every reader of the bundle.
	if err := os.WriteFile(r.CABundle, append(slices.Clip(ca), []byte("\n# pull-and-start run "+run+"\n")...), 0o644); err != nil {
		b.Fatal(err)
	}
	built, err := Assemble(r, bins)
	if err != nil {
		b.Fatalf("Assemble() error = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pushed, err := Push(ctx, g, built, "pullstart-"+run[:12])
	if err != nil {
		b.Fatalf("Push() error = %v", err)
	}
	sizes, err := Sizes(built)
	if err != nil {
		b.Fatal(err)
	}
	for i, s := range sizes {
		if s.Platform != nodePlatform() {
			continue
		}
		cfg, err := built.Images[i].Image.ConfigName()
		if err != nil {
			b.Fatal(err)
		}
		id, layer = cfg.String(), s.Compressed
	}
	return "ghcr.io/" + Repository + "@" + pushed.Index, id, layer
}

// nodePlatform is the platform of the local cluster's node, this machine.
func nodePlatform() Platform { return Platform{OS: "linux", Arch: runtime.GOARCH} }

// pullTimes are one pod's figures.
type pullTimes struct {
	pulled, started, kubeletPull time.Duration
}

// kubeletPullRE finds the kubelet's own timing in its Pulled event, as in
// `Successfully pulled image "..." in 1.234s (1.234s including waiting)`.
var kubeletPullRE = regexp.MustCompile(`^Successfully pulled image "[^"]*" in ([0-9.]+[mµn]?s)`)

// pullAndStart creates a pod running ref --version and watches it and its events until
// the image is pulled and the container has started.
func pullAndStart(b *testing.B, c *cluster.Cluster, ns, podName, ref string) pullTimes {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + podName})
	if err != nil {
		b.Fatal(err)
	}
	defer pods.Stop()
	events, err := c.Client.CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + podName})
	if err != nil {
		b.Fatal(err)
	}
	defer events.Stop()

	pod := versionPod(podName, ref)
	c.PrepareForLoopback(&pod.Spec)
	created := time.Now()
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		grace := int64(0)
		_ = c.Client.CoreV1().Pods(ns).Delete(context.Background(), podName, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	}()
	var m pullTimes
	for m.pulled == 0 || m.started == 0 {
		select {
		case <-ctx.Done():
			b.Fatalf("pod %s/%s of %s: no Pulled event or started container within 3 minutes (pulled after %s, started after %s)", ns, podName, ref, m.pulled, m.started)
		case ev, ok := <-pods.ResultChan():
			if !ok {
				b.Fatalf("the watch of pod %s/%s ended", ns, podName)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			if stuck := cluster.StuckReason(p); stuck != "" {
				b.Fatalf("pod %s/%s of %s is stuck: %s", ns, podName, ref, stuck)
			}
			if m.started == 0 && containerStarted(b, p) {
				m.started = time.Since(created)
			}
		case ev, ok := <-events.ResultChan():
			if !ok {
				b.Fatalf("the watch of pod %s/%s's events ended", ns, podName)
			}
			e, isEvent := ev.Object.(*corev1.Event)
			if !isEvent || e.Reason != "Pulled" || m.pulled != 0 {
				continue
			}
			m.pulled = time.Since(created)
			match := kubeletPullRE.FindStringSubmatch(e.Message)
			if match == nil {
				b.Fatalf("pod %s/%s: Pulled event %q, want a pull (the image must not be on the node)", ns, podName, e.Message)
			}
			if m.kubeletPull, err = time.ParseDuration(match[1]); err != nil {
				b.Fatalf("pod %s/%s: Pulled event %q: %v", ns, podName, e.Message, err)
			}
		}
	}
	return m
}

// containerStarted says whether the pod's container has started: running, or ended after
// a start with exit code 0 (--version exits at once).
func containerStarted(b *testing.B, p *corev1.Pod) bool {
	b.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running != nil {
			return true
		}
		if t := s.State.Terminated; t != nil {
			if t.ExitCode != 0 {
				b.Fatalf("pod %s/%s: the bootstrap's --version ended with exit code %d (%s: %s)", p.Namespace, p.Name, t.ExitCode, t.Reason, t.Message)
			}
			return true
		}
	}
	return false
}

// versionPod runs the bootstrap's --version as the chart runs the bootstrap: nonroot,
// read-only root file system, no capabilities.
func versionPod(podName, ref string) *corev1.Pod {
	yes, no := true, false
	uid := int64(ociimage.NonrootUID)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "bootstrap",
				Image:           ref,
				Args:            []string{"--version"},
				ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// removeImages deletes the images the benchmark pulled from the node's containerd (the
// kubelet's namespace), so that its runs do not pile up there; a failure is only logged.
func removeImages(b *testing.B, c *cluster.Cluster, refs []string) {
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--address", c.ContainerdSocket, "-n", "k8s.io", "images", "rm"}, refs...)
	if out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput(); err != nil {
		b.Logf("remove the benchmark's images from the node: %v: %s", err, strings.TrimSpace(string(out)))
	}
}
