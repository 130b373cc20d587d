package transform

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
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
