package transform

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// chunk is one document of the stream as it arrived: the `---` line that opened it (nil for
// a first document without one) and the lines up to the next marker.
type chunk struct {
	marker []byte
	body   []byte
}

// splitter cuts a YAML stream into documents on `---` lines without parsing it. A line
// that starts with `---` followed by a blank or the line end is a document marker wherever
// it stands: YAML forbids such a line inside any scalar (the spec's c-forbidden), so this
// is exact, and it needs memory for one document only.
type splitter struct {
	r       *bufio.Reader
	pending []byte // the marker line that opens the next chunk
	done    bool
	body    bytes.Buffer
}

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: bufio.NewReaderSize(r, 64*1024)}
}

// next returns the next chunk; io.EOF after the last one. The chunk's slices are valid
// until the following call.
func (s *splitter) next() (chunk, error) {
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
func (s *splitter) readLine() ([]byte, error) {
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

// isMarker reports whether line is a `---` document marker.
func isMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	if len(line) == 3 {
		return true
	}
	switch line[3] {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
