// Package cluster provides a real single-node Kubernetes cluster on this machine for tests
// and development: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// containerd, metrics-server and an OCI registry, all on 127.0.0.1, all inside one
// instance folder.
//
// Up starts an instance (or returns the running one untouched), Down removes it without
// leaving a process, mount, cgroup or container behind, and Status tells whether it runs.
// The facts it rests on:
//
//   - The Kubernetes binaries, etcd, the metrics server and the registry (CNCF
//     distribution) come from
//     scripts/build-tools (cached under ${XDG_CACHE_HOME:-~/.cache}/tracebloc-edge/bin);
//     containerd, runc, ctr and busybox from Debian.
//   - Pods pull images as on a real cluster: PushImage puts an image into the instance's
//     registry (TLS from the instance's CA) under its real name, and containerd's hosts.toml
//     files send every pull of ghcr.io, docker.io and the registry's own address there,
//     and nowhere else. Only the sandbox (pause) image is imported, at Up.
//   - Each instance has its own ports (derived from its name, checked free and recorded
//     in state.json), its own containerd socket, root and state, its own kubelet root and
//     cgroup root, so two instances run side by side.
//   - The node is named "localhost" and stays NotReady (no CNI). Pods must use the host
//     network: see PrepareForLoopback, which also sets the RuntimeClass LoopbackRuntimeClass.
//     That RuntimeClass tolerates the not-ready taint, and the PodSecurity admission
//     exempts it, because every Pod Security level forbids hostNetwork; everything else of
//     the restricted level is still for the pod spec to meet (a server-side dry run without
//     the RuntimeClass shows it).
//   - A chart that knows nothing of this (the tracebloc/client chart) runs unchanged in a
//     namespace labelled HostNetworkLabel (see HostNetworkNamespace): two
//     MutatingAdmissionPolicies give its new pods what PrepareForLoopback gives, plus the
//     entries of the namespace's PodEnvConfigMap, and override nothing a pod sets. Such
//     pods bind their ports on the host, so two installs of a chart with fixed ports
//     (the client chart's 8080, 3306, 8888) run one at a time on this machine, whatever
//     the namespace or instance.
//   - Claims bind: StorageClass is the default, served by the controller manager's
//     hostPath provisioner (folders under /tmp/hostpath_pv, removed with their volumes
//     and by Down).
//   - The resource metrics API (APIService MetricsAPIService, `kubectl top`) is served by
//     a metrics server on 127.0.0.1 that scrapes the kubelet; Up waits until it is
//     Available, since an APIService that does not answer stalls discovery and so the
//     deletion of every namespace.
//   - Processes are stopped by the PIDs recorded in the folder (checked against their start
//     time), never by name.
//
// The instance folder defaults to ${XDG_CACHE_HOME:-~/.cache}/tracebloc-edge/clusters/NAME.
package cluster
