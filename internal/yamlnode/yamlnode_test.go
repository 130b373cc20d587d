package yamlnode

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestField(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nb:\n  c: x\nlist: [k, v]\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for _, tc := range []struct {
		node *yaml.Node
		key  string
		want string // "" for nil
	}{
		{m, "a", "1"},
		{Field(m, "b"), "c", "x"},
		{m, "missing", ""},
		{m, "1", ""},                // a value is no key
		{Field(m, "list"), "k", ""}, // a sequence is no mapping, even with a "k" in it
		{nil, "a", ""},
	} {
		got := Field(tc.node, tc.key)
		if (got == nil) != (tc.want == "") || got != nil && got.Value != tc.want {
			t.Errorf("Field(%q) = %v, want %q", tc.key, got, tc.want)
		}
	}
}
