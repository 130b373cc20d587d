// Package names provides the Kubernetes names that the bootstrap and the post-renderer
// share, each defined here once: the labels one writes and the other reads, and the
// namespace whose UID is a cluster's id.
package names

const (
	// ClusterIDLabel carries a cluster's id: the post-renderer puts it on every object and
	// pod template, the bootstrap's pod reads it through the downward API, and the
	// credential Secret carries it as an annotation.
	ClusterIDLabel = "tracebloc.io/cluster-id"
	// CredentialLabel, set to "true", marks the credential Secret the bootstrap writes;
	// the post-renderer's guard looks for it in every namespace.
	CredentialLabel = "tracebloc.io/credential"
	// CredentialCopyLabel, set to "true", marks the copy of the credential the bootstrap
	// keeps in the client chart's node-agents namespace (for the resource-monitor
	// DaemonSet). A copy is not a second client: the guard does not count it.
	CredentialCopyLabel = "tracebloc.io/credential-copy"
	// TrustBundleKey is the file, and the key of the node-agents copy of the credential,
	// that holds the CA bundle of the client's containers when the chart has an extra CA:
	// the bootstrap writes it, the post-renderer points the containers at it.
	TrustBundleKey = "ca-certificates.crt"
	// IdentityNamespace is the namespace whose UID identifies a cluster.
	IdentityNamespace = "kube-system"

	// The tracebloc/client chart's own label keys and values, read by the tracebloc CLI
	// and by the guard: a Secret labelled AppNameLabel=ClientChartName belongs to a
	// tracebloc/client release, named by AppInstanceLabel.
	AppNameLabel     = "app.kubernetes.io/name"
	AppInstanceLabel = "app.kubernetes.io/instance"
	HelmChartLabel   = "helm.sh/chart"
	ClientChartName  = "client"
	// ClientChartVersion is the version of the tracebloc/client chart the edge chart
	// depends on and the post-renderer knows how to wire.
	ClientChartVersion = "1.9.62"

	// WiringAPIVersion and WiringKind name the object the edge chart renders for the
	// post-renderer: it carries the bootstrap init container and the names the wiring
	// needs, and no API server serves it, so an install without the post-renderer fails.
	WiringAPIVersion = "edge.tracebloc.io/v1"
	WiringKind       = "PostRendererRequired"
)
