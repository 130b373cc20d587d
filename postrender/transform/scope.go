package transform

import "strings"

// GroupKind names a kind of object: Group is the API group ("" for the core group, "apps",
// "cert-manager.io"), Kind the kind ("Deployment").
type GroupKind struct {
	Group string
	Kind  string
}

func (gk GroupKind) String() string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

// builtinClusterScoped lists the cluster-scoped kinds that Kubernetes itself serves, so
// that the namespace is right without a cluster to ask (helm template, --offline).
var builtinClusterScoped = []GroupKind{
	{"", "ComponentStatus"},
	{"", "Namespace"},
	{"", "Node"},
	{"", "PersistentVolume"},
	{"admissionregistration.k8s.io", "MutatingAdmissionPolicy"},
	{"admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"},
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
	{"apiextensions.k8s.io", "CustomResourceDefinition"},
	{"apiregistration.k8s.io", "APIService"},
	{"apiserverinternal.k8s.io", "StorageVersion"},
	{"authentication.k8s.io", "SelfSubjectReview"},
	{"authentication.k8s.io", "TokenReview"},
	{"authorization.k8s.io", "SelfSubjectAccessReview"},
	{"authorization.k8s.io", "SelfSubjectRulesReview"},
	{"authorization.k8s.io", "SubjectAccessReview"},
	{"certificates.k8s.io", "CertificateSigningRequest"},
	{"certificates.k8s.io", "ClusterTrustBundle"},
	{"flowcontrol.apiserver.k8s.io", "FlowSchema"},
	{"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
	{"networking.k8s.io", "IngressClass"},
	{"networking.k8s.io", "IPAddress"},
	{"networking.k8s.io", "ServiceCIDR"},
	{"node.k8s.io", "RuntimeClass"},
	{"policy", "PodSecurityPolicy"},
	{"rbac.authorization.k8s.io", "ClusterRole"},
	{"rbac.authorization.k8s.io", "ClusterRoleBinding"},
	{"resource.k8s.io", "DeviceClass"},
	{"resource.k8s.io", "DeviceTaintRule"},
	{"resource.k8s.io", "ResourceSlice"},
	{"scheduling.k8s.io", "PriorityClass"},
	{"storage.k8s.io", "CSIDriver"},
	{"storage.k8s.io", "CSINode"},
	{"storage.k8s.io", "StorageClass"},
	{"storage.k8s.io", "VolumeAttachment"},
	{"storage.k8s.io", "VolumeAttributesClass"},
	{"storagemigration.k8s.io", "StorageVersionMigration"},
}

// scopes answers whether a kind is namespaced: the built-in list, then what the caller
// learned (discovery, or a test standing in for it), then CustomResourceDefinitions seen
// earlier in the stream. A kind nobody knows is taken as namespaced, as kubectl and
// kustomize do.
type scopes map[GroupKind]bool // true: cluster-scoped

func newScopes(known map[GroupKind]bool) scopes {
	s := make(scopes, len(builtinClusterScoped)+len(known))
	for _, gk := range builtinClusterScoped {
		s[gk] = true
	}
	for gk, cluster := range known {
		s[gk] = cluster
	}
	return s
}

func (s scopes) clusterScoped(gk GroupKind) bool {
	return s[gk]
}

// groupOf returns the API group of an apiVersion: "apps" for "apps/v1", "" for "v1".
func groupOf(apiVersion string) string {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return group
}
