package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running instance.
type Cluster struct {
	Name string
	// Dir is the instance folder.
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (group system:masters).
	Kubeconfig string
	// REST and Client act as the admin.
	REST   *rest.Config
	Client kubernetes.Interface
	// Ports are the instance's loopback ports; Ports.APIServer is the API server's.
	Ports Ports
	// ContainerdSocket is the instance's containerd socket (for ctr --address).
	ContainerdSocket string
	// CgroupRoot is the kubelet's cgroup root, in every cgroup hierarchy.
	CgroupRoot string

	binDir string
	state  state
}

func newCluster(opts Options, st state) (*Cluster, error) {
	p := opts.paths()
	cfg, err := clientcmd.BuildConfigFromFlags("", p.adminKubeconfig())
	if err != nil {
		return nil, fmt.Errorf("read admin kubeconfig %s: %w", p.adminKubeconfig(), err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", opts.Name, err)
	}
	return &Cluster{
		Name: opts.Name, Dir: opts.Dir, Kubeconfig: p.adminKubeconfig(),
		REST: cfg, Client: client, Ports: st.Ports,
		ContainerdSocket: p.containerdSocket(), CgroupRoot: st.CgroupRoot,
		binDir: opts.BinDir, state: st,
	}, nil
}

// Open returns the running instance, or an error wrapping ErrNotRunning.
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return open(ctx, opts)
}

func open(ctx context.Context, opts Options) (*Cluster, error) {
	p := opts.paths()
	st, err := readState(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no instance (run `scripts/cluster up --name %s`)", ErrNotRunning, opts.Dir, opts.Name)
	}
	if err != nil {
		return nil, err
	}
	if !st.Ready {
		return nil, fmt.Errorf("%w: cluster %s never finished starting", ErrNotRunning, opts.Name)
	}
	for _, name := range components {
		if pr, ok := readProc(p, name); !ok || !pr.alive() {
			return nil, fmt.Errorf("%w: %s of cluster %s has stopped (see %s)", ErrNotRunning, name, opts.Name, p.logs(name))
		}
	}
	c, err := newCluster(opts, st)
	if err != nil {
		return nil, err
	}
	if err := c.readyz(ctx); err != nil {
		return nil, fmt.Errorf("%w: API server of cluster %s not ready: %v", ErrNotRunning, opts.Name, err)
	}
	return c, nil
}

func (c *Cluster) readyz(ctx context.Context) error {
	_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// Status reports whether the instance runs: nil when it does, else an error that says
// why (wrapping ErrNotRunning when it is simply not there or stopped).
func Status(ctx context.Context, opts Options) error {
	_, err := Open(ctx, opts)
	return err
}

// Tasks lists the instance's containerd tasks (running containers and sandboxes).
func (c *Cluster) Tasks(ctx context.Context) ([]Task, error) {
	return tasks(ctx, paths(c.Dir))
}

// Token returns a one-hour token of the ServiceAccount namespace/serviceAccount, through
// the TokenRequest API, for acting as that account in RBAC tests.
func (c *Cluster) Token(ctx context.Context, namespace, serviceAccount string) (string, error) {
	expiry := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", namespace, serviceAccount, err)
	}
	return tr.Status.Token, nil
}

// RESTFor returns a client configuration that authenticates with token (e.g. from Token)
// instead of as the admin.
func (c *Cluster) RESTFor(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(c.REST)
	cfg.BearerToken = token
	return cfg
}

// PodLogs reads a container's log through the API server (what `kubectl logs` does): the
// API server fetches it from the kubelet on localhost.
func (c *Cluster) PodLogs(ctx context.Context, namespace, pod, container string) (string, error) {
	data, err := c.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s container %s: %w", namespace, pod, container, err)
	}
	return string(data), nil
}

// KubeSystemUID returns the UID of the kube-system namespace: the cluster id.
func (c *Cluster) KubeSystemUID(ctx context.Context) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read namespace kube-system: %w", err)
	}
	return string(ns.UID), nil
}

// LoopbackEnv is the environment an in-cluster client needs in a host-network pod of this
// cluster: the `kubernetes` Service IP is unreachable (no kube-proxy), so
// rest.InClusterConfig must dial the API server on 127.0.0.1.
func (c *Cluster) LoopbackEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: strconv.Itoa(c.Ports.APIServer)},
	}
}

// PrepareForLoopback makes a pod spec run on this node: host network (there is no CNI),
// the loopback RuntimeClass (it tolerates the node's not-ready taint and is exempt from
// Pod Security admission, which forbids hostNetwork at every level) and LoopbackEnv in
// every container and init container. Nothing else of the spec changes.
func (c *Cluster) PrepareForLoopback(spec *corev1.PodSpec) {
	spec.HostNetwork = true
	rc := LoopbackRuntimeClass
	spec.RuntimeClassName = &rc
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			list[i].Env = append(list[i].Env, c.LoopbackEnv()...)
		}
	}
}

// LogDir is where the components' logs are.
func (c *Cluster) LogDir() string { return paths(c.Dir).join("logs") }

// PIDs returns the recorded processes of the instance (component name to PID).
func (c *Cluster) PIDs() map[string]int {
	return recordedPIDs(paths(c.Dir))
}

func recordedPIDs(p paths) map[string]int {
	m := map[string]int{}
	for _, name := range components {
		if pr, ok := readProc(p, name); ok {
			m[name] = pr.PID
		}
	}
	return m
}

// processAlive reports whether a recorded component still runs.
func processAlive(p paths, name string) bool {
	pr, ok := readProc(p, name)
	return ok && pr.alive()
}
