package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/ociimage"
)

// TestPodPullsFromRegistry: an image pushed to the instance's registry under its ghcr.io
// name runs in a pod that names it ghcr.io/...@sha256:<digest>, and containerd got it by
// a pull: the registry's access log shows the manifest fetched by digest, and containerd
// holds the image under the ghcr.io name.
func TestPodPullsFromRegistry(t *testing.T) {
	c := clustertest.Get(t)
	// A run-id file makes the digest new, so no earlier run's image is present already.
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	img := buildProbeImage(t, []ociimage.File{{Path: "/run-id", Mode: 0o644, Data: []byte(hex.EncodeToString(id))}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	digest, err := c.PushImage(ctx, img, probeRepo+":pull-test")
	if err != nil {
		t.Fatal(err)
	}
	pinned := probeRepo + "@" + digest
	if images, err := c.Images(ctx); err != nil {
		t.Fatal(err)
	} else if slices.Contains(images, pinned) {
		t.Fatalf("containerd holds %s before any pod asked for it", pinned)
	}

	ns := clustertest.Namespace(t, c)
	pod := probePod("pull", pinned)
	c.PrepareForLoopback(&pod.Spec)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done, err := c.WaitPod(ctx, ns, "pull", cluster.PodFinishedOrStuck)
	if err != nil {
		t.Fatal(err)
	}
	if stuck := cluster.StuckReason(done); stuck != "" {
		t.Fatalf("pod of %s stuck: %s", pinned, stuck)
	}
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod of %s phase = %s, want Succeeded", pinned, done.Status.Phase)
	}
	if got := done.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(got, "@"+digest) {
		t.Errorf("container image ID = %s, want one ending in @%s", got, digest)
	}

	images, err := c.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(images, pinned) {
		t.Errorf("containerd images = %v, want %s among them", images, pinned)
	}
	log, err := os.ReadFile(filepath.Join(c.LogDir(), "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	fetch := "GET /v2/tracebloc/edge-probe/manifests/" + digest
	if !strings.Contains(string(log), fetch) {
		t.Errorf("the registry's log has no %q: containerd did not pull the image from it", fetch)
	}
}
