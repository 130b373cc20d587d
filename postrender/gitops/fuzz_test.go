package gitops

import (
	"reflect"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzDiff holds the diff to its promise on any two YAML values: the ops turn the first
// into the second, and a value compared with itself gives none.
func FuzzDiff(f *testing.F) {
	f.Add("a: 1\nl: [x, y]\n", "a: 2\nl: [y, x, z]\n")
	f.Add("l: [{name: a, v: 1}, {name: b}]\n", "l: [{name: c}, {name: a, v: 2}]\n")
	f.Add("m: {a/b: {c~d: 1}}\n", "m: {a/b: null}\n")
	f.Add("l: [{name: a}, {name: a}]\n", "l: [{name: a}]\n")
	f.Fuzz(func(t *testing.T, x, y string) {
		var a, b any
		if yaml.Unmarshal([]byte(x), &a) != nil || yaml.Unmarshal([]byte(y), &b) != nil {
			return
		}
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if !aok || !bok {
			return
		}
		if ops := diff(nil, "", am, deepCopy(am), false); len(ops) != 0 {
			t.Fatalf("diff(a, a) = %v, want no ops", ops)
		}
		got, err := apply(deepCopy(am), diff(nil, "", am, bm, false))
		if err != nil {
			t.Fatalf("apply(a, diff(a, b)): %v", err)
		}
		if !reflect.DeepEqual(got, any(bm)) {
			t.Fatalf("apply(a, diff(a, b)) = %v, want %v", got, bm)
		}
	})
}
