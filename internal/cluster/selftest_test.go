package cluster_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/ociimage"
)

// TestHarness is what the harness promises: two instances of its own side by side (two
// cluster ids, their own ports), each runs a pod of an image made by the image builder
// under the restricted Pod Security level, pulled from the instance's registry; the logs
// come back through the API server; then both are torn down and nothing of them is left:
// no recorded process, no mount, no containerd shim or container process, no cgroup, no
// folder (the folder of a volume still claimed included), nothing listening on the
// registry's port.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two local clusters: runs without -short (make test)")
	}
	clustertest.EnsureTools(t)
	image := buildProbeImage(t, nil)
	names := []string{"harness-selftest", "harness-selftest2"}

	clusters := make([]*cluster.Cluster, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		opts := cluster.Options{Name: name, Log: testLog{t}}
		// Start from nothing: a previous run may have left a broken instance.
		if err := cluster.Down(context.Background(), opts); err != nil {
			t.Fatalf("Down(%s) before the test: %v", name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			clusters[i], errs[i] = cluster.Up(ctx, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Up(%s): %v", names[i], err)
		}
	}
	t.Cleanup(func() {
		for _, name := range names {
			_ = cluster.Down(context.Background(), cluster.Options{Name: name})
		}
	})

	if a, b := clustertest.KubeSystemUID(t, clusters[0]), clustertest.KubeSystemUID(t, clusters[1]); a == b {
		t.Errorf("both clusters have kube-system UID %s, want two cluster ids", a)
	}
	if clusters[0].Ports == clusters[1].Ports {
		t.Errorf("both clusters use ports %+v", clusters[0].Ports)
	}

	for _, c := range clusters {
		t.Run(c.Name, func(t *testing.T) {
			checkIdempotentUp(t, c)
			runProbe(t, c, image)
		})
	}

	for _, c := range clusters {
		startSleeper(t, c)
		volume := boundVolume(t, c, "default", "left-for-down", corev1.ReadWriteOnce)
		pids := c.PIDs()
		if err := cluster.Down(context.Background(), cluster.Options{Name: c.Name}); err != nil {
			t.Fatalf("Down(%s): %v", c.Name, err)
		}
		checkNothingLeft(t, c, pids)
		if _, err := os.Stat(volume); err == nil {
			t.Errorf("volume folder %s of %s left", volume, c.Name)
		}
	}
}

// buildProbeImage builds testdata/probe statically and makes its image with package
// ociimage, as images/build does for the bootstrap, with the extra files.
func buildProbeImage(t *testing.T, extra []ociimage.File) v1.Image {
	dir := t.TempDir()
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	file, err := ociimage.HostFile(bin, "/probe")
	if err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(ociimage.NonrootUID)
	img, err := ociimage.Build(ociimage.Spec{
		Files:      append(append([]ociimage.File{file}, ociimage.NonrootFiles()...), extra...),
		Entrypoint: []string{"/probe"},
		User:       uid + ":" + uid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// probeRepo is named in a mirrored registry: containerd pulls it from the instance's own.
const probeRepo = "ghcr.io/tracebloc/edge-probe"

// checkIdempotentUp: a second Up returns the same instance and restarts nothing.
func checkIdempotentUp(t *testing.T, c *cluster.Cluster) {
	before := c.PIDs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	again, err := cluster.Up(ctx, cluster.Options{Name: c.Name})
	if err != nil {
		t.Fatalf("second Up(%s): %v", c.Name, err)
	}
	if again.Kubeconfig != c.Kubeconfig {
		t.Errorf("second Up(%s) kubeconfig = %s, want %s", c.Name, again.Kubeconfig, c.Kubeconfig)
	}
	if after := again.PIDs(); !equalMaps(before, after) {
		t.Errorf("second Up(%s) changed the processes: before %v, after %v", c.Name, before, after)
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func probePod(name, image string) *corev1.Pod {
	yes, no := true, false
	uid := int64(ociimage.NonrootUID)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				RunAsUser:      &uid,
				RunAsGroup:     &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "probe",
				Image:           image,
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

// runProbe pushes the probe image and runs it pinned by digest, as the post-renderer
// pins images.
func runProbe(t *testing.T, c *cluster.Cluster, image v1.Image) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	digest, err := c.PushImage(ctx, image, probeRepo+":test")
	if err != nil {
		t.Fatal(err)
	}
	pinned := probeRepo + "@" + digest
	ns := clustertest.Namespace(t, c)
	pods := c.Client.CoreV1().Pods(ns)

	// The spec meets the restricted level by itself: a dry run without the loopback
	// RuntimeClass is admitted ...
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := pods.Create(ctx, probePod("probe", pinned), dry); err != nil {
		t.Fatalf("restricted namespace rejects the probe pod: %v", err)
	}
	// ... and the level is enforced: host network without the exemption is refused.
	hostNet := probePod("probe", pinned)
	hostNet.Spec.HostNetwork = true
	if _, err := pods.Create(ctx, hostNet, dry); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("create host-network pod without the loopback RuntimeClass: err = %v, want a restricted-level violation", err)
	}

	pod := probePod("probe", pinned)
	c.PrepareForLoopback(&pod.Spec)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done, err := c.WaitPod(ctx, ns, "probe", cluster.PodFinishedOrStuck)
	if err != nil {
		t.Fatal(err)
	}
	if stuck := cluster.StuckReason(done); stuck != "" {
		t.Fatalf("probe pod stuck: %s", stuck)
	}
	logs, err := c.PodLogs(ctx, ns, "probe", "probe")
	if err != nil {
		t.Fatal(err)
	}
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("probe pod phase = %s, want Succeeded; logs:\n%s", done.Status.Phase, logs)
	}
	for _, want := range []string{
		"uid=65532 gid=65532\n",
		"write /: denied (open /probe-write-test: read-only file system)\n",
		"CapEff=0000000000000000\n",
		"CapPrm=0000000000000000\n",
		"Seccomp=2\n",
		"NoNewPrivs=1\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("probe logs lack %q; logs:\n%s", want, logs)
		}
	}
}

// startSleeper leaves a running pod (in a namespace nobody deletes) for Down to remove,
// and checks that containerd runs its sandbox and container.
func startSleeper(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pod := probePod("sleeper", probeRepo+":test")
	pod.Spec.Containers[0].Args = []string{"sleep"}
	c.PrepareForLoopback(&pod.Spec)
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running := func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	}
	if _, err := c.WaitPod(ctx, "default", "sleeper", running); err != nil {
		t.Fatal(err)
	}
	tasks, err := c.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 2 {
		t.Fatalf("containerd tasks of %s with a running pod = %v, want the sandbox and the container", c.Name, tasks)
	}
}

// checkNothingLeft looks for anything of the removed instance.
func checkNothingLeft(t *testing.T, c *cluster.Cluster, pids map[string]int) {
	for name, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); bytes.Contains(stat, []byte(c.Dir+"/")) {
				t.Errorf("%s (pid %d) of %s still runs", name, pid, c.Name)
			}
		}
	}
	mounts, err := cluster.MountsUnder(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) > 0 {
		t.Errorf("mounts left under %s: %v", c.Dir, mounts)
	}
	// Shims name the instance's socket on their command line; container processes live
	// in the instance's cgroups.
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, proc := range procs {
		cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
		cgroup, _ := os.ReadFile(filepath.Join(proc, "cgroup"))
		if bytes.Contains(cmdline, []byte(c.Dir+"/")) || bytes.Contains(cgroup, []byte(c.CgroupRoot+"/")) {
			t.Errorf("process %s of %s left: %s", filepath.Base(proc), c.Name, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory" + c.CgroupRoot); err == nil {
		t.Errorf("cgroup %s left", c.CgroupRoot)
	}
	if _, err := os.Stat(c.Dir); err == nil {
		t.Errorf("folder %s left", c.Dir)
	}
	if conn, err := net.DialTimeout("tcp", c.RegistryAddr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("something still listens on the registry's address %s of %s", c.RegistryAddr(), c.Name)
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
