package wiring

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/yamlnode"
	"github.com/tracebloc/edge/postrender/transform"
)

// heldObject is a held document and what Hold read of it.
type heldObject struct {
	object
	held  *transform.Held
	wired []string // what was done to it, for Wired
}

// Finish wires the held objects when one of them is the wiring object; otherwise it leaves
// them as they are.
func (w *Wiring) Finish(held []*transform.Held) error {
	if w.finished {
		return errors.New("wiring: Finish called twice on one stream")
	}
	w.finished = true
	var objs []*heldObject
	var wiring []*heldObject
	for _, h := range held {
		o := &heldObject{object: read(h.Object), held: h}
		objs = append(objs, o)
		if o.isWiringObject {
			wiring = append(wiring, o)
		}
	}
	switch {
	case len(wiring) == 0:
		return nil
	case len(wiring) > 1:
		var found []string
		for _, o := range wiring {
			found = append(found, o.String())
		}
		return fmt.Errorf("the stream holds %d wiring objects (%s), one per release is what the edge chart renders: render one release at a time", len(wiring), list(found))
	}
	if w.held > maxHeld {
		return fmt.Errorf("the stream holds %d objects of the client chart's kinds that the wiring edits (Secrets, workloads reading CLIENT_ID), more than the %d it takes: render one release of the edge chart at a time", w.held, maxHeld)
	}
	spec, err := parseSpec(wiring[0].object)
	if err != nil {
		return fmt.Errorf("%s (%s): %w; the edge chart writes this object for the post-renderer: render it with the edge chart of this post-renderer's version (tracebloc-postrender --version) and do not edit it", wiring[0], wiring[0].held.Name, err)
	}
	w.release, w.migrate = spec.Release, spec.MigrateFrom
	if err := w.checkVersions(spec); err != nil {
		return err
	}
	if err := w.wire(spec, objs); err != nil {
		return err
	}
	wiring[0].held.Drop = true
	wiring[0].wired = append(wiring[0].wired, "removed (the edge chart's request for this post-renderer, done)")
	if err := w.checkLeftovers(spec, objs); err != nil {
		return err
	}
	for _, o := range objs {
		if len(o.wired) > 0 {
			w.wired = append(w.wired, Wired{Object: o.String(), What: strings.Join(o.wired, "; ")})
		}
	}
	return nil
}

// checkVersions refuses a client chart this package does not know.
func (w *Wiring) checkVersions(spec Spec) error {
	if spec.ClientChart != WantClientChart {
		return fmt.Errorf("the edge chart asks to wire the tracebloc/client chart %s, and this post-renderer wires %s only: use the tracebloc-postrender of the edge chart's release (the two are released together)", show(spec.ClientChart), WantClientChart)
	}
	if len(w.foreign) > 0 {
		return fmt.Errorf("the stream holds objects of a tracebloc/client chart version this post-renderer does not know (%s); it wires %s only: keep the edge chart's client dependency at %s, or use the tracebloc-postrender released with the edge chart that depends on that version", list(w.foreign), WantClientChart, names.ClientChartVersion)
	}
	if len(w.inLists) > 0 {
		return fmt.Errorf("the stream holds the client chart's objects inside List documents (%s), which this post-renderer does not wire: render them as documents of their own", list(w.inLists))
	}
	return nil
}

// wire makes the edits of the design, in order: the jobs-manager's init container and
// volumes, the secretKeyRefs of every client workload (and, with an extra CA, the CA bundle
// of its containers that read the credential), the client chart's Secrets.
func (w *Wiring) wire(spec Spec, objs []*heldObject) error {
	jm, err := jobsManager(spec, objs)
	if err != nil {
		return err
	}
	if err := addInitContainer(spec, jm); err != nil {
		return err
	}
	placeholder := spec.Release + "-secrets"
	for _, o := range objs {
		if !o.isClient || o.instance != spec.Release {
			continue
		}
		if o.isSecret() {
			w.secret(spec, o, placeholder)
			continue
		}
		if o.namespace != spec.Namespace && (spec.NodeAgentsNamespace == "" || o.namespace != spec.NodeAgentsNamespace) {
			continue // no credential Secret there; checkLeftovers names it
		}
		repoint(spec, o, placeholder)
		if err := trustCA(spec, o, o == jm); err != nil {
			return err
		}
	}
	return nil
}

// jobsManager finds the client chart's jobs-manager Deployment: pod template label
// app=manager and the containers api and pods-monitor-container, in the release namespace.
func jobsManager(spec Spec, objs []*heldObject) (*heldObject, error) {
	var found, deployments []string
	var jm *heldObject
	for _, o := range objs {
		if !o.isClient || o.kind != "Deployment" || o.apiVersion != "apps/v1" {
			continue
		}
		deployments = append(deployments, o.String())
		pod := path(o.node, "spec", "template")
		if scalar(path(pod, "metadata", "labels", "app")) != "manager" || o.namespace != spec.Namespace || o.instance != spec.Release {
			continue
		}
		var containers []string
		for _, c := range items(path(pod, "spec", "containers")) {
			containers = append(containers, scalar(yamlnode.Field(c, "name")))
		}
		if slices.Contains(containers, "api") && slices.Contains(containers, "pods-monitor-container") {
			found = append(found, o.String())
			jm = o
		}
	}
	switch {
	case len(found) == 1:
		return jm, nil
	case len(found) > 1:
		return nil, fmt.Errorf("the stream holds %d jobs-manager Deployments of the client chart (%s), one is what the client chart renders: render one release at a time", len(found), list(found))
	}
	have := "none"
	if len(deployments) > 0 {
		have = list(deployments)
	}
	return nil, fmt.Errorf("the client chart's jobs-manager Deployment of release %q in namespace %q is not in the stream (a Deployment with pod label app=manager and containers api and pods-monitor-container; client chart Deployments found: %s), so there is nothing to run the bootstrap in: render the edge chart with client.enabled=true and its client dependency in charts/ (helm dependency build), or report the chart's output if it is there", spec.Release, spec.Namespace, have)
}

// addInitContainer puts the bootstrap first among the jobs-manager's init containers and
// adds the volumes it mounts.
func addInitContainer(spec Spec, jm *heldObject) error {
	pod := path(jm.node, "spec", "template", "spec")
	if pod == nil || pod.Kind != yaml.MappingNode {
		return fmt.Errorf("%s has no pod spec (spec.template.spec): report the client chart's output", jm)
	}
	inits := ensureSeq(pod, "initContainers")
	vols := ensureSeq(pod, "volumes")
	if inits == nil || vols == nil {
		return fmt.Errorf("%s: spec.template.spec.initContainers or .volumes is not a list: report the client chart's output", jm)
	}
	name := scalar(yamlnode.Field(spec.InitContainer, "name"))
	for _, c := range inits.Content {
		if scalar(yamlnode.Field(c, "name")) == name {
			return fmt.Errorf("%s already has an init container named %s: the wiring adds one of that name; was the stream post-rendered twice? Render from the chart again", jm, show(name))
		}
	}
	var added []string
	for _, v := range spec.Volumes {
		vn := scalar(yamlnode.Field(v, "name"))
		for _, have := range vols.Content {
			if scalar(yamlnode.Field(have, "name")) == vn {
				return fmt.Errorf("%s already has a volume named %s, which the bootstrap's init container brings too: report the two charts' versions (edge and client %s)", jm, show(vn), names.ClientChartVersion)
			}
		}
		vols.Content = append(vols.Content, yamlnode.Copy(v))
		added = append(added, vn)
	}
	inits.Content = append([]*yaml.Node{yamlnode.Copy(spec.InitContainer)}, inits.Content...)
	jm.held.Changed = true
	what := "init container " + name + " first"
	if len(added) > 0 {
		what += ", volumes " + strings.Join(added, ", ") + " added"
	}
	jm.wired = append(jm.wired, what)
	return nil
}

// repoint points the workload's secretKeyRefs of CLIENT_ID and CLIENT_PASSWORD from the
// client chart's Secret at the edge credential Secret (in the node-agents namespace, the
// bootstrap's copy of it, which has the same name).
func repoint(spec Spec, o *heldObject, placeholder string) {
	var at []string
	for _, r := range secretRefs(o.object) {
		if r.node == nil || r.secret != placeholder || !slices.Contains(credentialKeys, r.key) {
			continue
		}
		setScalar(yamlnode.Field(r.node, "name"), spec.CredentialSecret)
		at = append(at, r.at)
	}
	if len(at) == 0 {
		return
	}
	o.held.Changed = true
	from := "Secret " + spec.CredentialSecret
	if o.namespace != spec.Namespace {
		from += " (the bootstrap's copy in this namespace)"
	}
	o.wired = append(o.wired, fmt.Sprintf("%d credential references read from %s instead of %s (%s)", len(at), from, placeholder, strings.Join(at, ", ")))
}

// secret drops the placeholder credential from the client chart's Secret: in the release
// namespace the Secret keeps its other keys and loses the name=client label (the edge
// credential is then the one Secret with that label and a CLIENT_ID); elsewhere, where it
// held only the placeholder, it goes.
func (w *Wiring) secret(spec Spec, o *heldObject, placeholder string) {
	if o.name != placeholder {
		return
	}
	var other []string
	for _, key := range []string{"data", "stringData"} {
		m := yamlnode.Field(o.node, key)
		if m == nil || m.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i].Value; !slices.Contains(credentialKeys, k) {
				other = append(other, k)
			}
		}
	}
	if o.namespace != spec.Namespace && len(other) == 0 {
		o.held.Drop = true
		o.wired = append(o.wired, "removed (it held only the placeholder credential; the bootstrap keeps a copy of the edge credential here)")
		return
	}
	dropped := false
	for _, key := range []string{"data", "stringData"} {
		for _, k := range credentialKeys {
			dropped = deleteKey(yamlnode.Field(o.node, key), k) || dropped
		}
	}
	labels := path(o.node, "metadata", "labels")
	setKey(labels, names.AppNameLabel, names.ClientChartName+"-secrets")
	o.held.Changed = true
	what := "label " + names.AppNameLabel + "=" + names.ClientChartName + "-secrets"
	if dropped {
		what = "placeholder CLIENT_ID and CLIENT_PASSWORD dropped, " + what
	}
	o.wired = append(o.wired, what)
}

// checkLeftovers refuses a stream in which anything still takes CLIENT_ID or
// CLIENT_PASSWORD from the client chart's Secret.
func (w *Wiring) checkLeftovers(spec Spec, objs []*heldObject) error {
	placeholder := spec.Release + "-secrets"
	refs := slices.Clone(w.refs)
	for _, o := range objs {
		if !o.held.Drop {
			refs = append(refs, secretRefs(o.object)...)
		}
	}
	var left []string
	for _, r := range refs {
		if r.takesCredential(placeholder) {
			key := safe(r.key)
			if r.key == "" {
				key = "all keys"
			}
			left = append(left, fmt.Sprintf("%s at %s (%s)", r.from, r.at, key))
		}
	}
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("after the wiring, %d references still take the client credential from Secret %s, whose placeholder the wiring removes: %s. This post-renderer points only the secretKeyRefs of the client chart's workloads in namespaces %s at the edge credential; report the charts' versions (edge, and client %s) and the values used", len(left), placeholder, list(left), namespaces(spec), names.ClientChartVersion)
}

func namespaces(spec Spec) string {
	if spec.NodeAgentsNamespace == "" {
		return fmt.Sprintf("%q", spec.Namespace)
	}
	return fmt.Sprintf("%q and %q", spec.Namespace, spec.NodeAgentsNamespace)
}
