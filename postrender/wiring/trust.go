package wiring

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/yamlnode"
)

// Trust is the wiring object's spec.trust: with an extra CA, the bootstrap writes the CA
// bundle of the client's containers (the image's roots and that CA) as File into Volume,
// an emptyDir of the jobs-manager pod, and into the node-agents copy of the credential
// under the same key. The wiring mounts it at MountPath into every container that reads
// the credential, and points the variables below at it.
type Trust struct {
	Volume, MountPath, File string
}

// trustVariables are the variables with which the client's containers find a CA bundle:
// OpenSSL's and Go's, Python requests', and curl's.
var trustVariables = []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}

// trustCopyVolume is the volume the wiring adds to node-agents pods: the node-agents copy
// of the credential, the CA bundle's key only.
const trustCopyVolume = "tracebloc-trust"

// parseTrust checks spec.trust (nil when absent) against the volumes the spec brings.
func parseTrust(spec *yaml.Node, volumes []*yaml.Node) (*Trust, error) {
	n := yamlnode.Field(spec, "trust")
	if n == nil || (n.Kind == yaml.ScalarNode && scalar(n) == "") {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, malformed("spec.trust", "is not a map")
	}
	t := &Trust{Volume: scalar(yamlnode.Field(n, "volume")), MountPath: scalar(yamlnode.Field(n, "mountPath")), File: scalar(yamlnode.Field(n, "file"))}
	found := slices.ContainsFunc(volumes, func(v *yaml.Node) bool { return scalar(yamlnode.Field(v, "name")) == t.Volume })
	switch {
	case !found:
		return nil, malformed("spec.trust.volume", fmt.Sprintf("is %s, not one of spec.volumes", show(t.Volume)))
	case !filepath.IsAbs(t.MountPath) || filepath.Clean(t.MountPath) != t.MountPath || len(t.MountPath) > 256 || t.MountPath == "/":
		return nil, malformed("spec.trust.mountPath", fmt.Sprintf("is %s, not an absolute, clean folder path", show(t.MountPath)))
	case t.File != names.TrustBundleKey:
		return nil, malformed("spec.trust.file", fmt.Sprintf("is %s, not %s (the key of the node-agents copy)", show(t.File), names.TrustBundleKey))
	}
	return t, nil
}

// trustCA gives the containers of o that read the credential the CA bundle: in the
// jobs-manager pod from the bootstrap's volume, in the node-agents namespace from the copy
// of the credential. Other workloads in the release namespace have no bundle to mount (the
// client chart has none that read the credential).
func trustCA(spec Spec, o *heldObject, isJobsManager bool) error {
	t := spec.Trust
	if t == nil {
		return nil
	}
	inCopy := spec.NodeAgentsNamespace != "" && o.namespace == spec.NodeAgentsNamespace
	if !isJobsManager && !inCopy {
		return nil
	}
	pod := podSpec(o)
	if pod == nil {
		return nil
	}
	volume := t.Volume
	if inCopy {
		volume = trustCopyVolume
		if err := addCopyVolume(spec, o, pod); err != nil {
			return err
		}
	}
	file := t.MountPath + "/" + t.File
	var trusted []string
	for _, c := range items(yamlnode.Field(pod, "containers")) {
		if !readsEdgeCredential(c, spec.CredentialSecret) {
			continue
		}
		if err := mountTrust(o, c, volume, t.MountPath, file); err != nil {
			return err
		}
		trusted = append(trusted, scalar(yamlnode.Field(c, "name")))
	}
	if len(trusted) == 0 {
		return nil
	}
	o.held.Changed = true
	o.wired = append(o.wired, fmt.Sprintf("CA bundle %s (volume %s) mounted into %s, with %s pointing at it",
		file, volume, strings.Join(trusted, ", "), strings.Join(trustVariables, ", ")))
	return nil
}

// podSpec is the pod spec of a workload: spec.template.spec, or a CronJob's
// spec.jobTemplate.spec.template.spec.
func podSpec(o *heldObject) *yaml.Node {
	pod := path(o.node, "spec", "template", "spec")
	if o.kind == "CronJob" {
		pod = path(o.node, "spec", "jobTemplate", "spec", "template", "spec")
	}
	if pod == nil || pod.Kind != yaml.MappingNode {
		return nil
	}
	return pod
}

// readsEdgeCredential reports whether container c takes CLIENT_ID or CLIENT_PASSWORD from
// the edge credential Secret (after repoint).
func readsEdgeCredential(c *yaml.Node, secret string) bool {
	for _, e := range items(yamlnode.Field(c, "env")) {
		ref := path(e, "valueFrom", "secretKeyRef")
		if scalar(yamlnode.Field(ref, "name")) == secret && slices.Contains(credentialKeys, scalar(yamlnode.Field(ref, "key"))) {
			return true
		}
	}
	return false
}

// addCopyVolume adds the node-agents copy of the credential, its CA bundle key alone, as a
// volume of the pod.
func addCopyVolume(spec Spec, o *heldObject, pod *yaml.Node) error {
	vols := ensureSeq(pod, "volumes")
	if vols == nil {
		return fmt.Errorf("%s: the pod's volumes are not a list: report the client chart's output", o)
	}
	for _, v := range vols.Content {
		if scalar(yamlnode.Field(v, "name")) == trustCopyVolume {
			return fmt.Errorf("%s already has a volume named %s, which the wiring adds for the CA bundle: was the stream post-rendered twice? Render from the chart again", o, trustCopyVolume)
		}
	}
	vols.Content = append(vols.Content, mapOf(
		str("name"), str(trustCopyVolume),
		str("secret"), mapOf(
			str("secretName"), str(spec.CredentialSecret),
			str("items"), &yaml.Node{Kind: yaml.SequenceNode, Tag: yamlnode.TagSeq, Content: []*yaml.Node{
				mapOf(str("key"), str(names.TrustBundleKey), str("path"), str(spec.Trust.File)),
			}})))
	return nil
}

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: v}
}

func mapOf(pairs ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: yamlnode.TagMap, Content: pairs}
}

// mountTrust mounts volume read-only at dir in container c and sets the trust variables to
// file, replacing any value the chart gave them.
func mountTrust(o *heldObject, c *yaml.Node, volume, dir, file string) error {
	mounts := ensureSeq(c, "volumeMounts")
	env := ensureSeq(c, "env")
	if mounts == nil || env == nil {
		return fmt.Errorf("%s: container %s has volumeMounts or env that is not a list: report the client chart's output", o, show(scalar(yamlnode.Field(c, "name"))))
	}
	for _, m := range mounts.Content {
		if scalar(yamlnode.Field(m, "mountPath")) == dir {
			return fmt.Errorf("%s: container %s already mounts something at %s, where the wiring mounts the CA bundle: was the stream post-rendered twice? Render from the chart again", o, show(scalar(yamlnode.Field(c, "name"))), dir)
		}
	}
	mounts.Content = append(mounts.Content, mapOf(str("name"), str(volume), str("mountPath"), str(dir),
		str("readOnly"), &yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagBool, Value: "true"}))
	for _, name := range trustVariables {
		env.Content = slices.DeleteFunc(env.Content, func(e *yaml.Node) bool { return scalar(yamlnode.Field(e, "name")) == name })
		e := &yaml.Node{Kind: yaml.MappingNode, Tag: yamlnode.TagMap}
		setKey(e, "name", name)
		setKey(e, "value", file)
		env.Content = append(env.Content, e)
	}
	return nil
}
