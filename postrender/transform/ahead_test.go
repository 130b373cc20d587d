package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestStreamParsesAheadInOrder: however many documents are parsed at once, and however
// uneven they are, the output is the one a single parser gives, documents that wait for the
// release namespace included.
func TestStreamParsesAheadInOrder(t *testing.T) {
	var in bytes.Buffer
	in.Write(benchStream(200))
	// A long document now and then, so that later ones finish first.
	for i := range 40 {
		fmt.Fprintf(&in, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: long-%d\ndata:\n", i)
		for k := range 50 * (i % 7) {
			fmt.Fprintf(&in, "  key-%d: value %d of %d\n", k, k, i)
		}
		in.Write(benchStream(3))
	}
	// The release namespace comes last, so that the documents before it wait for it.
	in.WriteString("---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: edge\n  labels:\n    " + ReleaseNamespaceLabel + ": tracebloc\n")
	want, err := Stream(bytes.NewReader(in.Bytes()), Options{ClusterID: testClusterID, workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want.Namespace != "tracebloc" || !bytes.Contains(want.Output, []byte("namespace: tracebloc\n")) {
		t.Fatalf("the release namespace was not applied: %q", want.Namespace)
	}
	for _, workers := range []int{2, 3, 8} {
		got, err := Stream(bytes.NewReader(in.Bytes()), Options{ClusterID: testClusterID, workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Output, want.Output) || got.Documents != want.Documents {
			t.Fatalf("%d workers: the output differs from one parser's (%d documents, want %d)", workers, got.Documents, want.Documents)
		}
	}
}

// countingReader counts what was read of r.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestStreamStopsReadingAtAnError: a document that fails ends the reading of the stream
// before Stream returns; what was parsed ahead of it is bounded by the window, and nothing
// of the rest is read.
func TestStreamStopsReadingAtAnError(t *testing.T) {
	doc := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: " + strings.Repeat("v", 2000) + "\n"
	var in bytes.Buffer
	in.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
	for range 2000 {
		in.WriteString(doc)
	}
	r := &countingReader{r: bytes.NewReader(in.Bytes())}
	_, err := Stream(r, Options{ClusterID: testClusterID, workers: 2})
	if err == nil || !strings.Contains(err.Error(), "document 1") {
		t.Fatalf("err = %v, want document 1's", err)
	}
	// The window's documents, the one being cut, and the splitter's read buffer.
	limit := (window+2)*len(doc) + 64*1024
	if r.n > limit {
		t.Fatalf("read %d bytes of %d after the first document failed; want at most %d", r.n, in.Len(), limit)
	}
}

// TestStreamTakesTheParseAhead: a stream whose parse started before Stream (ParseAhead)
// gives Stream its parsed documents, not its bytes, and the same result as the stream
// read by Stream, for every golden case.
func TestStreamTakesTheParseAhead(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := Stream(bytes.NewReader(input), goldenOptions(t, name))
			if err != nil {
				t.Fatal(err)
			}
			p := ParseAhead(bytes.NewReader(input))
			got, err := Stream(p, goldenOptions(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if p.read {
				t.Error("Stream read the parsed stream's bytes instead of taking its documents")
			}
			if !bytes.Equal(got.Output, want.Output) || got.Namespace != want.Namespace || got.Documents != want.Documents {
				t.Errorf("Stream(ParseAhead) = %d documents in %q, want %d in %q; outputs equal: %t",
					got.Documents, got.Namespace, want.Documents, want.Namespace, bytes.Equal(got.Output, want.Output))
			}
		})
	}
}

// parsedInputs are streams of every shape the splitter cuts: none, no marker, a first
// marker, a marker with content, an empty last document, no newline at the end, comments.
func parsedInputs(t *testing.T) map[string][]byte {
	inputs := map[string][]byte{
		"empty":             nil,
		"blank":             []byte("\n"),
		"no marker":         []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"),
		"first marker":      []byte("---\na: 1\n---\nb: 2\n"),
		"marker content":    []byte("--- {kind: ConfigMap, apiVersion: v1, metadata: {name: a}}\n--- # c\nb: 2\n"),
		"empty last":        []byte("a: 1\n---\n"),
		"no final newline":  []byte("# Source: x\na: 1\n---\nb: 2"),
		"comments only":     []byte("# one\n---\n# two\n"),
		"end marker inside": []byte("a: 1\n...\n---\nb: 2\n"),
	}
	for _, name := range goldenCases(t) {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = data
	}
	return inputs
}

// TestParsedReadsTheStreamAsItCame: read, a Parsed gives the stream's bytes as they came,
// whatever the size of the reads (iotest.TestReader reads it in pieces of every size).
func TestParsedReadsTheStreamAsItCame(t *testing.T) {
	for name, input := range parsedInputs(t) {
		if err := iotest.TestReader(ParseAhead(bytes.NewReader(input)), input); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// Empty first, as the renderer asks, then read.
		p := ParseAhead(bytes.NewReader(input))
		if empty := p.Empty(); empty != (len(input) == 0) {
			t.Errorf("%s: Empty() = %t for %d bytes", name, empty, len(input))
		}
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, input) {
			t.Errorf("%s: read after Empty = %q, %v; want %q", name, got, err, input)
		}
		if !p.Empty() {
			t.Errorf("%s: Empty() = false once all was read", name)
		}
	}
}

// TestParsedReadFirst: a Parsed that was read from is a plain stream to Stream, which
// transforms what is left of it; and a read error reaches both.
func TestParsedReadFirst(t *testing.T) {
	input := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n")
	for _, cut := range []int{len("apiVersion: v1\n"), bytes.Index(input, []byte("---"))} { // in a document, at its end
		p := ParseAhead(bytes.NewReader(input))
		if _, err := io.ReadFull(p, make([]byte, cut)); err != nil {
			t.Fatal(err)
		}
		got, err := Stream(p, Options{Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		want, err := Stream(bytes.NewReader(input[cut:]), Options{Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Output, want.Output) || got.Documents != want.Documents {
			t.Errorf("Stream after reading %d bytes = %d documents %q, want %d: %q", cut, got.Documents, got.Output, want.Documents, want.Output)
		}
	}

	broken := io.MultiReader(bytes.NewReader(input), iotest.ErrReader(errors.New("pipe broke")))
	if _, err := Stream(ParseAhead(broken), Options{Namespace: "ns"}); err == nil || !strings.Contains(err.Error(), "pipe broke") {
		t.Errorf("Stream(ParseAhead(broken)) = %v, want the read error", err)
	}
	broken = io.MultiReader(bytes.NewReader(input), iotest.ErrReader(errors.New("pipe broke")))
	if _, err := io.ReadAll(ParseAhead(broken)); err == nil || !strings.Contains(err.Error(), "pipe broke") {
		t.Errorf("ReadAll(ParseAhead(broken)) = %v, want the read error", err)
	}
}
