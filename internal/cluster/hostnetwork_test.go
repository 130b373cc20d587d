package cluster_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// shellPod is a pod as a chart renders it, with nothing of this harness: busybox (the
// pause image, present on every instance) runs script in an init container and a
// container.
func shellPod(name, script string) *corev1.Pod {
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"/bin/busybox", "sh", "-c", script},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:  corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{container("init")},
			Containers:     []corev1.Container{container("main")},
		},
	}
}

// runPod creates pod in namespace, waits until it ends and returns it, failing the test
// unless it succeeded.
func runPod(t *testing.T, c *cluster.Cluster, namespace string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/%s: %v", namespace, pod.Name, err)
	}
	done, err := c.WaitPod(ctx, namespace, pod.Name, cluster.PodFinishedOrStuck)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status.Phase != corev1.PodSucceeded {
		logs, _ := c.PodLogs(ctx, namespace, pod.Name, pod.Spec.Containers[0].Name)
		t.Fatalf("pod %s/%s phase = %s (%s), want Succeeded; logs:\n%s", namespace, pod.Name, done.Status.Phase, cluster.StuckReason(done), logs)
	}
	return done
}

func logsOf(t *testing.T, c *cluster.Cluster, namespace, pod, container string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs, err := c.PodLogs(ctx, namespace, pod, container)
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// TestHostNetworkNamespace: a pod without any host-network settings, in a namespace
// labelled by HostNetworkNamespace, runs on the host network with the loopback
// RuntimeClass, and its init container and container see the API server's loopback
// address and the ConfigMap's entries, except where the container sets a variable
// itself. A pod of an unlabelled namespace is left as it is.
func TestHostNetworkNamespace(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.HostNetworkNamespace(t, c, map[string]string{
		"TRACEBLOC_API_URL":       "http://127.0.0.1:9/",
		"KUBERNETES_SERVICE_HOST": "not-this",
		"SET_BY_POD":              "from-configmap",
	})
	pod := shellPod("env", "env | sort")
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SET_BY_POD", Value: "from-pod"}}
	done := runPod(t, c, ns, pod)

	if !done.Spec.HostNetwork || done.Spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet ||
		done.Spec.RuntimeClassName == nil || *done.Spec.RuntimeClassName != cluster.LoopbackRuntimeClass {
		t.Errorf("pod spec hostNetwork %v, dnsPolicy %s, runtimeClassName %v; want true, %s, %s",
			done.Spec.HostNetwork, done.Spec.DNSPolicy, done.Spec.RuntimeClassName, corev1.DNSClusterFirstWithHostNet, cluster.LoopbackRuntimeClass)
	}
	common := []string{
		"KUBERNETES_SERVICE_HOST=127.0.0.1\n",
		"KUBERNETES_SERVICE_PORT=" + strconv.Itoa(c.Ports.APIServer) + "\n",
		"TRACEBLOC_API_URL=http://127.0.0.1:9/\n",
	}
	for container, want := range map[string][]string{
		"init": append(common, "SET_BY_POD=from-configmap\n"),
		"main": append(common, "SET_BY_POD=from-pod\n"),
	} {
		logs := logsOf(t, c, ns, "env", container)
		for _, line := range want {
			if !strings.Contains(logs, line) {
				t.Errorf("container %s lacks %q; its environment:\n%s", container, line, logs)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const plain = "default" // unlabelled; a dry run leaves nothing there
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	got, err := c.Client.CoreV1().Pods(plain).Create(ctx, shellPod("plain", "true"), dry)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.HostNetwork || got.Spec.RuntimeClassName != nil || len(got.Spec.Containers[0].Env) > 0 {
		t.Errorf("pod of the unlabelled namespace %s was changed: hostNetwork %v, runtimeClassName %v, env %v",
			plain, got.Spec.HostNetwork, got.Spec.RuntimeClassName, got.Spec.Containers[0].Env)
	}
}

// TestHostNetworkNodeAgents: a namespace labelled as the client chart labels its
// node-agents namespace (Pod Security privileged), plus the harness label, runs a pod
// that reads the node's /proc through a hostPath volume, as the resource monitor does.
func TestHostNetworkNodeAgents(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.HostNetworkNamespace(t, c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		n.Labels["pod-security.kubernetes.io/"+mode] = "privileged"
	}
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := shellPod("agent", "cat /host/proc/loadavg")
	pod.Spec.InitContainers = nil
	pod.Spec.Volumes = []corev1.Volume{{Name: "proc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/proc"}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "proc", MountPath: "/host/proc", ReadOnly: true}}
	runPod(t, c, ns, pod)
	if logs := logsOf(t, c, ns, "agent", "main"); len(strings.Fields(logs)) != 5 {
		t.Errorf("the node's /proc/loadavg read in the pod = %q, want 5 fields", logs)
	}
}

// TestStorage: a claim without a StorageClass (as the client chart's with
// storageClass.create=false and the harness's class) binds, a pod writes to it and
// reads it back, and the data is in the provisioned folder on this machine.
func TestStorage(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.HostNetworkNamespace(t, c, nil)
	folder := boundVolume(t, c, ns, "data", corev1.ReadWriteMany)
	pod := shellPod("writer", "echo written-by-pod > /data/file && cat /data/file")
	pod.Spec.InitContainers = nil
	root := int64(0)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &root}
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
	}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	runPod(t, c, ns, pod)
	if logs := logsOf(t, c, ns, "writer", "main"); logs != "written-by-pod\n" {
		t.Errorf("pod read back %q, want %q", logs, "written-by-pod\n")
	}
	if data, err := readFile(folder + "/file"); err != nil || data != "written-by-pod\n" {
		t.Errorf("volume folder %s holds %q (%v), want what the pod wrote", folder, data, err)
	}
}

// boundVolume creates the claim name in namespace, waits until it is bound and returns
// the folder of its volume.
func boundVolume(t *testing.T, c *cluster.Cluster, namespace, name string, mode corev1.PersistentVolumeAccessMode) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{mode},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}
	claims := c.Client.CoreV1().PersistentVolumeClaims(namespace)
	if _, err := claims.Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := claims.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == corev1.ClaimBound {
			if sc := got.Spec.StorageClassName; sc == nil || *sc != cluster.StorageClass {
				t.Errorf("claim %s/%s StorageClass = %v, want the default %s", namespace, name, sc, cluster.StorageClass)
			}
			pv, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, got.Spec.VolumeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if pv.Spec.HostPath == nil {
				t.Fatalf("volume %s of claim %s/%s is not a hostPath volume: %+v", pv.Name, namespace, name, pv.Spec.PersistentVolumeSource)
			}
			return pv.Spec.HostPath.Path
		}
		select {
		case <-ctx.Done():
			t.Fatalf("claim %s/%s not bound: phase %s", namespace, name, got.Status.Phase)
		case <-tick.C:
		}
	}
}

func readFile(name string) (string, error) {
	data, err := os.ReadFile(name)
	return string(data), err
}

// TestHostNetworkProbeHosts: in a labelled namespace a TCP probe that names no host is
// pointed at 127.0.0.1 (the kubelet would probe the node's own address, where loopback
// servers do not listen); a probe that names its host, and an exec probe, are left alone.
func TestHostNetworkProbeHosts(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.HostNetworkNamespace(t, c, nil)
	pod := shellPod("probes", "true")
	main := &pod.Spec.Containers[0]
	main.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	main.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "localhost", Port: intstr.FromInt32(8080)}}}
	main.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	m := got.Spec.Containers[0]
	if h := m.ReadinessProbe.TCPSocket.Host; h != "127.0.0.1" {
		t.Errorf("readiness probe host = %q, want 127.0.0.1", h)
	}
	if h := m.LivenessProbe.TCPSocket.Host; h != "localhost" {
		t.Errorf("liveness probe host = %q, want the pod's own localhost", h)
	}
	if m.StartupProbe.TCPSocket != nil || m.StartupProbe.Exec == nil {
		t.Errorf("exec startup probe changed: %+v", m.StartupProbe)
	}
}
