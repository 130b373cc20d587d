package transform

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// editHolder holds every object and edits its tree the ways a Holder does: keys added at
// the end and at the start, keys removed, values replaced by other nodes, strings changed
// in place, list entries put first, appended and removed. Which edit each collection gets
// follows seed, so that a fuzzer reaches all their mixes.
type editHolder struct {
	seed  uint64
	count int
}

func (h *editHolder) Hold(*yaml.Node) bool { return true }

func (h *editHolder) Finish(held []*Held) error {
	for _, x := range held {
		h.edit(x.Object, 0)
		x.Changed = true
	}
	return nil
}

func (h *editHolder) op() uint64 {
	h.count++
	return (h.seed >> (3 * (h.count % 21))) & 7
}

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: v}
}

func (h *editHolder) edit(n *yaml.Node, depth int) {
	if depth > 20 {
		return
	}
	for _, c := range n.Content {
		h.edit(c, depth+1)
	}
	switch n.Kind {
	case yaml.MappingNode:
		switch h.op() {
		case 1:
			n.Content = append(n.Content, str("added"), &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq,
				Content: []*yaml.Node{str("one"), {Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: []*yaml.Node{str("k"), str("two words")}}}})
		case 2:
			n.Content = append([]*yaml.Node{str("first"), str("0")}, n.Content...)
		case 3:
			if len(n.Content) > 2 {
				n.Content = n.Content[:len(n.Content)-2]
			}
		case 4:
			if len(n.Content) >= 2 {
				n.Content[1] = str("replaced")
			}
		case 5:
			if len(n.Content) >= 2 && n.Content[1].Kind == yaml.ScalarNode {
				v := n.Content[1]
				v.Tag, v.Value, v.Style = yaml.NodeTagString, "changed: in place", 0
			}
		}
	case yaml.SequenceNode:
		switch h.op() {
		case 1:
			n.Content = append([]*yaml.Node{{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: []*yaml.Node{str("name"), str("new"), str("list"), {Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: []*yaml.Node{str("a")}}}}}, n.Content...)
		case 2:
			n.Content = append(n.Content, str("appended"))
		case 3:
			if len(n.Content) > 1 {
				n.Content = n.Content[1:]
			}
		case 4:
			if len(n.Content) > 2 {
				n.Content = append(n.Content[:1], n.Content[2:]...)
			}
		}
	}
}

// heldInputs are streams whose documents are written as Helm charts write them: indented
// and compact lists, comments, quoted strings, block scalars, flow collections.
func heldInputs(t testing.TB) map[string][]byte {
	inputs := map[string][]byte{
		"indented": []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  labels:\n    app: a # the app\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: \"x:1\"\n          env:\n            - name: A\n              value: \"1\"\n            - name: B\n              valueFrom:\n                secretKeyRef:\n                  name: s\n                  key: k\n      volumes:\n        - name: v\n          emptyDir: {}\n        - name: w\n          configMap:\n            name: cm\n"),
		"compact":  []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: x\n    command:\n    - sh\n    - -c\n    - |\n      echo hi\n    args: [\"a\", \"b\"]\n  - name: d\n    image: 'y'\n"),
		"secret":   []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels:\n    a: b\ndata:\n  CLIENT_ID: eA==\n  OTHER: eQ==\n  CLIENT_PASSWORD: eg==\n"),
	}
	for _, name := range []string{"helm3-stream", "cronjob", "images"} {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = data
	}
	return inputs
}

// TestHeldMatches holds the Holder's edits written into the text to the same edits
// encoded from the tree, for many mixes of edits over documents of every shape.
func TestHeldMatches(t *testing.T) {
	spliced := 0
	for name, input := range heldInputs(t) {
		for seed := range uint64(64) {
			seed := seed * 0x9e3779b97f4a7c15
			text, _ := bothPathsHeld(t, input, Options{Namespace: "ns", ClusterID: "c1"}, func() Holder { return &editHolder{seed: seed} })
			spliced += text.spliced
			if t.Failed() {
				t.Fatalf("%s, seed %#x", name, seed)
			}
		}
	}
	if spliced == 0 {
		t.Error("no edited document was written into its text")
	}
}

// wiringHolder makes the wiring's kind of edits: an init container put first, a volume
// appended, a secretKeyRef pointed at another Secret, a Secret's keys dropped and a label
// added.
type wiringHolder struct{}

func (wiringHolder) Hold(*yaml.Node) bool { return true }

func (wiringHolder) Finish(held []*Held) error {
	for _, x := range held {
		o := x.Object
		if pod := field(o, "spec", "template", "spec"); pod != nil {
			inits := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: []*yaml.Node{
				{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: []*yaml.Node{str("name"), str("bootstrap"), str("image"), str("b:1")}}}}
			pod.Content = append(pod.Content[:2], append([]*yaml.Node{str("initContainers"), inits}, pod.Content[2:]...)...)
			vols := field(pod, "volumes")
			vols.Content = append(vols.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: []*yaml.Node{str("name"), str("tmp"), str("emptyDir"), str("")}})
			ref := field(pod, "containers").Content[0]
			ref = field(field(ref, "env").Content[1], "valueFrom", "secretKeyRef", "name")
			ref.Value, ref.Style = "edge-credentials", 0
			x.Changed = true
		}
		if data := field(o, "data"); data != nil {
			data.Content = append(data.Content[:0], data.Content[2:4]...)
			labels := field(o, "metadata", "labels")
			labels.Content = append(labels.Content, str("app.kubernetes.io/name"), str("client-secrets"))
			x.Changed = true
		}
	}
	return nil
}

func field(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		var next *yaml.Node
		for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// TestHeldSpliced: the wiring's edits are written into the documents' text, which keeps
// its layout, and mean what the encoded trees mean.
func TestHeldSpliced(t *testing.T) {
	inputs := heldInputs(t)
	input := append(append(bytes.Clone(inputs["indented"]), "---\n"...), inputs["secret"]...)
	text, _ := bothPathsHeld(t, input, Options{Namespace: "ns", ClusterID: "c1"}, func() Holder { return wiringHolder{} })
	if text.spliced != 2 {
		t.Errorf("%d of the 2 documents were written into their text", text.spliced)
	}
	want := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
  namespace: ns
  labels:
    app: a # the app
    tracebloc.io/cluster-id: c1
spec:
  template:
    metadata:
      labels:
        tracebloc.io/cluster-id: c1
    spec:
      containers:
        - name: c
          image: "x:1"
          env:
            - name: A
              value: "1"
            - name: B
              valueFrom:
                secretKeyRef:
                  name: edge-credentials
                  key: k
      initContainers:
      - name: bootstrap
        image: b:1
      volumes:
        - name: v
          emptyDir: {}
        - name: w
          configMap:
            name: cm
        - name: tmp
          emptyDir: ""
---
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: ns
  labels:
    a: b
    tracebloc.io/cluster-id: c1
    app.kubernetes.io/name: client-secrets
data:
  OTHER: eQ==
`
	if diff := cmp.Diff(want, string(text.Output)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// recording keeps the objects its Holder held, as they are at the end of the stream.
type recording struct {
	Holder
	held []*Held
}

func (r *recording) Finish(held []*Held) error {
	r.held = held
	return r.Holder.Finish(held)
}

// bothPathsHeld runs the stream with the Holder's edits written into the text where they
// fit and with every changed document encoded, and fails unless each held document of the
// text means what its edited tree means (or, where the text was not spliced, what the
// encoded tree means: the encoder does not keep every null and tag as it was).
func bothPathsHeld(t testing.TB, input []byte, opts Options, holder func() Holder) (text, tree Result) {
	t.Helper()
	rec := &recording{Holder: holder()}
	opts.Holder = rec
	text, errText := Stream(bytes.NewReader(input), opts)
	opts.Holder, opts.structural = holder(), true
	tree, errTree := Stream(bytes.NewReader(input), opts)
	if (errText == nil) != (errTree == nil) {
		t.Fatalf("Stream error with text %v, with the tree %v", errText, errTree)
	}
	if errText != nil {
		return text, tree
	}
	got, encoded := mappingDocs(t, text.Output), mappingDocs(t, tree.Output)
	var want []any
	for _, h := range rec.held {
		if !h.Drop {
			want = append(want, meaning(h.Object, 0))
		}
	}
	if len(got) != len(want) || len(encoded) != len(want) {
		t.Fatalf("%d held documents in the text, %d in the tree, %d held:\n%s", len(got), len(encoded), len(want), text.Output)
	}
	for i := range got {
		if cmp.Diff(want[i], got[i]) != "" && cmp.Diff(encoded[i], got[i]) != "" {
			t.Fatalf("held document %d: the text means something else than the edited tree (-tree +text):\n%s\ntext:\n%s", i+1, cmp.Diff(want[i], got[i]), text.Output)
		}
	}
	return text, tree
}

// mappingDocs returns the meaning of the root of each document of stream that is a
// mapping: the documents a Holder is asked about.
func mappingDocs(t testing.TB, stream []byte) []any {
	t.Helper()
	var out []any
	if err := eachDoc(stream, func(doc *yaml.Node) {
		if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			out = append(out, meaning(doc.Content[0], 0))
		}
	}); err != nil {
		t.Fatalf("parse the output: %v\n%s", err, stream)
	}
	return out
}

// FuzzHeld holds the text to the tree for arbitrary documents and mixes of edits.
func FuzzHeld(f *testing.F) {
	for _, input := range heldInputs(f) {
		f.Add(input, uint64(0x9e3779b97f4a7c15))
	}
	f.Fuzz(func(t *testing.T, input []byte, seed uint64) {
		if !decodes(input) {
			return // what the decoder refuses, Helm does too; unchanged documents pass as they came
		}
		bothPathsHeld(t, input, Options{Namespace: "ns", ClusterID: "c1"}, func() Holder { return &editHolder{seed: seed} })
	})
}

// decodes reports whether every document of stream decodes.
func decodes(stream []byte) bool {
	return eachDoc(stream, func(*yaml.Node) {}) == nil
}

// aliasHolder points the alias c at the anchor y.
type aliasHolder struct{}

func (aliasHolder) Hold(*yaml.Node) bool { return true }

func (aliasHolder) Finish(held []*Held) error {
	for _, x := range held {
		if c, y := field(x.Object, "data", "c"), field(x.Object, "data", "b"); c != nil && y != nil {
			c.Alias, c.Value = y, y.Anchor
			x.Changed = true
		}
	}
	return nil
}

// TestHeldAlias: an alias the Holder points elsewhere is not left as the text has it.
// (A stream's documents with anchors are encoded anyway; this holds heldEdits itself.)
func TestHeldAlias(t *testing.T) {
	src := []byte("a: &x one\nb: &y two\nc: *x\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	was := shapeOf(root)
	aliasHolder{}.Finish([]*Held{{Object: &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("data"), root}}}})
	if field(root, "c").Alias != field(root, "b") {
		t.Fatal("the alias was not pointed at b")
	}
	var e textEdits
	e.reset(src, true)
	(&transformer{}).heldEdits(&e, was, root)
	if e.ok() {
		t.Errorf("the text keeps c: *x for an alias to y: %d edits", len(e.edits))
	}
}
