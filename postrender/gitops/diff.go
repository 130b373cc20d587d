// Package gitops provides the post-renderer's edits as kustomize patches, for GitOps tools
// that cannot run a post-renderer: Flux (a HelmRelease's spec.postRenderers) and Argo CD (a
// kustomization that inflates the chart with helmCharts). The patches are a structural
// diff, object by object, of the rendered stream and the post-renderer's own output, so
// they make the same edits and cannot drift from it: a strategic-merge patch where the
// edit touches maps only (exact), a JSON 6902 patch where it touches a list (with a test
// of each list entry's name before an edit inside it, so that a chart rendered otherwise
// fails the patch instead of taking it in the wrong place), and `$patch: delete` for an
// object the post-renderer removed.
package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Object is one Kubernetes object of a stream, decoded.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	Value                             map[string]any
}

// String names the object: Kind namespace/name.
func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Decode reads the objects of a YAML stream; documents that are not objects are skipped.
func Decode(stream []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	var objs []Object
	for i := 1; ; i++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		o := Object{Value: m}
		o.APIVersion, _ = m["apiVersion"].(string)
		o.Kind, _ = m["kind"].(string)
		meta, _ := m["metadata"].(map[string]any)
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
		if o.Kind == "" || o.Name == "" {
			continue
		}
		if _, list := m["items"]; list && strings.HasSuffix(o.Kind, "List") {
			return nil, fmt.Errorf("document %d is a %s; patches for GitOps are made per object: render the objects as documents of their own", i, o.Kind)
		}
		objs = append(objs, o)
	}
}

// Op is one JSON 6902 operation.
type Op struct {
	Op    string
	Path  string
	Value any
	// list says that the op is at or inside a list entry, which a strategic-merge patch
	// cannot say exactly.
	list bool
}

// diff appends the ops that turn a into b at path.
func diff(ops []Op, path string, a, b any, inList bool) []Op {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		return diffMaps(ops, path, am, bm, inList)
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList {
		return diffLists(ops, path, al, bl)
	}
	if reflect.DeepEqual(a, b) {
		return ops
	}
	return append(ops, Op{Op: "replace", Path: path, Value: b, list: inList})
}

func diffMaps(ops []Op, path string, a, b map[string]any, inList bool) []Op {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		p := path + "/" + escape(k)
		switch {
		case !inB:
			ops = append(ops, Op{Op: "remove", Path: p, list: inList})
		case !inA:
			ops = append(ops, Op{Op: "add", Path: p, Value: bv, list: inList})
		default:
			ops = diff(ops, p, av, bv, inList)
		}
	}
	return ops
}

// diffLists aligns two lists by their entries' names (when every entry has a unique one)
// or by equal entries, then removes, adds and edits entries in that order, so that each
// op's index is right when it applies.
func diffLists(ops []Op, path string, a, b []any) []Op {
	id := identity(a, b)
	pairs := align(a, b, id)
	matchedA := map[int]bool{}
	matchedB := map[int]int{}
	for _, p := range pairs {
		matchedA[p[0]] = true
		matchedB[p[1]] = p[0]
	}
	for i := len(a) - 1; i >= 0; i-- {
		if !matchedA[i] {
			ops = appendTest(ops, path, i, a[i], id)
			ops = append(ops, Op{Op: "remove", Path: fmt.Sprintf("%s/%d", path, i), list: true})
		}
	}
	for j := range b {
		if _, ok := matchedB[j]; !ok {
			ops = append(ops, Op{Op: "add", Path: fmt.Sprintf("%s/%d", path, j), Value: b[j], list: true})
		}
	}
	for j := range b {
		i, ok := matchedB[j]
		if !ok {
			continue
		}
		inner := diff(nil, fmt.Sprintf("%s/%d", path, j), a[i], b[j], true)
		if len(inner) > 0 {
			ops = appendTest(ops, path, j, b[j], id)
			ops = append(ops, inner...)
		}
	}
	return ops
}

// appendTest checks entry i before an op on it: its name, or all of it.
func appendTest(ops []Op, path string, i int, entry any, byName bool) []Op {
	if !byName {
		return append(ops, Op{Op: "test", Path: fmt.Sprintf("%s/%d", path, i), Value: entry, list: true})
	}
	return append(ops, Op{Op: "test", Path: fmt.Sprintf("%s/%d/name", path, i), Value: entry.(map[string]any)["name"], list: true})
}

// identity reports whether every entry of both lists is a map with a name unique in its
// list.
func identity(a, b []any) bool {
	for _, l := range [][]any{a, b} {
		seen := map[string]bool{}
		for _, e := range l {
			m, ok := e.(map[string]any)
			name, isString := m["name"].(string)
			if !ok || !isString || seen[name] {
				return false
			}
			seen[name] = true
		}
	}
	return len(a) > 0 || len(b) > 0
}

// align pairs entries of a and b in order (a longest common subsequence), by name or by
// equality.
func align(a, b []any, byName bool) [][2]int {
	same := func(i, j int) bool {
		if byName {
			return a[i].(map[string]any)["name"] == b[j].(map[string]any)["name"]
		}
		return reflect.DeepEqual(a[i], b[j])
	}
	n, m := len(a), len(b)
	l := make([][]int, n+1)
	for i := range l {
		l[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case same(i, j):
				l[i][j] = l[i+1][j+1] + 1
			case l[i+1][j] >= l[i][j+1]:
				l[i][j] = l[i+1][j]
			default:
				l[i][j] = l[i][j+1]
			}
		}
	}
	var pairs [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case same(i, j):
			pairs = append(pairs, [2]int{i, j})
			i, j = i+1, j+1
		case l[i+1][j] >= l[i][j+1]:
			i++
		default:
			j++
		}
	}
	return pairs
}

// escape escapes a key for a JSON pointer (RFC 6901).
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
