package transform

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"

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
	queue    chan *pending
	quit     chan struct{}
	done     chan struct{} // closed when the reader has stopped
	stopping sync.Once
}

// pending is a document in the window: its parse is done when done is closed.
type pending struct {
	c    chunk
	p    *parsedChunk
	err  error // the stream's read error instead of a document
	done chan struct{}
}

// window is how many documents the transform may have parsed ahead of its edits, so that
// one long document does not keep the other cores idle while it is parsed.
const window = 32

func parseAhead(sp *splitter, workers int) *ahead {
	a := &ahead{
		queue: make(chan *pending, window),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go a.read(sp, max(workers, 1))
	return a
}

// read cuts the stream into documents and hands them to workers parsers, which take them
// in stream order: the document the transform waits for is never left behind later ones,
// and a parser's stack, grown on the first deep document, serves the rest.
func (a *ahead) read(sp *splitter, workers int) {
	defer close(a.done)
	defer close(a.queue)
	// The parsers' queue holds the documents not yet taken by one. For the transform those
	// are no more than the window and the one it waits for, so sending never waits; a
	// reader of the bytes (Parsed.Read) does not wait for parses, and may make it wait.
	jobs := make(chan *pending, window+1)
	defer close(jobs)
	for range workers {
		go a.parse(jobs)
	}
	for {
		c, err := sp.next()
		if errors.Is(err, io.EOF) {
			return
		}
		d := &pending{c: c, err: err, done: make(chan struct{})}
		if err != nil {
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
		case jobs <- d: // the splitter never writes over a chunk it returned
		case <-a.quit:
			return
		}
	}
}

// parse parses the documents of jobs until it is closed; after stop, it leaves them, as
// nothing waits for them any more.
func (a *ahead) parse(jobs <-chan *pending) {
	for d := range jobs {
		select {
		case <-a.quit:
		default:
			d.p = parseChunk(d.c)
		}
		close(d.done)
	}
}

// stop ends the reading early (a document failed) and waits until it has: nothing reads
// the stream after Stream returns. Parses already started finish on their own.
func (a *ahead) stop() {
	a.stopping.Do(func() { close(a.quit) })
	<-a.done
}

// Parsed is a stream that is being cut into documents and parsed ahead (ParseAhead). Read
// reads it as the stream came; Stream, given a Parsed that nothing has read yet, takes its
// documents as they are parsed instead of parsing them again. It is spent once Stream
// returns, or once it is closed.
type Parsed struct {
	a     *ahead
	first *pending // the document Empty looked at, not yet taken
	read  bool     // Read has been called
	// unread is what Read has still to give of the document at hand: its marker, then its
	// body.
	unread [2][]byte
}

// ParseAhead starts cutting r into documents and parsing them on every core, and returns
// at once: a program can start the parse before it knows the transform's Options (the
// post-renderer does so while it is still starting up). Close it when it is not given to
// Stream.
func ParseAhead(r io.Reader) *Parsed {
	return &Parsed{a: parseAhead(newSplitter(r), runtime.GOMAXPROCS(0))}
}

// Empty reports whether the stream holds nothing more, not one byte; it waits until the
// next document is cut (not parsed), or the stream ends.
func (p *Parsed) Empty() bool {
	if p.first != nil || p.buffered() {
		return false
	}
	if p.read {
		return p.drained()
	}
	d, ok := <-p.a.queue
	p.first = d
	return !ok
}

// buffered reports whether Read has bytes of the document at hand still to give.
func (p *Parsed) buffered() bool {
	return len(p.unread[0])+len(p.unread[1]) > 0
}

// drained takes the next document into unread for Read; true when the stream has none.
func (p *Parsed) drained() bool {
	d, ok := p.pending()
	if !ok {
		return true
	}
	if d.err != nil {
		p.first = d // Read reports it
		return false
	}
	p.unread = [2][]byte{d.c.marker, d.c.body}
	return false
}

// pending returns the next document in the window, parsed or not; false after the last.
func (p *Parsed) pending() (*pending, bool) {
	if d := p.first; d != nil {
		p.first = nil
		return d, true
	}
	d, ok := <-p.a.queue
	return d, ok
}

// next returns the next document, parsed; io.EOF after the last one.
func (p *Parsed) next() (*parsedChunk, error) {
	d, ok := p.pending()
	if !ok {
		return nil, io.EOF
	}
	select {
	case <-d.done:
	case <-p.a.quit:
		return nil, errClosed
	}
	if d.err != nil {
		return nil, d.err
	}
	return d.p, nil
}

// Read reads the stream as it came, byte for byte.
func (p *Parsed) Read(b []byte) (int, error) {
	p.read = true
	for !p.buffered() {
		if d := p.first; d != nil && d.err != nil {
			return 0, d.err
		}
		if p.drained() {
			return 0, io.EOF
		}
	}
	part := &p.unread[0]
	if len(*part) == 0 {
		part = &p.unread[1]
	}
	n := copy(b, *part)
	*part = (*part)[n:]
	return n, nil
}

// errClosed says that a Parsed was used after Close.
var errClosed = errors.New("the parsed stream was closed")

// Close stops the reading and parsing of the stream, and waits until it has.
func (p *Parsed) Close() error {
	p.a.stop()
	return nil
}
