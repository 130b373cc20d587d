package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// NodeName is the name of the only node: the API server reaches the kubelet at
	// localhost:<kubelet port> through --kubelet-preferred-address-types Hostname.
	NodeName = "localhost"
	// serviceCIDR is only an allocation range for Service IPs: nothing is ever sent there.
	serviceCIDR = "10.96.0.0/24"
	serviceIP   = "10.96.0.1"
	// PauseImage is the sandbox image containerd runs for every pod; the harness builds it
	// from busybox-static and imports it at Up, the one image not pulled from the
	// registry: containerd needs it for the first pod's sandbox, before any pull.
	PauseImage = "localhost/tracebloc-edge/pause:busybox"
	// LoopbackRuntimeClass is the RuntimeClass of host-network pods: it tolerates the
	// not-ready taint and is exempt from Pod Security admission (see the package comment).
	LoopbackRuntimeClass = "tracebloc-loopback"
)

// identity is one user of the token-auth file and its kubeconfig.
type identity struct {
	file, user string
	groups     []string
}

var identities = []identity{
	{file: "admin", user: "tracebloc-edge-admin", groups: []string{"system:masters"}},
	{file: "kubelet", user: "system:node:" + NodeName, groups: []string{"system:nodes"}},
	{file: "controller-manager", user: "system:kube-controller-manager"},
	{file: "scheduler", user: "system:kube-scheduler"},
	{file: "metrics-server", user: metricsServerUser},
}

// writeCredentials writes the token-auth file and one kubeconfig per identity; the admin
// kubeconfig also at the top of the folder.
func writeCredentials(p paths, name string, ports Ports) error {
	if err := os.MkdirAll(p.join("kubeconfig"), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig folder: %w", err)
	}
	ca, err := os.ReadFile(p.pki("ca.crt"))
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	var csv strings.Builder
	for i, id := range identities {
		token, err := randomToken()
		if err != nil {
			return err
		}
		fmt.Fprintf(&csv, "%s,%s,%d,%q\n", token, id.user, 1000+i, strings.Join(id.groups, ","))
		cfg := kubeconfig(name, ports.APIServer, ca, id.user, token)
		file := p.kubeconfig(id.file)
		if id.file == "admin" {
			file = p.adminKubeconfig()
		}
		if err := clientcmd.WriteToFile(cfg, file); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", id.file, err)
		}
	}
	if err := os.WriteFile(p.pki("tokens.csv"), []byte(csv.String()), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

func kubeconfig(name string, port int, ca []byte, user, token string) clientcmdapi.Config {
	context := "tracebloc-edge-" + name
	return clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{context: {
			Server:                   "https://127.0.0.1:" + strconv.Itoa(port),
			CertificateAuthorityData: ca,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{user: {Token: token}},
		Contexts: map[string]*clientcmdapi.Context{context: {
			Cluster: context, AuthInfo: user, Namespace: "default",
		}},
		CurrentContext: context,
	}
}

// writeConfigs writes the containerd (with its registry hosts), kubelet, admission and
// registry configuration files.
func writeConfigs(p paths, st state) error {
	secret, err := randomToken()
	if err != nil {
		return err
	}
	files := map[string]string{
		p.containerd("config.toml"): containerdConfig(p),
		p.kubelet("config.yaml"):    kubeletConfig(p, st),
		p.join("admission.yaml"):    admissionConfig,
		p.registry("config.yml"):    registryConfig(p, st, secret),
	}
	for file, content := range hostsFiles(p, st.Ports.Registry) {
		files[file] = content
	}
	for file, content := range files {
		if err := os.MkdirAll(dirOf(file), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", file, err)
		}
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	if err := os.MkdirAll(p.registry("data"), 0o755); err != nil {
		return fmt.Errorf("create the registry's storage: %w", err)
	}
	return os.MkdirAll(p.containerd("cni"), 0o755)
}

func dirOf(file string) string {
	i := strings.LastIndexByte(file, '/')
	if i <= 0 {
		return "/"
	}
	return file[:i]
}

// containerdConfig: CRI with runc and overlayfs; restrict_oom_score_adj because this
// machine forbids lowering oom_score_adj; no CNI configuration (pods use the host
// network); the stream server (exec, attach) on loopback; no metrics or debug listeners;
// images pulled through the hosts.toml files of certs.d (see hostsTOML).
func containerdConfig(p paths) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0

[grpc]
  address = %q

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  disable_cgroup = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, p.containerd("root"), p.containerd("state"), p.containerdSocket(), p.containerd("opt"),
		PauseImage, p.containerd("cni"), p.containerd("cni"), p.containerd("certs.d"))
}

// kubeletConfig: cgroupfs under the instance's own cgroup root, loopback only,
// anonymous access allowed (loopback test cluster only), no eviction, no image GC.
func kubeletConfig(p paths, st state) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
healthzBindAddress: 127.0.0.1
healthzPort: %d
readOnlyPort: 0
cgroupDriver: cgroupfs
cgroupRoot: %s
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
staticPodPath: ""
tlsCertFile: %s
tlsPrivateKeyFile: %s
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 876000h
serializeImagePulls: false
resolvConf: /etc/resolv.conf
maxPods: 110
enforceNodeAllocatable: []
`, st.Ports.Kubelet, st.Ports.KubeletHealthz, st.CgroupRoot, p.containerdSocket(), p.join("pod-logs"),
		p.pki("kubelet.crt"), p.pki("kubelet.key"), p.pki("ca.crt"))
}

// admissionConfig exempts the loopback RuntimeClass from Pod Security admission: every
// level forbids hostNetwork, which pods of this node-without-CNI need.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: privileged
      enforce-version: latest
      audit: privileged
      audit-version: latest
      warn: privileged
      warn-version: latest
    exemptions:
      usernames: []
      namespaces: []
      runtimeClasses: [` + LoopbackRuntimeClass + `]
`

// args of each component.

func etcdArgs(p paths, st state) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(st.Ports.EtcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(st.Ports.EtcdPeer)
	return []string{
		"--name", st.Name,
		"--data-dir", p.join("etcd"),
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", st.Name + "=" + peer,
		"--initial-cluster-state", "new",
		"--unsafe-no-fsync", // a throw-away test cluster: speed over durability
		"--log-level", "warn",
	}
}

func apiserverArgs(p paths, st state) []string {
	return []string{
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(st.Ports.APIServer),
		"--endpoint-reconciler-type", "none",
		"--etcd-servers", "http://127.0.0.1:" + strconv.Itoa(st.Ports.EtcdClient),
		"--cert-dir", p.join("apiserver"),
		"--tls-cert-file", p.pki("apiserver.crt"),
		"--tls-private-key-file", p.pki("apiserver.key"),
		"--client-ca-file", p.pki("ca.crt"),
		"--token-auth-file", p.pki("tokens.csv"),
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction,PodSecurity,MutatingAdmissionPolicy",
		// MutatingAdmissionPolicy is beta and off by default in 1.34: the harness's
		// host-network policies (hostNetworkPolicies) need it.
		"--feature-gates", "MutatingAdmissionPolicy=true",
		"--runtime-config", "admissionregistration.k8s.io/v1beta1=true",
		"--admission-control-config-file", p.join("admission.yaml"),
		"--kubelet-preferred-address-types", "Hostname",
		"--kubelet-certificate-authority", p.pki("ca.crt"),
		"--service-cluster-ip-range", serviceCIDR,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p.pki("sa.pub"),
		"--service-account-signing-key-file", p.pki("sa.key"),
		"--api-audiences", "https://kubernetes.default.svc.cluster.local",
		"--allow-privileged=true",
		// The aggregation layer (the metrics API): proxied requests carry the user in
		// headers, signed for by the front-proxy client certificate.
		"--requestheader-client-ca-file", p.pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names", frontProxyClient,
		"--requestheader-username-headers", "X-Remote-User",
		"--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", p.pki("front-proxy-client.crt"),
		"--proxy-client-key-file", p.pki("front-proxy-client.key"),
		"--profiling=false",
		"--v=1",
	}
}

func controllerManagerArgs(p paths, st state) []string {
	return []string{
		"--kubeconfig", p.kubeconfig("controller-manager"),
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(st.Ports.ControllerManager),
		"--cert-dir", p.join("controller-manager"),
		"--use-service-account-credentials",
		"--root-ca-file", p.pki("ca.crt"),
		"--service-account-private-key-file", p.pki("sa.key"),
		"--controllers", "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route",
		// PersistentVolumeClaims of StorageClass get a folder under /tmp/hostpath_pv
		// (see createStorageClass; Down removes the folders of the instance's volumes).
		"--enable-hostpath-provisioner",
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	}
}

func schedulerArgs(p paths, st state) []string {
	return []string{
		"--kubeconfig", p.kubeconfig("scheduler"),
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(st.Ports.Scheduler),
		"--cert-dir", p.join("scheduler"),
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	}
}

func kubeletArgs(p paths) []string {
	return []string{
		"--config", p.kubelet("config.yaml"),
		"--kubeconfig", p.kubeconfig("kubelet"),
		"--root-dir", p.kubelet("root"),
		"--cert-dir", p.kubelet("pki"),
		"--hostname-override", NodeName,
		"--v=1",
	}
}

func containerdArgs(p paths) []string {
	return []string{"--config", p.containerd("config.toml")}
}
