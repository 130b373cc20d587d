package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// components in start order; Down stops them in reverse, except that the kubelet and
// the controllers stop first (see Down).
var components = []string{"etcd", "containerd", "registry", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "metrics-server"}

// binaries the harness needs from scripts/build-tools (in BinDir) and from Debian (PATH).
var (
	builtTools  = []string{"etcd", "registry", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "metrics-server"}
	debianTools = map[string]string{"containerd": "containerd", "containerd-shim-runc-v2": "containerd", "ctr": "containerd", "runc": "runc", "busybox": "busybox-static"}
)

// ErrMissingTools is wrapped by Up when a binary is absent.
var ErrMissingTools = errors.New("missing tools")

// CheckTools reports which binaries are missing, with the command that installs them.
func CheckTools(opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var missingBuilt, missingDebian []string
	for _, name := range builtTools {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			missingBuilt = append(missingBuilt, name)
		}
	}
	seen := map[string]bool{}
	for bin, pkg := range debianTools {
		if _, err := exec.LookPath(bin); err != nil && !seen[pkg] {
			seen[pkg] = true
			missingDebian = append(missingDebian, pkg)
		}
	}
	switch {
	case len(missingBuilt) > 0 && len(missingDebian) > 0:
		return fmt.Errorf("%w: %v in %s and the Debian packages %v: run scripts/build-tools cluster", ErrMissingTools, missingBuilt, opts.BinDir, missingDebian)
	case len(missingBuilt) > 0:
		return fmt.Errorf("%w: %v in %s: run scripts/build-tools cluster", ErrMissingTools, missingBuilt, opts.BinDir)
	case len(missingDebian) > 0:
		return fmt.Errorf("%w: the Debian packages %v: run scripts/build-tools apt (or apt-get install %v)", ErrMissingTools, missingDebian, missingDebian)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: containerd and the kubelet need root: run as root", ErrMissingTools)
	}
	return nil
}

// Up starts the instance and waits until it works: API server ready, node registered,
// kube-system, the default ServiceAccount and kube-root-ca.crt present. On a running
// instance it changes nothing and returns it; a broken one is removed and started anew.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, opts.paths())
	if err != nil {
		return nil, err
	}
	defer unlock()

	c, err := open(ctx, opts)
	if err == nil && c.state.Generation == generation {
		return c, nil
	}
	if err == nil {
		fmt.Fprintf(opts.Log, "cluster %s: the instance in %s was made by an older harness (generation %d, now %d): starting it anew\n", opts.Name, opts.Dir, c.state.Generation, generation)
	}
	if _, err := os.Stat(opts.Dir); err == nil {
		fmt.Fprintf(opts.Log, "cluster %s: removing a stopped or broken instance in %s\n", opts.Name, opts.Dir)
		if err := down(ctx, opts); err != nil {
			return nil, err
		}
	}
	if err := CheckTools(opts); err != nil {
		return nil, err
	}
	raiseInotifyLimits(opts.Log)
	start := time.Now()
	if err := up(ctx, opts); err != nil {
		return nil, fmt.Errorf("start cluster %s (logs in %s): %w", opts.Name, opts.paths().join("logs"), err)
	}
	fmt.Fprintf(opts.Log, "cluster %s: up in %.1fs\n", opts.Name, time.Since(start).Seconds())
	return open(ctx, opts)
}

// up starts a new instance in opts.Dir: its files, then etcd, containerd and the registry,
// then the API server and the node, then waits until they work.
func up(ctx context.Context, opts Options) error {
	p := opts.paths()
	st, err := writeInstance(p, opts.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	say := func(format string, a ...any) {
		fmt.Fprintf(opts.Log, "cluster %s: "+format+"\n", append([]any{opts.Name}, a...)...)
	}
	say("starting etcd, containerd and the registry (ports %d-%d, folder %s)", st.Ports.EtcdClient, st.Ports.MetricsServer, opts.Dir)
	bin := func(name string) string { return filepath.Join(opts.BinDir, name) }
	if err := startStores(ctx, p, st, bin); err != nil {
		return err
	}
	if err := startControllersAndKubelet(p, st, bin); err != nil {
		return err
	}
	say("waiting for the API server and the node")
	if err := waitReady(ctx, opts, st); err != nil {
		return err
	}
	st.Ready, st.Generation = true, generation
	return writeState(p, st)
}

// writeInstance writes everything the processes read (folders, ports, state, PKI,
// kubeconfigs, configurations, the pause image) and creates the cgroup root.
func writeInstance(p paths, name string) (state, error) {
	for _, dir := range []string{"", "logs", "pids", "etcd", "kubelet/root", "pod-logs", "images", "registry"} {
		if err := os.MkdirAll(p.join(dir), 0o755); err != nil {
			return state{}, fmt.Errorf("create the cluster folder: %w", err)
		}
	}
	ports, err := pickPorts(name)
	if err != nil {
		return state{}, err
	}
	st := state{Name: name, Ports: ports, CgroupRoot: "/tracebloc-edge-" + name}
	if err := writeState(p, st); err != nil {
		return state{}, err
	}
	if err := writePKI(p, name); err != nil {
		return state{}, err
	}
	if err := writeCredentials(p, name, ports); err != nil {
		return state{}, err
	}
	if err := writeConfigs(p, st); err != nil {
		return state{}, err
	}
	if err := createCgroupRoot(st.CgroupRoot); err != nil {
		return state{}, err
	}
	return st, writePauseImage(p.join("images", "pause.tar"))
}

// startStores starts etcd, containerd and the registry, and the API server once etcd
// answers; it returns when containerd holds the pause image and the registry answers.
func startStores(ctx context.Context, p paths, st state, bin func(string) string) error {
	if _, err := startProcess(p, "etcd", bin("etcd"), etcdArgs(p, st), nil); err != nil {
		return err
	}
	if _, err := startProcess(p, "containerd", "containerd", containerdArgs(p), nil); err != nil {
		return err
	}
	if _, err := startProcess(p, "registry", bin("registry"), registryArgs(p), registryEnv); err != nil {
		return err
	}
	if err := waitFor(ctx, p, "etcd", func() error {
		return httpOK(ctx, "http://127.0.0.1:"+strconv.Itoa(st.Ports.EtcdClient)+"/health")
	}); err != nil {
		return err
	}
	if _, err := startProcess(p, "kube-apiserver", bin("kube-apiserver"), apiserverArgs(p, st), nil); err != nil {
		return err
	}
	if err := waitFor(ctx, p, "containerd", func() error {
		conn, err := net.Dial("unix", p.containerdSocket())
		if err == nil {
			conn.Close()
		}
		return err
	}); err != nil {
		return err
	}
	if err := importImage(ctx, p, p.join("images", "pause.tar")); err != nil {
		return err
	}
	return waitFor(ctx, p, "registry", func() error { return registryReady(ctx, p, st.Ports.Registry) })
}

// startControllersAndKubelet starts the controller manager, the scheduler, the kubelet
// and the metrics server.
func startControllersAndKubelet(p paths, st state, bin func(string) string) error {
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		args := controllerManagerArgs(p, st)
		if name == "kube-scheduler" {
			args = schedulerArgs(p, st)
		}
		if _, err := startProcess(p, name, bin(name), args, nil); err != nil {
			return err
		}
	}
	if _, err := startProcess(p, "kubelet", bin("kubelet"), kubeletArgs(p), nil); err != nil {
		return err
	}
	_, err := startProcess(p, "metrics-server", bin("metrics-server"), metricsServerArgs(p, st), nil)
	return err
}

// waitReady waits for the API server (then adds the RuntimeClass, the host-network
// policies and the StorageClass), the node, and the
// default ServiceAccount and kube-root-ca.crt the controller manager makes.
func waitReady(ctx context.Context, opts Options, st state) error {
	p := opts.paths()
	c, err := newCluster(opts, st)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, p, "kube-apiserver", func() error { return c.readyz(ctx) }); err != nil {
		return err
	}
	for _, create := range []func(context.Context, *Cluster) error{createRuntimeClass, createHostNetworkPolicies, createStorageClass, createMetricsAPI} {
		if err := create(ctx, c); err != nil {
			return err
		}
	}
	// An APIService that does not answer stalls discovery, and with it the deletion of
	// every namespace: the instance is up when the metrics API is.
	if err := waitFor(ctx, p, "metrics-server", func() error { return c.MetricsAPIAvailable(ctx) }); err != nil {
		return err
	}
	if err := waitFor(ctx, p, "kubelet", func() error {
		_, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-controller-manager", func() error {
		if _, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		_, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})
}

// createRuntimeClass adds the RuntimeClass of host-network pods (see the package comment).
func createRuntimeClass(ctx context.Context, c *Cluster) error {
	rc := &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: LoopbackRuntimeClass},
		Handler:    "runc",
		Scheduling: &nodev1.Scheduling{Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists},
		}},
	}
	_, err := c.Client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create RuntimeClass %s: %w", LoopbackRuntimeClass, err)
	}
	return nil
}

// waitFor polls check until it succeeds, the context ends, or the component's process
// is gone (then the error points at its log).
func waitFor(ctx context.Context, p paths, component string, check func() error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		if pr, ok := readProc(p, component); ok && !pr.alive() {
			return fmt.Errorf("%s exited: see %s", component, p.logs(component))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s (see %s): %w (last check: %v)", component, p.logs(component), ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// lock takes the instance's lock file (next to its folder) so that concurrent callers,
// e.g. parallel test binaries, start it once.
func lock(ctx context.Context, p paths) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(p.lock()), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(p.lock()), err)
	}
	f, err := os.OpenFile(p.lock(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p.lock(), err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p.lock(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s (another `cluster up` or `down` runs): %w", p.lock(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
