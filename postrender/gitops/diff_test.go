package gitops

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// apply applies JSON 6902 ops to doc (RFC 6902: add, remove, replace, test), so that the
// diff is checked without kustomize; the kustomize tests check the same on real charts.
func apply(doc any, ops []Op) (any, error) {
	for _, op := range ops {
		var err error
		doc, err = applyOne(doc, op, splitPointer(op.Path))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
		}
	}
	return doc, nil
}

func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = unescape(s)
	}
	return parts
}

func applyOne(doc any, op Op, path []string) (any, error) {
	if len(path) == 0 {
		switch op.Op {
		case "test":
			if !reflect.DeepEqual(doc, op.Value) {
				return nil, fmt.Errorf("test failed: have %v", doc)
			}
			return doc, nil
		case "remove":
			return nil, nil
		}
		return op.Value, nil
	}
	switch d := doc.(type) {
	case map[string]any:
		k := path[0]
		if len(path) == 1 && op.Op == "remove" {
			delete(d, k)
			return d, nil
		}
		if _, ok := d[k]; !ok && !(len(path) == 1 && op.Op == "add") {
			return nil, fmt.Errorf("no key %q", k)
		}
		v, err := applyOne(d[k], op, path[1:])
		d[k] = v
		return d, err
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i > len(d) || (i == len(d) && !(len(path) == 1 && op.Op == "add")) {
			return nil, fmt.Errorf("bad index %q of %d", path[0], len(d))
		}
		if len(path) == 1 && op.Op == "add" {
			return append(d[:i], append([]any{op.Value}, d[i:]...)...), nil
		}
		if len(path) == 1 && op.Op == "remove" {
			return append(d[:i], d[i+1:]...), nil
		}
		v, err := applyOne(d[i], op, path[1:])
		d[i] = v
		return d, err
	}
	return nil, fmt.Errorf("%T has no children", doc)
}

func named(names ...string) []any {
	l := make([]any, len(names))
	for i, n := range names {
		l[i] = map[string]any{"name": n, "v": n + "-v"}
	}
	return l
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// TestDiffApplies checks that the ops turn a into b, for lists with entries removed,
// inserted and edited in every order, named and unnamed, and random ones.
func TestDiffApplies(t *testing.T) {
	edited := named("a", "b", "c")
	edited[1].(map[string]any)["v"] = "changed"
	tests := []struct {
		name string
		a, b any
	}{
		{"insert first", named("a", "b"), named("x", "a", "b")},
		{"remove and insert", named("a", "b", "c", "d"), named("x", "b", "d", "y")},
		{"edit inside", named("a", "b", "c"), edited},
		{"unnamed", []any{"a", "b", "c"}, []any{"c", "x", "a"}},
		{"keys", map[string]any{"a/b": 1, "c~d": map[string]any{"x": 1}}, map[string]any{"c~d": map[string]any{"x": 2, "y": ""}}},
		{"list to map", map[string]any{"k": []any{1}}, map[string]any{"k": map[string]any{"a": false}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		pick := func() []any {
			var names []string
			for _, n := range rng.Perm(6)[:rng.IntN(6)] {
				names = append(names, string(rune('a'+n)))
			}
			return named(names...)
		}
		tests = append(tests, struct {
			name string
			a, b any
		}{fmt.Sprintf("random %d", i), map[string]any{"l": pick()}, map[string]any{"l": pick()}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := diff(nil, "", tt.a, tt.b, false)
			got, err := apply(deepCopy(tt.a), ops)
			if err != nil {
				t.Fatalf("apply(diff) failed: %v\nops %v", err, ops)
			}
			if d := cmp.Diff(tt.b, got); d != "" {
				t.Errorf("apply(a, diff(a, b)) (-b +got):\n%s\nops %v", d, ops)
			}
		})
	}
}

// TestDiffTests checks that the ops refuse a list whose entries are not where they were:
// the name of each entry edited or removed is tested first.
func TestDiffTests(t *testing.T) {
	edited := named("a", "b")
	edited[1].(map[string]any)["v"] = "changed"
	ops := diff(nil, "", map[string]any{"l": named("a", "b")}, map[string]any{"l": edited}, false)
	if _, err := apply(map[string]any{"l": named("b", "a")}, ops); err == nil || !strings.Contains(err.Error(), "test failed") {
		t.Errorf("apply to a reordered list = %v, want a failed test", err)
	}
}

// TestPatchType checks which patch an edit gets: strategic merge for maps only, JSON 6902
// as soon as a list entry or a "$" key is involved.
func TestPatchType(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}, "data": map[string]any{"a": "1"}, "list": []any{"p"}}
	}
	for _, tt := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"a label", func(m map[string]any) { m["metadata"].(map[string]any)["labels"] = map[string]any{"k": "v"} }, "strategic-merge"},
		{"a key removed", func(m map[string]any) { delete(m["data"].(map[string]any), "a") }, "strategic-merge"},
		{"a list entry added", func(m map[string]any) { m["list"] = []any{"p", "q"} }, "json6902"},
		{"a $ key", func(m map[string]any) { m["data"].(map[string]any)["$patch"] = "x" }, "json6902"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := base()
			tt.edit(b)
			p, err := patchFor(Object{APIVersion: "v1", Kind: "ConfigMap", Name: "x", Value: base()}, Object{APIVersion: "v1", Kind: "ConfigMap", Name: "x", Value: b})
			if err != nil || p == nil {
				t.Fatalf("patchFor = %v, %v", p, err)
			}
			if p.Type != tt.want {
				t.Errorf("patchFor type = %s, want %s\n%s", p.Type, tt.want, p.Patch)
			}
		})
	}
}
