package transform

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tracebloc/edge/internal/chartdeps"
)

// objects parses every document of a stream into what it means: scalars by resolved tag
// and value, collections by their entries in order, anchors and aliases by name (not
// expanded: an alias bomb stays small); layout, quoting and comments do not count. Duplicate keys do (a decoder into maps would refuse
// them).
func objects(t testing.TB, stream []byte) []any {
	t.Helper()
	var out []any
	if err := eachDoc(stream, func(doc *yaml.Node) { out = append(out, meaning(doc, 0)) }); err != nil {
		t.Fatalf("parse the output: %v\n%s", err, stream)
	}
	return out
}

// eachDoc decodes the documents of stream one by one, giving each to fn.
func eachDoc(stream []byte, fn func(*yaml.Node)) error {
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(&doc)
	}
}

func meaning(n *yaml.Node, depth int) any {
	if depth > 100 {
		return "too deep"
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode, yaml.MappingNode:
		items := []any{n.Kind, n.Anchor}
		for _, c := range n.Content {
			items = append(items, meaning(c, depth+1))
		}
		return items
	case yaml.AliasNode:
		return [2]string{"*", n.Value}
	}
	return [3]string{n.ShortTag(), n.Value, n.Anchor}
}

// bothPaths runs the stream with its edits spliced into the text where they can be and
// with every changed document encoded, and fails unless the two give the same objects.
func bothPaths(t testing.TB, input []byte, opts Options) (text, tree Result) {
	t.Helper()
	text, errText := Stream(bytes.NewReader(input), opts)
	opts.structural = true
	tree, errTree := Stream(bytes.NewReader(input), opts)
	if (errText == nil) != (errTree == nil) {
		t.Fatalf("Stream error with text %v, with the tree %v", errText, errTree)
	}
	if errText != nil {
		return text, tree
	}
	if tree.spliced != 0 {
		t.Fatalf("structural Stream spliced %d documents", tree.spliced)
	}
	if bytes.Equal(text.Output, tree.Output) {
		return text, tree // also what does not decode, such as a comment that is not UTF-8
	}
	if diff := cmp.Diff(objects(t, tree.Output), objects(t, text.Output)); diff != "" {
		t.Fatalf("the spliced text means something else than the encoded tree (-tree +text):\n%s\ntext:\n%s", diff, text.Output)
	}
	return text, tree
}

// renderEdgeChart renders the edge chart with the tracebloc/client chart as Helm 3 does
// for `helm template edge -n tracebloc` (client side, hooks included).
func renderEdgeChart(t *testing.T) []byte {
	t.Helper()
	chrt, err := loader.Load(chartdeps.DirWithClient(t))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: t.Logf})
	install.ClientOnly, install.DryRun, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "edge", "tracebloc"
	if install.KubeVersion, err = chartutil.ParseKubeVersion("v1.33.0"); err != nil {
		t.Fatal(err)
	}
	rel, err := install.Run(chrt, map[string]any{"client": map[string]any{
		"storageClass": map[string]any{"create": false, "name": "standard"},
	}})
	if err != nil {
		t.Fatalf("render the edge chart: %v", err)
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		b.WriteString("\n---\n# Source: " + h.Path + "\n" + h.Manifest + "\n")
	}
	return []byte(b.String())
}

// TestTextMatchesChart holds the spliced text to the encoded tree over the edge chart's
// real output, with the release namespace given and learnt, and checks that the splicing
// did the documents the label changes.
func TestTextMatchesChart(t *testing.T) {
	if testing.Short() {
		t.Skip("renders the edge chart: not under -short")
	}
	input := renderEdgeChart(t)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"namespace given, pins", Options{Namespace: "tracebloc", ClusterID: testClusterID, Pins: testPins(t)}},
		{"namespace learnt", Options{ClusterID: "c1", Fallback: "tracebloc"}},
		{"quoted label value", Options{Namespace: "other", ClusterID: "12e45"}},
	} {
		text, tree := bothPaths(t, input, tc.opts)
		changed := 0
		for _, d := range bytes.Split(tree.Output, []byte("\n---")) {
			if bytes.Contains(d, []byte("tracebloc.io/cluster-id")) {
				changed++
			}
		}
		if text.spliced < changed*9/10 {
			t.Errorf("%s: spliced %d documents of the %d it labelled, want nearly all", tc.name, text.spliced, changed)
		}
	}
}

// TestTextMatchesGoldens holds the two paths to each other on every golden input, byte for
// byte: the inputs are written as the encoder writes, so splicing must give its bytes.
func TestTextMatchesGoldens(t *testing.T) {
	spliced := 0
	for _, name := range goldenCases(t) {
		input, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		text, tree := bothPaths(t, input, goldenOptions(t, name))
		spliced += text.spliced
		if diff := cmp.Diff(string(tree.Output), string(text.Output)); diff != "" {
			t.Errorf("%s: spliced text differs from the encoded tree (-tree +text):\n%s", name, diff)
		}
	}
	if spliced == 0 {
		t.Error("no golden document was spliced")
	}
}

// TestText checks each edit spliced into the text, and the shapes that are encoded
// instead, against the encoder's bytes.
func TestText(t *testing.T) {
	const id = "c1"
	cases := []struct {
		name, input string
		opts        Options
		want        string // "": as the encoder writes it (no splicing)
		shaped      bool   // the input is written as the encoder writes: want is its output too
	}{
		{
			name:  "label appended after a comment on the last label",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: \"y\" # keep\ndata:\n  k: v\n",
			want:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: \"y\" # keep\n    tracebloc.io/cluster-id: c1\ndata:\n  k: v\n",
		},
		{
			name:  "labels and namespace made, indented sequences kept",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    a: b\ndata:\n  list:\n    - x\n",
			opts:  Options{Namespace: "ns"},
			want:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  annotations:\n    a: b\n  labels:\n    tracebloc.io/cluster-id: c1\ndata:\n  list:\n    - x\n",
		},
		{
			name:   "namespace at the end without a name",
			input:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: a-\n  labels:\n    tracebloc.io/cluster-id: c1\n",
			opts:   Options{Namespace: "ns"},
			want:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: a-\n  namespace: ns\n  labels:\n    tracebloc.io/cluster-id: c1\n",
			shaped: true,
		},
		{
			name:   "namespace and label appended where labels end metadata",
			input:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    a: b\n  labels:\n    x: y\n",
			opts:   Options{Namespace: "ns"},
			want:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    a: b\n  labels:\n    x: y\n    tracebloc.io/cluster-id: c1\n  namespace: ns\n",
			shaped: true,
		},
		{
			name:  "empty namespace and another label value replaced",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ''\n  labels:\n    tracebloc.io/cluster-id: \"old\"\n",
			opts:  Options{Namespace: "ns"},
			want:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  labels:\n    tracebloc.io/cluster-id: c1\n",
		},
		{
			name:  "pod template metadata made before spec, image pinned",
			input: "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: y\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n            x: y\n        spec:\n          containers:\n            - name: c\n              image: \"docker.io/tracebloc/jobs-manager:prod\"\n",
			want:  "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: y\n    tracebloc.io/cluster-id: c1\nspec:\n  jobTemplate:\n    metadata:\n      labels:\n        tracebloc.io/cluster-id: c1\n    spec:\n      template:\n        metadata:\n          labels:\n            x: y\n            tracebloc.io/cluster-id: c1\n        spec:\n          containers:\n            - name: c\n              image: docker.io/tracebloc/jobs-manager@sha256:" + strings.Repeat("b", 64) + "\n",
		},
		{
			name:   "subject namespace",
			input:  "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    tracebloc.io/cluster-id: c1\nsubjects:\n- kind: ServiceAccount\n  name: s\n",
			opts:   Options{Namespace: "ns"},
			want:   "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    tracebloc.io/cluster-id: c1\nsubjects:\n- kind: ServiceAccount\n  name: s\n  namespace: ns\n",
			shaped: true,
		},
		{name: "flow metadata", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n"},
		{name: "flow labels", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels: {x: y}\n"},
		{name: "block scalar last", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: |\n      y\n"},
		{name: "anchor on labels", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels: &l\n    x: y\n"},
		{name: "escaped last value", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: \"a\\tb\"\n"},
		{name: "null last value", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x:\n"},
		{name: "no newline at the end", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  labels:\n    x: y"},
		{name: "CRLF", input: "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n  namespace: n\r\n  labels:\r\n    x: y # c\r\n"},
		{name: "multi-line plain scalar last", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n  annotations:\n    x: one\n      two\n"},
		{name: "List", input: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n    namespace: n\n"},
		{name: "null metadata", input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\ndata:\n  k: v\n", opts: Options{Namespace: "ns"}},
		{name: "metadata on the marker line", input: "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: n}}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.ClusterID, opts.Pins = id, testPins(t)
			text, tree := bothPaths(t, []byte(tc.input), opts)
			want := tc.want
			if want == "" {
				want = string(tree.Output)
				if text.spliced != 0 {
					t.Errorf("spliced %d documents, want the tree encoded", text.spliced)
				}
			} else if text.spliced == 0 {
				t.Errorf("the document was encoded, want it spliced")
			}
			if diff := cmp.Diff(want, string(text.Output)); diff != "" {
				t.Errorf("Stream(%q) mismatch (-want +got):\n%s", tc.input, diff)
			}
			if diff := cmp.Diff(string(tree.Output), string(text.Output)); tc.shaped && diff != "" {
				t.Errorf("encoder-shaped input: spliced text differs from the encoded tree (-tree +text):\n%s", diff)
			}
		})
	}
}

// FuzzText holds the spliced text to the encoded tree on arbitrary streams: the same
// objects, or the same failure.
func FuzzText(f *testing.F) {
	for _, name := range []string{"helm3-stream", "helm4-stream", "list", "cronjob", "namespace-objects", "rolebinding-subjects", "images"} {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), true)
	}
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    x: \"y\" # c\n", false)
	f.Add("kind: Job\nspec:\n  template:\n    spec: {}\nmetadata:\n  name: x\n", true)
	f.Fuzz(func(t *testing.T, input string, given bool) {
		opts := Options{ClusterID: "id", Fallback: "fb"}
		if given {
			opts.Namespace = "ns"
		}
		bothPaths(t, []byte(input), opts)
	})
}
