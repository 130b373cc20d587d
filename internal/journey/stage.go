package journey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Harness is the local test cluster (cluster.Cluster): it has no pod network, so the
// pods of a namespace it prepares run on the host network with the given environment.
type Harness interface {
	HostNetworkNamespace(ctx context.Context, name string, env map[string]string) error
}

// metricsAPIService is the APIService the client chart's resource-monitor needs: its
// install fails when it is not registered.
const metricsAPIService = "v1beta1.metrics.k8s.io"

// Stage is one cluster with the chart's prerequisites.
type Stage struct {
	Root string // the repository
	// Chart is the edge chart to install: a copy with its dependency in charts/
	// (chartdeps); "" installs Root/chart as it is.
	Chart string
	// ChartRef, when set, is what helm installs instead of the chart folder (a published
	// release's oci://...), with ChartFlags (--version, --verify, ...); the bootstrap image
	// is then the one the chart's defaults pin, not the journey's build.
	ChartRef   string
	ChartFlags []string
	// WithClient: Chart carries the tracebloc/client chart, and the release runs it
	// (client.enabled); otherwise the chart enrolls with its enrollment Deployment.
	WithClient bool
	Kubeconfig string
	Kube       kubernetes.Interface
	Helm       string // helm v3 CLI
	HelmHome   string // HELM_*_HOME folders live here
	PostRender string // the post-renderer binary
	// Images is the post-renderer's digest pin list (Artifacts.Pins); empty: its built-in.
	Images     string
	BackendURL string
	// Harness is set on the local cluster: Prepare puts the release's namespaces on the
	// host network, where the pods reach the development backend on 127.0.0.1.
	Harness Harness
	// Output, when set, receives a copy of every helm command's combined output (the
	// end-to-end tests scan it for secrets).
	Output io.Writer

	// Found by Prepare: the cluster's default StorageClass, and whether the metrics API
	// the resource-monitor needs is registered.
	storageClass    string
	resourceMonitor bool
	prepared        bool
}

// Workload is the Deployment whose pod runs the bootstrap as its init container: the
// client chart's jobs-manager, or the edge chart's enrollment Deployment without it.
func (s *Stage) Workload(release string) string {
	if s.WithClient {
		return release + "-jobs-manager"
	}
	return release + "-enrollment"
}

// NodeAgentsNamespace is the client chart's node-agents namespace of a release in ns. On
// the harness each release gets its own, prepared like ns; elsewhere the chart's default.
func (s *Stage) NodeAgentsNamespace(ns string) string {
	if s.Harness != nil {
		return ns + "-agents"
	}
	return "tracebloc-node-agents"
}

// ChartDir is the chart folder helm installs.
func (s *Stage) ChartDir() string {
	if s.Chart != "" {
		return s.Chart
	}
	return filepath.Join(s.Root, "chart")
}

// Prepare finds what the client chart's values depend on (the default StorageClass, the
// metrics API) and, on the harness, puts ns and its node-agents namespace on the host
// network with TRACEBLOC_API_URL for the stand-ins. Call it before installing into ns.
func (s *Stage) Prepare(ctx context.Context, ns string) error {
	if !s.prepared && s.WithClient {
		sc, err := s.defaultStorageClass(ctx)
		if err != nil {
			return err
		}
		s.storageClass = sc
		s.resourceMonitor = s.metricsRegistered(ctx)
		s.prepared = true
	}
	if s.Harness == nil {
		return nil
	}
	env := map[string]string{"TRACEBLOC_API_URL": s.BackendURL}
	if err := s.Harness.HostNetworkNamespace(ctx, ns, env); err != nil {
		return fmt.Errorf("prepare namespace %s for host-network pods: %w", ns, err)
	}
	if !s.WithClient {
		return nil
	}
	agents := s.NodeAgentsNamespace(ns)
	if err := s.Harness.HostNetworkNamespace(ctx, agents, env); err != nil {
		return fmt.Errorf("prepare namespace %s for host-network pods: %w", agents, err)
	}
	// The client chart's own node-agents namespace is privileged (hostPath /proc, /sys);
	// it creates it so only when asked to, which the harness cannot (the label above).
	patch := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`
	if _, err := s.Kube.CoreV1().Namespaces().Patch(ctx, agents, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label namespace %s privileged: %w", agents, err)
	}
	return nil
}

// defaultStorageClass returns the name of the cluster's default StorageClass: the client
// chart's PVCs are bound through it (the chart would otherwise create a class of its own,
// which needs a provisioner named in the values).
func (s *Stage) defaultStorageClass(ctx context.Context) (string, error) {
	list, err := s.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list the StorageClasses: %w", err)
	}
	for _, sc := range list.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return sc.Name, nil
		}
	}
	return "", errors.New("the cluster has no default StorageClass, which the client chart's volumes need: " +
		"mark one with kubectl annotate storageclass <name> storageclass.kubernetes.io/is-default-class=true")
}

// metricsRegistered reports whether the APIService of the metrics API is registered.
func (s *Stage) metricsRegistered(ctx context.Context) bool {
	rc := s.Kube.Discovery().RESTClient()
	if rc == nil {
		return false
	}
	return rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices", metricsAPIService).Do(ctx).Error() == nil
}

// ResourceMonitor reports whether installs run the client chart's resource-monitor
// (Prepare found the metrics API registered).
func (s *Stage) ResourceMonitor() bool { return s.resourceMonitor }

// Values are the --set arguments every install of the journey into ns uses, ready for
// helm's command line.
func (s *Stage) Values(ns string) []string {
	var args []string
	for _, v := range s.values(ns) {
		args = append(args, setFlag(v), v)
	}
	return args
}

func (s *Stage) values(ns string) []string {
	v := []string{
		"backend.url=" + s.BackendURL,
		"bootstrap.leaseDuration=5s",
		fmt.Sprintf("client.enabled=%t", s.WithClient),
	}
	switch {
	case s.ChartRef != "":
		// The published chart names the bootstrap image by the digest its release pushed.
	case s.Images != "":
		// Pushed to the cluster's registry (Artifacts.Push). Helm 3 post-renders no hook, so
		// the test hook names the bootstrap by tag: Always gets it the image just pushed, not
		// one of an earlier run that the node still has. The rest is pinned by digest.
		v = append(v, "bootstrap.image.repository="+BootstrapRepo, "bootstrap.image.tag="+LocalTag, "bootstrap.image.pullPolicy=Always")
	default:
		// Loaded into the nodes by hand: nothing to pull from.
		v = append(v, "bootstrap.image.repository="+BootstrapRepo, "bootstrap.image.tag="+LocalTag, "bootstrap.image.pullPolicy=Never")
	}
	if s.WithClient {
		v = append(v, s.clientValues(ns)...)
	}
	return v
}

// clientValues are the client chart's values for a cluster without internet access and,
// on the harness, without a pod network. Each one turns off or redirects something that
// cannot work there:
//   - env.TRACEBLOC_API_URL: the stand-ins of jobs-manager and pods-monitor log in to the
//     development backend (the harness also puts it into every pod of the namespace,
//     resource-monitor's included, through its pod-env ConfigMap);
//   - egressProxy: its squid image and allowlist reach the internet only;
//   - networkPolicy.training: no CNI enforces it here, and its helm test probes 1.1.1.1;
//   - egressReachabilityCheck, sealCheck.storageAssertions: helm tests that reach the real
//     backend and run a kubectl image this cluster does not have;
//   - imageRefresh: a CronJob polling Docker Hub for new digests every 15 minutes (the
//     images here are pinned by the post-renderer instead);
//   - storageClass: the cluster's default class, instead of a class of the chart's own
//     that needs a provisioner; pvcAccessMode ReadWriteOnce, the one mode a single node's
//     provisioner offers (the chart asks ReadWriteMany of dynamic storage);
//   - resourceMonitor: only when the metrics API is registered, which its install needs;
//   - images.mysqlClient.digest: the chart pins mysql-client to a digest of Docker Hub's
//     image; empty, it names the image by its tag, which the post-renderer pins to the
//     stand-in pushed here.
//
// autoUpgrade is off by the edge chart's default (it upgrades without the post-renderer);
// gpu.devicePlugin and telemetryCollector are off by the client chart's defaults.
func (s *Stage) clientValues(ns string) []string {
	v := []string{
		"env.TRACEBLOC_API_URL=" + s.BackendURL,
		"egressProxy.enabled=false",
		"networkPolicy.training.enabled=false",
		"egressReachabilityCheck.enabled=false",
		"sealCheck.storageAssertions.enabled=false",
		"imageRefresh.enabled=false",
		"storageClass.create=false", "storageClass.name=" + s.storageClass,
		"pvcAccessMode=ReadWriteOnce",
		fmt.Sprintf("resourceMonitor=%t", s.resourceMonitor),
		"images.mysqlClient.digest=",
	}
	if s.Harness != nil {
		v = append(v, "nodeAgents.namespace.create=false", "nodeAgents.namespace.name="+s.NodeAgentsNamespace(ns))
	}
	for i := range v {
		v[i] = "client." + v[i]
	}
	return v
}

// ClientChartValues are the client chart's values of the journey (clientValues) for the
// tracebloc/client chart installed on its own, as a person did before the edge: at top
// level, ready for helm's command line.
func (s *Stage) ClientChartValues(ns string) []string {
	var args []string
	for _, v := range s.clientValues(ns) {
		v = strings.TrimPrefix(v, "client.")
		args = append(args, setFlag("."+v), v)
	}
	return args
}

// setFlag is the helm flag that sets v: env values are strings, even a port number.
func setFlag(v string) string {
	if strings.Contains(v, ".env.") {
		return "--set-string"
	}
	return "--set"
}

// HelmEnv is the environment of a helm command: its own homes, this cluster.
func (s *Stage) HelmEnv() []string {
	env := append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	for _, k := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		env = append(env, k+"="+filepath.Join(s.HelmHome, strings.ToLower(k)))
	}
	return env
}

// Helm3 runs the helm CLI and returns its combined output.
func (s *Stage) Helm3(ctx context.Context, args ...string) (string, error) {
	return s.run(ctx, s.Helm, args...)
}

// run runs a CLI in the helm environment and returns its combined output, which it also
// copies to Output.
func (s *Stage) run(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := s.command(ctx, bin, args...).CombinedOutput()
	if s.Output != nil {
		_, _ = s.Output.Write(out)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// command is a command of bin in the helm environment.
func (s *Stage) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.HelmEnv()
	return cmd
}

// ChartArgs name the chart of helm install/upgrade/template: ChartRef with ChartFlags, or
// the chart folder.
func (s *Stage) ChartArgs() []string {
	if s.ChartRef != "" {
		return append([]string{s.ChartRef}, s.ChartFlags...)
	}
	return []string{s.ChartDir()}
}

// PostRenderArgs are the post-renderer's arguments: this cluster, the pinned images.
func (s *Stage) PostRenderArgs() []string {
	args := []string{"--kubeconfig=" + s.Kubeconfig}
	if s.Images != "" {
		args = append(args, "--images="+s.Images)
	}
	return args
}

// InstallArgs are the arguments of `helm install|upgrade` with the post-renderer.
func (s *Stage) InstallArgs(verb, release, ns string, extra ...string) []string {
	args := append([]string{verb, release}, s.ChartArgs()...)
	args = append(args, "-n", ns, "--post-renderer", s.PostRender)
	for _, a := range s.PostRenderArgs() {
		args = append(args, "--post-renderer-args", a)
	}
	if verb == "install" {
		args = append(args, "--create-namespace")
	}
	args = append(args, s.Values(ns)...)
	return append(args, extra...)
}

// Install runs `helm install` with the post-renderer (it returns at once: the pod waits
// for the approval).
func (s *Stage) Install(ctx context.Context, release, ns string, extra ...string) (string, error) {
	return s.Helm3(ctx, s.InstallArgs("install", release, ns, extra...)...)
}
