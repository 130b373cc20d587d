package transform

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/yamlnode"
)

// object edits one Kubernetes object (a mapping node) in place and reports whether it
// changed anything.
func (t *transformer) object(obj *yaml.Node) (bool, error) {
	apiVersion, kind := scalarField(obj, "apiVersion"), scalarField(obj, "kind")
	if kind == "" {
		return false, nil // not a Kubernetes object: none of our business
	}
	gk := GroupKind{Group: groupOf(apiVersion), Kind: kind}
	if items := yamlnode.Field(obj, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		return t.list(items)
	}
	if gk == (GroupKind{"apiextensions.k8s.io", "CustomResourceDefinition"}) {
		t.learnScope(obj)
	}
	if err := t.learnTarget(obj); err != nil {
		return false, err
	}
	changed := false
	for _, edit := range [...]func(*transformer, *yaml.Node, GroupKind) (bool, error){
		(*transformer).namespace, (*transformer).subjects, (*transformer).labels, (*transformer).images,
	} {
		c, err := edit(t, obj, gk)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	return changed, nil
}

// list edits each item of a List kind.
func (t *transformer) list(items *yaml.Node) (bool, error) {
	t.cur.fail() // rare: encoded
	changed := false
	for i, item := range items.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		c, err := t.object(item)
		if err != nil {
			if err == errNeedNamespace {
				return false, err
			}
			return false, fmt.Errorf("item %d: %w", i+1, err)
		}
		changed = changed || c
	}
	return changed, nil
}

// learnScope records the scope of a kind that a CustomResourceDefinition of the stream
// defines, for the objects of that kind that follow (Helm installs CRDs first).
func (t *transformer) learnScope(crd *yaml.Node) {
	spec := yamlnode.Field(crd, "spec")
	group, kind := scalarField(spec, "group"), scalarField(yamlnode.Field(spec, "names"), "kind")
	if group == "" || kind == "" {
		return
	}
	t.scopes[GroupKind{group, kind}] = scalarField(spec, "scope") == "Cluster"
}

// learnTarget takes the release namespace from an object of the edge chart, which names
// it in ReleaseNamespaceLabel; the first such object settles it.
func (t *transformer) learnTarget(obj *yaml.Node) error {
	ns := scalarField(yamlnode.Field(yamlnode.Field(obj, "metadata"), "labels"), ReleaseNamespaceLabel)
	switch {
	case ns == "":
		return nil
	case !t.settled:
		t.target, t.settled, t.fromChart = ns, true, true
	case t.fromChart && ns != t.target:
		return fmt.Errorf("the edge chart's objects name two release namespaces in label %s, %q and %q: render one release at a time, or pass --namespace", ReleaseNamespaceLabel, t.target, ns)
	}
	return nil
}

// targetNamespace returns the release namespace ("" when the stream never said it), or
// errNeedNamespace while it may still come.
func (t *transformer) targetNamespace() (string, error) {
	if !t.settled {
		return "", errNeedNamespace
	}
	return t.target, nil
}

// namespace sets metadata.namespace on a namespaced object that has none, when the release
// namespace is known; Helm puts such an object there, and so does this. An explicit one is
// never changed (charts put objects in kube-system on purpose).
func (t *transformer) namespace(obj *yaml.Node, gk GroupKind) (bool, error) {
	if t.scopes.clusterScoped(gk) {
		return false, nil
	}
	meta := yamlnode.Field(obj, "metadata")
	if scalarField(meta, "namespace") != "" {
		return false, nil
	}
	target, err := t.targetNamespace()
	if err != nil || target == "" {
		return false, err
	}
	if meta == nil || meta.Kind != yaml.MappingNode {
		t.cur.fail() // a metadata made up, or an error
	}
	meta, err = ensureMap(obj, "metadata")
	if err != nil {
		return false, err
	}
	if v := yamlnode.Field(meta, "namespace"); v != nil {
		t.cur.replace(v, t.scalarText(target))
		return setString(meta, "namespace", target), nil
	}
	// Next to the name, where people look for it.
	at := len(meta.Content)
	for i := 0; i+1 < len(meta.Content); i += 2 {
		if k := meta.Content[i].Value; k == "name" || k == "generateName" {
			at = i + 2
		}
	}
	t.cur.add(meta, at-1, t.keyLine("namespace", target))
	meta.Content = append(meta.Content[:at], append([]*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: "namespace"},
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: target},
	}, meta.Content[at:]...)...)
	return true, nil
}

// subjects gives the ServiceAccount subjects of RoleBindings and ClusterRoleBindings that
// name no namespace the release namespace, where the chart's ServiceAccounts land; with
// the release namespace unknown they stay as they are.
func (t *transformer) subjects(obj *yaml.Node, gk GroupKind) (bool, error) {
	if gk.Group != "rbac.authorization.k8s.io" || (gk.Kind != "RoleBinding" && gk.Kind != "ClusterRoleBinding") {
		return false, nil
	}
	subjects := yamlnode.Field(obj, "subjects")
	if subjects == nil || subjects.Kind != yaml.SequenceNode {
		return false, nil
	}
	changed := false
	for _, s := range subjects.Content {
		if s.Kind != yaml.MappingNode || scalarField(s, "kind") != "ServiceAccount" || scalarField(s, "namespace") != "" {
			continue
		}
		target, err := t.targetNamespace()
		if err != nil || target == "" {
			return false, err
		}
		if v := yamlnode.Field(s, "namespace"); v != nil {
			t.cur.replace(v, t.scalarText(target))
		} else {
			t.cur.add(s, -1, t.keyLine("namespace", target))
		}
		changed = setString(s, "namespace", target) || changed
	}
	return changed, nil
}

// podTemplates says where each kind keeps the pod templates to label, as paths from the
// object; CronJobs have two (the job template and its pod template). Selectors and
// volumeClaimTemplates are never labelled.
var podTemplates = map[string][][]string{
	"Deployment":            {{"spec", "template"}},
	"StatefulSet":           {{"spec", "template"}},
	"DaemonSet":             {{"spec", "template"}},
	"ReplicaSet":            {{"spec", "template"}},
	"ReplicationController": {{"spec", "template"}},
	"Job":                   {{"spec", "template"}},
	"CronJob":               {{"spec", "jobTemplate"}, {"spec", "jobTemplate", "spec", "template"}},
	"PodTemplate":           {{"template"}},
}

// labels puts the cluster-id label on the object and its pod templates. A template that is
// not there is not made up.
func (t *transformer) labels(obj *yaml.Node, gk GroupKind) (bool, error) {
	if t.opts.ClusterID == "" {
		return false, nil
	}
	changed, err := t.label(obj)
	if err != nil {
		return false, err
	}
	for _, path := range podTemplates[gk.Kind] {
		tpl := obj
		for _, key := range path {
			tpl = yamlnode.Field(tpl, key)
		}
		if tpl == nil || tpl.Kind != yaml.MappingNode {
			continue
		}
		c, err := t.label(tpl)
		if err != nil {
			return false, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
		}
		changed = changed || c
	}
	return changed, nil
}

func (t *transformer) label(obj *yaml.Node) (bool, error) {
	t.labelText(obj)
	meta, err := ensureMap(obj, "metadata")
	if err != nil {
		return false, err
	}
	labels, err := ensureMap(meta, "labels")
	if err != nil {
		return false, fmt.Errorf("metadata: %w", err)
	}
	return setString(labels, names.ClusterIDLabel, t.opts.ClusterID), nil
}

// labelText records as text what label does to obj.
func (t *transformer) labelText(obj *yaml.Node) {
	line := t.keyLine(names.ClusterIDLabel, t.opts.ClusterID)
	if line == "" {
		t.cur.fail()
		return
	}
	meta := yamlnode.Field(obj, "metadata")
	switch {
	case meta == nil:
		// ensureMap puts a new metadata before spec.
		for i := 0; i+1 < len(obj.Content); i += 2 {
			if obj.Content[i].Value == "spec" {
				t.cur.addBefore(obj, i, "metadata:\n  labels:\n    "+line)
				return
			}
		}
		t.cur.add(obj, -1, "metadata:\n  labels:\n    "+line)
	case meta.Kind != yaml.MappingNode:
		t.cur.fail()
	default:
		labels := yamlnode.Field(meta, "labels")
		switch {
		case labels == nil:
			t.cur.add(meta, -1, "labels:\n  "+line)
		case labels.Kind != yaml.MappingNode:
			t.cur.fail()
		default:
			v := yamlnode.Field(labels, names.ClusterIDLabel)
			switch {
			case v == nil:
				t.cur.add(labels, -1, line)
			case v.Kind != yaml.ScalarNode || v.Value != t.opts.ClusterID || isNull(v):
				t.cur.replace(v, t.scalarText(t.opts.ClusterID))
			}
		}
	}
}

// images pins the images of every container list in the object: containers,
// initContainers and ephemeralContainers, wherever pod specs occur.
func (t *transformer) images(obj *yaml.Node, _ GroupKind) (bool, error) {
	if t.opts.Pins.Len() == 0 {
		return false, nil
	}
	return t.pinWalk(obj), nil
}

func (t *transformer) pinWalk(n *yaml.Node) bool {
	changed := false
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i].Value, n.Content[i+1]
			if value.Kind == yaml.SequenceNode && (key == "containers" || key == "initContainers" || key == "ephemeralContainers") {
				for _, c := range value.Content {
					image := yamlnode.Field(c, "image")
					if image == nil || image.Kind != yaml.ScalarNode {
						continue
					}
					if ref, ok := t.opts.Pins.Resolve(image.Value); ok {
						t.cur.replace(image, t.scalarText(ref))
						image.Value, image.Style, image.Tag = ref, 0, yamlnode.TagString
						changed = true
					}
				}
				continue
			}
			changed = t.pinWalk(value) || changed
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			changed = t.pinWalk(c) || changed
		}
	}
	return changed
}

// scalarField returns the scalar value of key in mapping m, or "".
func scalarField(m *yaml.Node, key string) string {
	v := yamlnode.Field(m, key)
	if v == nil || v.Kind != yaml.ScalarNode || isNull(v) {
		return ""
	}
	return v.Value
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == yamlnode.TagNull || (n.Tag == "" && (n.Value == "" || n.Value == "~" || n.Value == "null")))
}

// ensureMap returns the mapping under key in m, making it when the key is missing or null.
func ensureMap(m *yaml.Node, key string) (*yaml.Node, error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		v := m.Content[i+1]
		switch {
		case v.Kind == yaml.MappingNode:
			return v, nil
		case isNull(v):
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: yamlnode.TagMap}
			m.Content[i+1] = v
			return v, nil
		}
		return nil, fmt.Errorf("%s is not a map (line %d): fix the chart template", key, v.Line)
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: yamlnode.TagMap}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: key}
	// A new metadata goes before spec, where people look for it.
	at := len(m.Content)
	for i := 0; key == "metadata" && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "spec" {
			at = i
			break
		}
	}
	m.Content = append(m.Content[:at], append([]*yaml.Node{k, v}, m.Content[at:]...)...)
	return v, nil
}

// setString sets key in mapping m to the string value and reports whether that changed it.
func setString(m *yaml.Node, key, value string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		v := m.Content[i+1]
		if v.Kind == yaml.ScalarNode && v.Value == value && !isNull(v) {
			return false
		}
		m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: value,
			HeadComment: v.HeadComment, LineComment: v.LineComment, FootComment: v.FootComment}
		return true
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: value})
	return true
}
