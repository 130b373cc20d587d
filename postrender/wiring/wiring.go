// Package wiring provides the post-renderer's edit of the tracebloc/client chart's objects
// that the edge chart asks for with its wiring object (kind names.WiringKind): the
// bootstrap becomes the jobs-manager's first init container, the client's workloads read
// CLIENT_ID and CLIENT_PASSWORD from the edge credential Secret (in the node-agents
// namespace from the bootstrap's copy of it), the client chart's placeholder credential
// goes, and the wiring object itself is removed.
//
// A Wiring is a transform.Holder: it holds back only the wiring object, the client chart's
// Secrets and the client chart's workloads that read CLIENT_ID or CLIENT_PASSWORD from a
// Secret, and edits them at the end of the stream; a stream without the wiring object
// passes unchanged. The client chart's objects are known by what they are (the labels
// helm.sh/chart=client-<version> and app.kubernetes.io/name=client, kind and shape), never
// by template file names. Everything in the stream is untrusted: the wiring object is
// checked field by field, and values from the stream are quoted and cut short in messages.
package wiring

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/yamlnode"
	"github.com/tracebloc/edge/postrender/transform"
)

// credentialKeys are the keys of the client's machine credential.
var credentialKeys = []string{"CLIENT_ID", "CLIENT_PASSWORD"}

// Wired says what the wiring did to one object.
type Wired struct {
	Object string // Kind namespace/name
	What   string
}

// SecretName is a Secret of the stream.
type SecretName struct{ Namespace, Name string }

// Wiring is the edit; the zero value is not usable, use New.
type Wiring struct {
	secrets  []SecretName
	foreign  []string // client chart objects of a version this package does not know
	inLists  []string // client chart objects or wiring objects inside List documents
	refs     []ref    // references to Secrets from objects not held
	wired    []Wired
	migrate  string
	release  string
	held     int // documents held so far
	finished bool
}

// maxHeld bounds the documents a stream can make the wiring hold (the client chart renders
// about ten): a stream is untrusted, and held documents stay parsed until its end.
const maxHeld = 500

// New returns a Wiring for one stream.
func New() *Wiring { return &Wiring{} }

var _ transform.Holder = (*Wiring)(nil)

// object is what Hold and Finish read of an object.
type object struct {
	node                     *yaml.Node
	apiVersion, kind         string
	namespace, name          string
	chartVersion             string // of the client chart; "" when not one of its objects
	instance                 string
	isClient, isWiringObject bool
}

func read(n *yaml.Node) object {
	meta := yamlnode.Field(n, "metadata")
	labels := yamlnode.Field(meta, "labels")
	o := object{
		node:       n,
		apiVersion: scalar(yamlnode.Field(n, "apiVersion")),
		kind:       scalar(yamlnode.Field(n, "kind")),
		namespace:  scalar(yamlnode.Field(meta, "namespace")),
		name:       scalar(yamlnode.Field(meta, "name")),
		instance:   scalar(yamlnode.Field(labels, names.AppInstanceLabel)),
	}
	o.isWiringObject = o.kind == names.WiringKind && o.apiVersion == names.WiringAPIVersion
	chart := scalar(yamlnode.Field(labels, names.HelmChartLabel))
	if v, ok := strings.CutPrefix(chart, names.ClientChartName+"-"); ok && scalar(yamlnode.Field(labels, names.AppNameLabel)) == names.ClientChartName {
		o.isClient, o.chartVersion = true, v
	}
	return o
}

// String names the object for a person: Kind namespace/name, quoted where the stream may
// have put anything in it.
func (o object) String() string {
	id := o.name
	if o.namespace != "" {
		id = o.namespace + "/" + o.name
	}
	return safe(o.kind) + " " + safe(id)
}

func (o object) isSecret() bool { return o.kind == "Secret" && o.apiVersion == "v1" }

// Hold keeps the objects the wiring may edit: the wiring object, the client chart's
// Secrets and its workloads that read the credential from a Secret. It notes, from every
// object, the Secrets of the stream (for the guard) and the references to Secrets (for the
// check that nothing reads the placeholder after the wiring).
func (w *Wiring) Hold(n *yaml.Node) bool {
	o := read(n)
	if o.kind != "" && strings.HasSuffix(o.kind, "List") && yamlnode.Field(n, "items") != nil {
		for _, item := range items(yamlnode.Field(n, "items")) {
			if w.note(read(item)) {
				w.inLists = append(w.inLists, read(item).String())
			}
		}
		return false
	}
	if !w.note(o) {
		return false
	}
	w.held++
	return w.held <= maxHeld
}

// note records what the wiring needs to know of o and reports whether to hold it.
func (w *Wiring) note(o object) bool {
	if o.isSecret() {
		w.secrets = append(w.secrets, SecretName{o.namespace, o.name})
	}
	if o.isWiringObject {
		return true
	}
	if o.isClient && o.chartVersion != names.ClientChartVersion && len(w.foreign) < 20 {
		w.foreign = append(w.foreign, o.String()+" of chart "+safe(names.ClientChartName+"-"+o.chartVersion))
	}
	refs := secretRefs(o)
	if o.isClient && (o.isSecret() || readsCredential(refs)) {
		return true
	}
	for _, r := range refs {
		r.node = nil // not edited: keep none of its tree
		w.refs = append(w.refs, r)
	}
	return false
}

// Secrets lists the Secrets of the stream, the ones the wiring removed included: the
// guard's "this render's own objects".
func (w *Wiring) Secrets() []SecretName { return w.secrets }

// MigrateFrom is the wiring object's spec.migrateFrom ("" without one); valid after Finish.
func (w *Wiring) MigrateFrom() string { return w.migrate }

// Release is the wiring object's spec.release ("" without one); valid after Finish.
func (w *Wiring) Release() string { return w.release }

// Wired lists what the wiring did, one entry per object, in stream order; empty when the
// stream had no wiring object.
func (w *Wiring) Wired() []Wired { return w.wired }
