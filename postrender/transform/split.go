package transform

import (
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
// is exact. It reads in blocks and cuts the chunks out of them, copying nothing but a
// document that spans two blocks; a block is never written again once read, so chunks
// stay valid, and memory holds the documents in use and one block.
type splitter struct {
	r       io.Reader
	buf     []byte // read, not yet cut; starts at a line start
	scanned int    // the line starts of buf before it are no marker lines
	eof     bool
	pending []byte // the marker line that opens the next chunk
	done    bool
}

// readSize is how much the splitter asks of the reader at a time.
const readSize = 64 << 10

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: r}
}

// next returns the next chunk, which stays as it is; io.EOF after the last one.
func (s *splitter) next() (chunk, error) {
	if s.done {
		return chunk{}, io.EOF
	}
	c := chunk{marker: s.pending}
	s.pending = nil
	for {
		at, end, ok, err := s.marker()
		if err != nil {
			return chunk{}, err
		}
		if !ok { // the stream ends in this chunk
			s.done = true
			c.body = s.buf
			s.buf = nil
			if c.marker == nil && len(c.body) == 0 {
				return chunk{}, io.EOF
			}
			return c, nil
		}
		line := s.buf[at:end:end]
		body := s.buf[:at:at]
		s.buf, s.scanned = s.buf[end:], 0
		if c.marker == nil && len(body) == 0 {
			c.marker = line // the stream opens with a marker: it opens the first chunk
			continue
		}
		c.body, s.pending = body, line
		return c, nil
	}
}

// marker finds the next marker line in buf, reading on as needed: its start and end (its
// newline included); false when the stream ends first.
func (s *splitter) marker() (at, end int, ok bool, err error) {
	for {
		if i := s.find(); i >= 0 {
			if nl := bytes.IndexByte(s.buf[i:], '\n'); nl >= 0 {
				return i, i + nl + 1, true, nil
			}
			if s.eof {
				return i, len(s.buf), true, nil
			}
		} else if s.eof {
			return 0, 0, false, nil
		}
		if err := s.fill(); err != nil {
			return 0, 0, false, err
		}
	}
}

// find returns the start of the first marker line in buf, or -1 when buf does not show
// one yet; the line starts before scanned are known not to be.
func (s *splitter) find() int {
	for {
		p := s.scanned
		rest := s.buf[p:]
		if len(rest) < 4 && !s.eof && bytes.HasPrefix([]byte("---"), rest) {
			return -1 // it may be a marker: read on
		}
		if isMarker(rest[:min(len(rest), 4)]) {
			return p
		}
		nl := bytes.Index(rest, []byte("\n---"))
		if nl < 0 {
			if last := bytes.LastIndexByte(rest, '\n'); last >= 0 {
				s.scanned = p + last + 1 // the last line start, looked at when more is read
			}
			return -1
		}
		s.scanned = p + nl + 1
	}
}

// fill reads the next block onto buf, keeping what was read before it where it is.
func (s *splitter) fill() error {
	if cap(s.buf)-len(s.buf) < readSize/4 {
		grown := make([]byte, len(s.buf), max(2*len(s.buf), readSize))
		copy(grown, s.buf) // the chunk in progress only: cut chunks keep the old block
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	switch {
	case errors.Is(err, io.EOF):
		s.eof = true
	case err != nil:
		return fmt.Errorf("read the rendered manifests: %w", err)
	}
	return nil
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
