package gitops

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// Patch is one kustomize patch with its target.
type Patch struct {
	Object string // the object it edits, for a comment
	Type   string // "strategic-merge", "json6902" or "delete"
	Target Target
	Patch  string // the patch, YAML
	// Paths are the JSON pointers the patch changes (tests left out).
	Paths []string
}

// Target selects one object; kustomize reads each field as an anchored regular
// expression, so the values are quoted for it.
type Target struct {
	Group     string `yaml:"group,omitempty"`
	Version   string `yaml:"version,omitempty"`
	Kind      string `yaml:"kind"`
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace,omitempty"`
}

type key struct{ apiVersion, kind, namespace, name string }

// Patches compares the rendered stream with the post-renderer's output and returns, object
// by object in the rendered stream's order, the patches that make the output from it.
// namespace is the release namespace, where an object that names none lands.
func Patches(rendered, output []byte, namespace string) ([]Patch, error) {
	in, err := Decode(rendered)
	if err != nil {
		return nil, fmt.Errorf("read the rendered stream: %w", err)
	}
	out, err := Decode(output)
	if err != nil {
		return nil, fmt.Errorf("read the post-renderer's output: %w", err)
	}
	byKey := map[key]Object{}
	for _, o := range out {
		byKey[key{o.APIVersion, o.Kind, o.Namespace, o.Name}] = o
	}
	var patches []Patch
	for _, o := range in {
		k := key{o.APIVersion, o.Kind, o.Namespace, o.Name}
		after, ok := byKey[k]
		if !ok && o.Namespace == "" {
			k.namespace = namespace
			after, ok = byKey[k]
		}
		if !ok {
			patches = append(patches, deletePatch(o))
			continue
		}
		delete(byKey, k)
		p, err := patchFor(o, after)
		if err != nil {
			return nil, err
		}
		if p != nil {
			patches = append(patches, *p)
		}
	}
	if len(byKey) > 0 {
		var extra []string
		for _, o := range byKey {
			extra = append(extra, o.String())
		}
		slices.Sort(extra)
		return nil, fmt.Errorf("the post-renderer's output holds objects the rendered stream does not (%s); patches cannot add objects", strings.Join(extra, ", "))
	}
	return patches, nil
}

func target(o Object) Target {
	group, version, found := strings.Cut(o.APIVersion, "/")
	if !found {
		group, version = "", o.APIVersion
	}
	t := Target{Group: group, Version: version, Kind: o.Kind, Name: regexp.QuoteMeta(o.Name)}
	if o.Namespace != "" {
		t.Namespace = regexp.QuoteMeta(o.Namespace)
	}
	for _, f := range []*string{&t.Group, &t.Version, &t.Kind} {
		*f = regexp.QuoteMeta(*f)
	}
	return t
}

func deletePatch(o Object) Patch {
	meta := map[string]any{"name": o.Name}
	if o.Namespace != "" {
		meta["namespace"] = o.Namespace
	}
	return Patch{
		Object: o.String(), Type: "delete", Target: target(o), Paths: []string{""},
		Patch: marshal(map[string]any{"$patch": "delete", "apiVersion": o.APIVersion, "kind": o.Kind, "metadata": meta}),
	}
}

// patchFor is the patch that turns a into b, nil when they are equal.
func patchFor(a, b Object) (*Patch, error) {
	ops := diff(nil, "", a.Value, b.Value, false)
	if len(ops) == 0 {
		return nil, nil
	}
	p := &Patch{Object: a.String(), Target: target(a)}
	for _, op := range ops {
		if op.Op != "test" {
			p.Paths = append(p.Paths, op.Path)
		}
	}
	if err := secretValues(a, ops); err != nil {
		return nil, err
	}
	if smp, ok := strategicMerge(a, ops); ok {
		p.Type, p.Patch = "strategic-merge", smp
		return p, nil
	}
	p.Type, p.Patch = "json6902", opsYAML(ops)
	return p, nil
}

// secretValues refuses a patch that would carry a Secret's data: patches are printed and
// committed to Git.
func secretValues(o Object, ops []Op) error {
	if o.Kind != "Secret" {
		return nil
	}
	for _, op := range ops {
		if op.Op != "remove" && (strings.HasPrefix(op.Path, "/data") || strings.HasPrefix(op.Path, "/stringData")) {
			return fmt.Errorf("the post-renderer wrote data into %s (%s), which a patch in Git must never carry", o, op.Path)
		}
	}
	return nil
}

// strategicMerge writes ops as a strategic-merge patch when that is exact: every op on a
// map key (none at or inside a list entry) and no key that kustomize would read as a
// directive.
func strategicMerge(o Object, ops []Op) (string, bool) {
	patch := map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind}
	meta := map[string]any{"name": o.Name}
	if o.Namespace != "" {
		meta["namespace"] = o.Namespace
	}
	patch["metadata"] = meta
	for _, op := range ops {
		if op.list || op.Op == "test" || directive(op.Value) {
			return "", false
		}
		keys := strings.Split(op.Path[1:], "/")
		m := patch
		for _, k := range keys[:len(keys)-1] {
			k = unescape(k)
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		last := unescape(keys[len(keys)-1])
		if strings.HasPrefix(last, "$") {
			return "", false
		}
		if op.Op == "remove" {
			m[last] = nil
		} else {
			m[last] = op.Value
		}
	}
	return marshal(patch), true
}

// directive reports whether v holds a map key starting with "$", which a strategic merge
// reads as an instruction.
func directive(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if strings.HasPrefix(k, "$") || directive(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, directive)
	}
	return false
}

func unescape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~")
}

// marshal encodes a patch; values decoded from YAML always encode again, so an error here
// is a fault of this package.
func marshal(v any) string {
	b, err := yamlnode.Marshal(v)
	if err != nil {
		return fmt.Sprintf("# cannot encode this patch (%v): report it\n", err)
	}
	return string(b)
}

// opsYAML writes JSON 6902 ops, each with its value when the op takes one (also "", 0,
// false and null, which a struct with omitempty would drop).
func opsYAML(ops []Op) string {
	list := make([]map[string]any, len(ops))
	for i, op := range ops {
		list[i] = map[string]any{"op": op.Op, "path": op.Path}
		if op.Op != "remove" {
			list[i]["value"] = op.Value
		}
	}
	return marshal(list)
}
