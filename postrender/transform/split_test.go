package transform

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// The line-by-line splitter that splitter replaced: the measure of what it must cut.
type refSplitter struct {
	r       *bufio.Reader
	pending []byte // the marker line that opens the next chunk
	done    bool
	body    bytes.Buffer
}

func newRefSplitter(r io.Reader) *refSplitter {
	return &refSplitter{r: bufio.NewReaderSize(r, 64*1024)}
}

// next returns the next chunk; io.EOF after the last one. The chunk's slices are valid
// until the following call.
func (s *refSplitter) next() (chunk, error) {
	if s.done {
		return chunk{}, io.EOF
	}
	s.body.Reset()
	c := chunk{marker: s.pending}
	s.pending = nil
	for {
		line, err := s.readLine()
		switch {
		case len(line) == 0:
		case isMarker(line) && (c.marker != nil || s.body.Len() > 0):
			s.pending = append([]byte(nil), line...)
			c.body = s.body.Bytes()
			return c, nil
		case isMarker(line):
			// The stream opens with a marker: it opens the first chunk.
			c.marker = append([]byte(nil), line...)
		default:
			s.body.Write(line)
		}
		if errors.Is(err, io.EOF) {
			s.done = true
			c.body = s.body.Bytes()
			if c.marker == nil && len(c.body) == 0 {
				return chunk{}, io.EOF
			}
			return c, nil
		}
		if err != nil {
			return chunk{}, fmt.Errorf("read the rendered manifests: %w", err)
		}
	}
}

// readLine returns one line with its newline, valid until the next read.
func (s *refSplitter) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	long := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = s.r.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

func clone(c chunk) chunk {
	return chunk{marker: bytes.Clone(c.marker), body: bytes.Clone(c.body)}
}

func allChunks(t *testing.T, next func() (chunk, error), copyEach bool) []chunk {
	t.Helper()
	var out []chunk
	for {
		c, err := next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if copyEach {
			c = clone(c)
		}
		out = append(out, c)
	}
}

func checkSplit(t *testing.T, input []byte) {
	t.Helper()
	want := allChunks(t, newRefSplitter(bytes.NewReader(input)).next, true)
	for _, r := range []io.Reader{bytes.NewReader(input), iotest.OneByteReader(bytes.NewReader(input)), iotest.HalfReader(bytes.NewReader(input))} {
		got := allChunks(t, newSplitter(r).next, false) // as they came: they must stay valid
		if len(got) != len(want) {
			t.Fatalf("%d chunks, want %d, of %q", len(got), len(want), input)
		}
		for i := range got {
			if !bytes.Equal(got[i].marker, want[i].marker) || !bytes.Equal(got[i].body, want[i].body) {
				t.Fatalf("chunk %d = %q %q, want %q %q, of %q", i, got[i].marker, got[i].body, want[i].marker, want[i].body, input)
			}
		}
	}
}

// TestSplit: the splitter cuts streams where the line-by-line one did, however the
// reader hands them over, and chunks stay valid after the next is cut.
func TestSplit(t *testing.T) {
	long := bytes.Repeat([]byte("k: v\n"), 40000) // longer than a read
	for _, in := range [][]byte{
		nil, []byte("---"), []byte("---\n"), []byte("---\n---\n"), []byte("a: 1"), []byte("a: 1\n---\nb: 2\n"),
		[]byte("--- # c\na: 1\n--- {b: 2}\n---\r\nc: 3\n----\nnot: a marker\n ---\n"),
		[]byte("\n\n---\n\n"), []byte("x: |\n  ---\n---x\n---\t\ny: 1\n---"),
		append(append([]byte("a: 1\n---\n"), long...), "---\nb: 2\n"...),
	} {
		checkSplit(t, in)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("a: 1\n---\nb: 2\n"))
	f.Add([]byte("--- # c\na: 1\n--- {b: 2}\n---\r\nc: 3\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		checkSplit(t, input)
	})
}

var _ = fmt.Sprint
var _ = bufio.NewReader
