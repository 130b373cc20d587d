package transform

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// TestBlockText: the new parts of held documents are written in block style, strings
// plain only where they read back as themselves, and mean what their trees mean; what it
// does not write is left to the encoder.
func TestBlockText(t *testing.T) {
	var src yaml.Node
	in := "name: bootstrap\nimage: \"ghcr.io/x:1\"\nenv:\n- name: A\n  value: \"true\"\n- name: B\n  value: '10'\n- {name: C, value: \"two words\"}\nresources:\n  requests: {cpu: 10m, memory: 32Mi}\n  limits: {}\nports: []\nreplicas: 3\nenabled: false\nnothing: ~\nnote: \"line one\\nline two\"\nplain: 2024-01-01\n"
	if err := yaml.Unmarshal([]byte(in), &src); err != nil {
		t.Fatal(err)
	}
	w := blockText{plain: &plainEmitter{}}
	got, ok := w.text(src.Content[0])
	if !ok {
		t.Fatal("not written")
	}
	want := `name: bootstrap
image: ghcr.io/x:1
env:
- name: A
  value: "true"
- name: B
  value: "10"
- name: C
  value: "two words"
resources:
  requests:
    cpu: 10m
    memory: 32Mi
  limits: {}
ports: []
replicas: 3
enabled: false
nothing: ~
note: "line one\nline two"
plain: 2024-01-01
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	var back yaml.Node
	if err := yaml.Unmarshal([]byte(got), &back); err != nil {
		t.Fatalf("the text does not parse: %v", err)
	}
	if diff := cmp.Diff(meaning(&src, 0), meaning(&back, 0)); diff != "" {
		t.Errorf("the text means something else (-tree +text):\n%s", diff)
	}
	for _, left := range []string{"a: &x 1\nb: *x\n", "a:\n- - nested\n", "a: !custom x\n", "1: numbered key\n"} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(left), &n); err != nil {
			t.Fatal(err)
		}
		w := blockText{plain: &plainEmitter{}}
		if text, ok := w.text(n.Content[0]); ok {
			t.Errorf("%q written as %q, want it left to the encoder", left, text)
		}
	}
}
