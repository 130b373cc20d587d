package transform

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// sameTree reports where a and b differ in anything the parser records, "" when nowhere.
func sameTree(a, b *yaml.Node, at string) string {
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Anchor != b.Anchor ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment ||
		a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) || (a.Alias == nil) != (b.Alias == nil) {
		return fmt.Sprintf("%s: %+v\nwant %+v", at, *a, *b)
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", at, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkLiterals fails unless parseLiterals, where it takes a document, gives the parser's
// tree; it reports whether it took it.
func checkLiterals(t *testing.T, input []byte) bool {
	t.Helper()
	got, ok := parseLiterals(input)
	if !ok {
		return false
	}
	var want yaml.Node
	if err := yaml.Unmarshal(input, &want); err != nil {
		t.Fatalf("parseLiterals took a document the parser refuses (%v):\n%s", err, input)
	}
	if d := sameTree(&got, &want, ""); d != "" {
		t.Fatalf("parseLiterals differs from the parser at %s\ninput:\n%s", d, input)
	}
	return true
}

func script(lines int, indent string) string {
	var b strings.Builder
	for i := range lines {
		switch i % 9 {
		case 3:
			b.WriteString("\n") // an empty line
		case 5:
			b.WriteString(indent + "    more: indented # not a comment\n")
		case 7:
			b.WriteString(indent + "  \n") // spaces past the indentation: content
		default:
			fmt.Fprintf(&b, "%secho \"step %d\" | tee -a /tmp/log: done\n", indent, i)
		}
	}
	return b.String()
}

// TestLiterals: the long literal blocks of charts, in every chomping and place, are taken
// out of the parse and come back as the parser reads them; the blocks the parser's own
// rules decide are left to it.
func TestLiterals(t *testing.T) {
	taken := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  run.sh: |\n" + script(30, "    ") + "  other: x\n",
		"data:\n  a: |-\n" + script(20, "    ") + "\n\n  b: |+\n" + script(20, "    ") + "\n\n\nc: 1\n",
		"spec:\n  containers:\n  - name: c\n    command:\n    - sh\n    - -c\n    - |\n" + script(25, "      ") + "    args: [x]\n",
		"spec:\n  containers:\n    - args: |\n" + script(25, "        ") + "      image: x\n",
		"k: |\n\n\n" + script(20, "   ") + "# a comment after the block\nl: 2\n",
		"k: |\n" + script(20, "  ") + "k2: |\n" + script(20, "  ") + "end: 3\n",
	}
	for i, in := range taken {
		if !checkLiterals(t, []byte(in)) {
			t.Errorf("case %d: not taken:\n%s", i, in)
		}
	}
	left := []string{
		"k: |2\n" + script(20, "    ") + "x: 1\n",           // an indentation indicator
		"k: | # why\n" + script(20, "  ") + "x: 1\n",        // a comment on the header
		"k: |\n  \n" + script(20, "  ") + "x: 1\n",          // a leading empty line with spaces
		"k: |\n" + script(20, "  ") + "  last line",         // no newline at the end
		"k: |\n" + script(20, "  ") + "\tx: 1\n",            // a tab where the indentation ends it
		"k: |\n  short\nx: 1\n",                             // too short to be worth it
		"k: \"quoted |\n" + script(20, "  ") + "  end\"\n",  // a header inside a quoted scalar
		"\"k\": |\n" + script(20, "  ") + "x: 1\n",          // a quoted key
		"k: |\n" + script(20, "  ") + "  bell \x07\nx: 1\n", // a control character
	}
	for i, in := range left {
		if checkLiterals(t, []byte(in)) {
			t.Errorf("case %d: taken, want it left to the parser:\n%s", i, in)
		}
	}
}

// TestLiteralsChart: on the edge chart's output, the long scripts are taken out of the
// parse and every document's tree is the parser's.
func TestLiteralsChart(t *testing.T) {
	if testing.Short() {
		t.Skip("renders the edge chart: not under -short")
	}
	taken := 0
	for doc := range strings.SplitSeq(string(renderEdgeChart(t)), "\n---") {
		_, rest := splitHead([]byte(strings.TrimPrefix(doc, "\n")))
		if checkLiterals(t, rest) {
			taken++
		}
	}
	if taken == 0 {
		t.Error("no document of the edge chart had a literal block taken out of its parse")
	}
}

// FuzzLiterals holds parseLiterals to the parser on arbitrary documents.
func FuzzLiterals(f *testing.F) {
	f.Add("k: |\n" + script(20, "  ") + "x: 1\n")
	f.Add("- |-\n" + script(20, "  ") + "- b\n")
	f.Add("a:\n  - k: |+\n" + script(20, "      ") + "\n\n    j: 2\n")
	for _, name := range []string{"helm3-stream", "cronjob"} {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, input string) {
		checkLiterals(t, []byte(input))
	})
}
