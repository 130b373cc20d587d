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
	// IdentityNamespace is the namespace whose UID identifies a cluster.
	IdentityNamespace = "kube-system"
)
