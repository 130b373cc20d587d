package transform

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// checkEmitPlain fails when plainEmitter.emit writes doc differently from the kyaml encoder, and
// reports whether it wrote it at all.
func checkEmitPlain(t *testing.T, e *plainEmitter, doc *yaml.Node) bool {
	t.Helper()
	var fast bytes.Buffer
	fast.WriteString("prefix\n")
	if !e.emit(&fast, doc.Content[0]) {
		if fast.String() != "prefix\n" {
			t.Fatalf("plainEmitter.emit refused but left %q", fast.String())
		}
		return false
	}
	var enc bytes.Buffer
	encoder := yaml.NewEncoder(&enc)
	if err := encoder.Encode(doc); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if err := encoder.Close(); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if diff := cmp.Diff("prefix\n"+enc.String(), fast.String()); diff != "" {
		t.Fatalf("plainEmitter.emit differs from the encoder (-want +got):\n%s", diff)
	}
	return true
}

// emitPlainCases feeds every document of input through checkEmitPlain, as parsed and after
// the edits of the transform with the given namespace and label value.
func emitPlainCases(t *testing.T, input []byte, namespace, label string) (written int) {
	t.Helper()
	var e plainEmitter
	sp := newSplitter(bytes.NewReader(input))
	for {
		c, err := sp.next()
		if errors.Is(err, io.EOF) {
			return written
		}
		if err != nil {
			return written
		}
		_, rest := splitHead(c.body)
		doc, err := parse(rest)
		if err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
			continue
		}
		if checkEmitPlain(t, &e, &doc) {
			written++
		}
		tr := &transformer{opts: Options{ClusterID: label}, scopes: newScopes(nil), target: namespace, settled: true}
		if changed, err := tr.object(doc.Content[0]); err == nil && changed && checkEmitPlain(t, &e, &doc) {
			written++
		}
	}
}

func TestEmitPlain(t *testing.T) {
	tests := []struct {
		name        string
		input       []byte
		label       string
		wantWritten bool
	}{
		{name: "label value that the encoder quotes", input: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"), label: "true", wantWritten: true},
		{name: "label value that opens with a digit", input: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"), label: "1e3", wantWritten: true},
		{name: "bench stream", input: benchStream(10), wantWritten: true},
		{name: "nested sequences and mappings", input: []byte("a: b\nc:\n- d\n- e: f\n  g:\n    h: 1\n  i:\n  - j\n  - k: true\nl: x:y@z/w=v+u-t.s_r\n"), wantWritten: true},
		{name: "sequence under the first key of an entry", input: []byte("x:\n- a:\n  - b\n  - c: d\n    e: f\n  g: h\n"), wantWritten: true},
		{name: "YAML 1.1 booleans stay plain", input: []byte("a: yes\nb: on\nc: n\nd: NO\ne: True\n"), wantWritten: true},
		{name: "words that open with a digit", input: []byte("a: 0b7ab7e4-5f0a\nb: 8080\nc: /bin/sh\nd: 1e3x\n"), wantWritten: true},
		{name: "quoted", input: []byte("a: \"b\"\n")},
		{name: "comment", input: []byte("a: b # c\n")},
		{name: "string that looks like a number", input: []byte("a: !!str 12\n")},
		{name: "empty map", input: []byte("a: {}\n")},
		{name: "flow", input: []byte("a: [b]\n")},
		{name: "anchor", input: []byte("a: &x b\nc: *x\n")},
		{name: "multi-word", input: []byte("a: b c\n")},
		{name: "null", input: []byte("a:\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label := tt.label
			if label == "" {
				label = "id-1"
			}
			if got := emitPlainCases(t, tt.input, "bench", label) > 0; got != tt.wantWritten {
				t.Errorf("plainEmitter.emit wrote a document: %v, want %v", got, tt.wantWritten)
			}
		})
	}
}

// FuzzEmitPlain holds plainEmitter.emit to the encoder's output byte for byte, on parsed
// documents and after the edits, whatever the namespace and label value.
func FuzzEmitPlain(f *testing.F) {
	for _, name := range []string{"helm3-stream", "helm4-stream", "list", "comment-only", "cronjob", "namespace-from-chart"} {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), "ns", "id")
	}
	f.Add(string(benchStream(5)), "bench", "0b7ab7e4-5f0a-4c43-9a57-2f1f0e3c9d11")
	f.Add("a: b\nc:\n- d\n- e: f\n  g:\n    h: 1\n", "true", "12")
	f.Fuzz(func(t *testing.T, input, namespace, label string) {
		emitPlainCases(t, []byte(input), namespace, label)
	})
}
