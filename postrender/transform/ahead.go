package transform

import (
	"bytes"
	"errors"
	"io"

	"go.yaml.in/yaml/v3"
)

// parsedChunk is a document of the stream, cut into what the transform writes as it came
// and what it parses, and parsed.
type parsedChunk struct {
	c chunk
	// head is the comment and blank lines before the document's content, written as they
	// came; src the content after them, which text edits splice; rest what was parsed
	// (src, or the marker line with it when the document starts on the `---` line), under
	// marker when it changes.
	head, src, rest, marker []byte
	doc                     yaml.Node
	err                     error
}

// parseChunk cuts and parses the chunk c; it keeps c's slices.
func parseChunk(c chunk) *parsedChunk {
	p := &parsedChunk{c: c, marker: c.marker}
	p.head, p.src = splitHead(c.body)
	p.rest = p.src
	if markerContent(c.marker) {
		// `--- {kind: ...}`: the document starts on the marker line; parse it with the
		// rest, and write it back under a plain marker when it changes.
		p.head, p.rest = nil, append(bytes.Clone(c.marker), c.body...)
		p.marker = []byte("---\n")
	}
	if len(p.rest) > 0 {
		p.doc, p.err = parse(p.rest)
	}
	return p
}

// ahead parses the documents of a stream ahead of the transform, on up to workers cores
// at once, and hands them over in stream order. The parse is most of a render's work and
// depends on nothing the transform learns, so while the transform edits one document the
// next ones are parsed beside it; at most a window of documents is held parsed, so memory
// still follows one document's size, not the stream's.
type ahead struct {
	queue chan *pending
	quit  chan struct{}
	done  chan struct{} // closed when the reader has stopped
}

// pending is a document in the window: its parse is done when done is closed.
type pending struct {
	p    *parsedChunk
	err  error // the stream's read error instead of a document
	done chan struct{}
}

// window is how many documents the transform may have parsed ahead of its edits, so that
// one long document does not keep the other cores idle while it is parsed.
const window = 32

func parseAhead(sp *splitter, workers int) *ahead {
	workers = max(workers, 1)
	a := &ahead{
		queue: make(chan *pending, window),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go a.read(sp, workers)
	return a
}

// read cuts the stream into documents and starts each one's parse, no more than workers
// at a time.
func (a *ahead) read(sp *splitter, workers int) {
	defer close(a.done)
	defer close(a.queue)
	slots := make(chan struct{}, workers)
	for {
		c, err := sp.next()
		if errors.Is(err, io.EOF) {
			return
		}
		d := &pending{done: make(chan struct{})}
		if err != nil {
			d.err = err
			close(d.done)
		}
		select {
		case a.queue <- d:
		case <-a.quit:
			return
		}
		if err != nil {
			return
		}
		select {
		case slots <- struct{}{}:
		case <-a.quit:
			return
		}
		go func(c chunk) {
			d.p = parseChunk(c)
			<-slots
			close(d.done)
		}(c) // the splitter never writes over a chunk it returned
	}
}

// next returns the next document, parsed; io.EOF after the last one.
func (a *ahead) next() (*parsedChunk, error) {
	d, ok := <-a.queue
	if !ok {
		return nil, io.EOF
	}
	<-d.done
	if d.err != nil {
		return nil, d.err
	}
	return d.p, nil
}

// stop ends the reading early (a document failed) and waits until it has: nothing reads
// the stream after Stream returns. Parses already started finish on their own.
func (a *ahead) stop() {
	close(a.quit)
	<-a.done
}
