package standins_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tracebloc/edge/images/standins"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/postrender/pins"
)

// TestStandInsOnTheCluster pushes the stand-ins to the local cluster's registry and runs
// one pod of each role, by the digests of the pin list, against a development backend on
// 127.0.0.1: with the right credential the client is online (status 1, last_info_update
// now); with a wrong one the container ends with the line that says so and its client stays
// offline. The idle roles pass the probes the chart gives them (TCP, mysqladmin ping), and
// busybox runs a shell script as the chart's init containers do.
func TestStandInsOnTheCluster(t *testing.T) {
	c := clustertest.Get(t)
	clustertest.LockHostPorts(t) // the pods bind 8080, 8888 and 3306 of the host
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := standins.ClientStandIns(ctx, root, c)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse([]byte(standins.PinList(pinned)))
	if err != nil {
		t.Fatal(err)
	}
	image := func(ref string) string {
		d, ok := set.Resolve(ref)
		if !ok {
			t.Fatalf("no pin for %s", ref)
		}
		return d
	}
	b := startBackend(t)
	good, wrong := b.client(t, ctx, "edge-good", "ns-good"), b.client(t, ctx, "edge-wrong", "ns-wrong")
	ns := clustertest.Namespace(t, c)
	secret(t, ctx, c, ns, "good", good.device.Username, good.password)
	secret(t, ctx, c, ns, "wrong", wrong.device.Username, "not-the-password-of-edge-wrong")

	start := time.Now()
	for _, p := range []*corev1.Pod{
		reportingPod("jobs-manager", "good", b.url,
			container("api", image("docker.io/tracebloc/jobs-manager:prod"), tcpProbe(8080)),
			container("pods-monitor-container", image("docker.io/tracebloc/pods-monitor:prod"), nil)),
		reportingPod("resource-monitor", "good", b.url, container("tracebloc-resource-monitor", image("docker.io/tracebloc/resource-monitor:prod"), nil)),
		reportingPod("wrong-credential", "wrong", b.url, container("api", image("docker.io/tracebloc/jobs-manager:prod"), nil)),
		idlePod("mysql-client", container("mysql-client", image("docker.io/tracebloc/mysql-client:prod"),
			&corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"mysqladmin", "ping", "-h", "127.0.0.1"}}}, PeriodSeconds: 1})),
		requestsProxyPod(image("docker.io/tracebloc/jobs-manager:prod")),
		busyboxPod(image("docker.io/library/busybox:1.35")),
	} {
		c.PrepareForLoopback(&p.Spec)
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}

	for _, name := range []string{"jobs-manager", "resource-monitor", "mysql-client", "requests-proxy", "busybox"} {
		waitReady(t, ctx, c, ns, name)
	}
	log := busyboxLog(t, ctx, c, ns)
	if !strings.Contains(log, "busybox: OK /data other-writable") {
		t.Errorf("the busybox init container's log = %q, want the script's OK line", log)
	}
	b.waitOnline(t, ctx, good.device.ID, start)
	checkWrongCredential(t, ctx, c, ns, b, wrong.device.ID)
}

// checkWrongCredential: the container with the wrong credential ends with exit code 1 and
// the line that says so, and its client never comes online.
func checkWrongCredential(t *testing.T, ctx context.Context, c *cluster.Cluster, ns string, b *backend, id int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := c.WaitPod(ctx, ns, "wrong-credential", func(p *corev1.Pod) bool { return terminated(p) != nil })
	if err != nil {
		t.Fatalf("the stand-in with the wrong credential did not end: %v", err)
	}
	if code := terminated(p).ExitCode; code != 1 {
		t.Errorf("exit code with the wrong credential = %d, want 1", code)
	}
	logs, err := c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "api",
		Previous: p.Status.ContainerStatuses[0].State.Terminated == nil}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of the stand-in with the wrong credential: %v", err)
	}
	if !strings.Contains(string(logs), "refused the machine credential") {
		t.Errorf("the log with the wrong credential says:\n%s\nwant the refusal", logs)
	}
	if d := b.record(t, id); d.Status == api.StatusOnline || d.LastInfoUpdate != nil {
		t.Errorf("client with the wrong credential: status %d, last_info_update %v; want it offline", d.Status, d.LastInfoUpdate)
	}
}

func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, st := range p.Status.ContainerStatuses {
		if st.State.Terminated != nil {
			return st.State.Terminated
		}
		if st.LastTerminationState.Terminated != nil {
			return st.LastTerminationState.Terminated
		}
	}
	return nil
}

// waitReady waits up to two minutes for pod name to be ready, and says why not.
func waitReady(t *testing.T, ctx context.Context, c *cluster.Cluster, ns, name string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := c.WaitPod(wctx, ns, name, ready); err != nil {
		p, _ := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		t.Fatalf("pod %s is not ready: %v; status: %+v", name, err, p.Status.ContainerStatuses)
	}
}

func ready(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func busyboxLog(t *testing.T, ctx context.Context, c *cluster.Cluster, ns string) string {
	t.Helper()
	log, err := c.PodLogs(ctx, ns, "busybox", "init-writable-data")
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// backend is a development backend on 127.0.0.1, which the host-network pods reach.
type backend struct {
	srv  *devbackend.Server
	url  string
	user *api.Client
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	srv, err := devbackend.New(devbackend.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	ctx := context.Background()
	c, err := api.New(ts.URL, api.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Approve(dc.UserCode, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, dc.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	return &backend{srv: srv, url: ts.URL, user: c.WithToken(tok.Token)}
}

type enrolled struct {
	device   *api.EdgeDevice
	password string
}

func (b *backend) client(t *testing.T, ctx context.Context, name, namespace string) enrolled {
	t.Helper()
	password := "the-machine-password-of-" + name
	d, _, err := b.user.CreateEdgeDevice(ctx, api.CreateRequest{FirstName: name, Namespace: namespace, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{device: d, password: password}
}

func (b *backend) record(t *testing.T, id int64) api.EdgeDevice {
	t.Helper()
	list, err := b.srv.Clients()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no client %d", id)
	return api.EdgeDevice{}
}

// waitOnline waits up to a minute until client id is online with a heartbeat after since.
func (b *backend) waitOnline(t *testing.T, ctx context.Context, id int64, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		d := b.record(t, id)
		if d.Status == api.StatusOnline && d.LastInfoUpdate != nil && d.LastInfoUpdate.After(since) {
			if age := time.Since(*d.LastInfoUpdate); age > 30*time.Second {
				t.Errorf("last_info_update is %s old, want a heartbeat every second", age)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("client %d is not online: status %d, last_info_update %v", id, d.Status, d.LastInfoUpdate)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func secret(t *testing.T, ctx context.Context, c *cluster.Cluster, ns, name, id, password string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"CLIENT_ID": id, "CLIENT_PASSWORD": password}}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// restricted is the container security context the restricted Pod Security level asks for.
func restricted() *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes, ReadOnlyRootFilesystem: &yes,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func container(name, image string, probe *corev1.Probe) corev1.Container {
	return corev1.Container{Name: name, Image: image, ReadinessProbe: probe, SecurityContext: restricted()}
}

// tcpProbe is the chart's TCP probe, aimed at 127.0.0.1: the kubelet dials a host-network
// pod's IP, which is the node's address (not the loopback), and the stand-ins listen on
// the loopback only.
func tcpProbe(port int) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt(port)}}, PeriodSeconds: 1}
}

func pod(name string, restart corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: containers, RestartPolicy: restart, TerminationGracePeriodSeconds: &grace}}
}

// reportingPod reads the machine credential from Secret secret, as the chart's
// secretKeyRef does, and reports every second.
func reportingPod(name, secret, url string, containers ...corev1.Container) *corev1.Pod {
	for i := range containers {
		ref := func(key string) *corev1.EnvVarSource {
			return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}
		}
		containers[i].Env = append(containers[i].Env,
			corev1.EnvVar{Name: "CLIENT_ID", ValueFrom: ref("CLIENT_ID")}, corev1.EnvVar{Name: "CLIENT_PASSWORD", ValueFrom: ref("CLIENT_PASSWORD")},
			corev1.EnvVar{Name: "CLIENT_ENV", Value: "prod"}, corev1.EnvVar{Name: "TRACEBLOC_API_URL", Value: url},
			corev1.EnvVar{Name: "TRACEBLOC_HEARTBEAT_INTERVAL", Value: "1s"})
	}
	return pod(name, corev1.RestartPolicyNever, containers...)
}

func idlePod(name string, c corev1.Container) *corev1.Pod {
	return pod(name, corev1.RestartPolicyAlways, c)
}

// requestsProxyPod runs the jobs-manager image with the requests-proxy's command.
func requestsProxyPod(image string) *corev1.Pod {
	c := container("proxy", image, tcpProbe(8888))
	c.Command = []string{"python", "-m", "gunicorn"}
	c.Args = []string{"--bind=0.0.0.0:8888", "--workers=1", "requests_proxy_server:create_app()"}
	c.WorkingDir = "/app"
	return idlePod("requests-proxy", c)
}

// busyboxPod runs a script of the shape of the chart's init containers (chmod, ls -ldn, a
// case on the mode) on an emptyDir, then an idle container.
func busyboxPod(image string) *corev1.Pod {
	uid := int64(65532)
	script := `d=/data; chmod 2777 "$d" || echo chmod failed
set -- $(ls -ldn "$d"); case "$1" in ????????w*) echo "busybox: OK $d other-writable, got $1";; *) echo "busybox: FAIL $1"; exit 1;; esac`
	init := container("init-writable-data", image, nil)
	init.Command = []string{"sh", "-c", script}
	init.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	main := container("main", image, nil)
	main.Command = []string{"sh", "-c", "echo started; exec sleep 3600"}
	p := idlePod("busybox", main)
	p.Spec.InitContainers = []corev1.Container{init}
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid}
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	return p
}
