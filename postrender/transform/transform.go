// Package transform provides the edit that the post-renderer makes to a rendered Helm
// stream: the release namespace on namespaced objects that have none, the
// tracebloc.io/cluster-id label on every object and pod template, and image digest pins.
//
// The release namespace comes from the caller (a flag, $HELM_NAMESPACE) or from the edge
// chart's own objects (ReleaseNamespaceLabel), never from the namespaces other objects
// name: a chart may put more objects in kube-system than in its release namespace. When
// nothing says it, objects without a namespace are left to Helm, which applies them into
// the release namespace.
//
// It reads one document at a time and keeps only the output bytes, so memory follows the
// size of the output, not of a parsed stream. Each document is parsed with kyaml (the
// yaml.v3 node tree) and edited in place; the parse, most of the work, runs ahead of the
// edits on every core, a window of documents at most (ahead). A changed document is written as its source
// with the same edits spliced in where the tree's positions place them exactly (textEdits:
// nearly every rendered manifest), else encoded again (a simple tree by plainEmitter,
// which writes what the kyaml encoder writes at a fraction of its cost; anything else by
// the encoder); an unchanged document, a comment-only document and anything that is not
// a Kubernetes object are copied byte for byte. Comments before a document (Helm's `# Source:` lines) are kept
// as written, as are all annotations (Helm 4's postrenderer.helm.sh/postrender-filename).
// Running the transform on its own output changes nothing.
//
// A Holder (Options.Holder) may keep documents back until the end of the stream, for an
// edit that needs all of it (the client chart's wiring, package wiring): those documents,
// and only those, are kept parsed and written at the end where they stood, with the
// Holder's edits spliced into their text as the transform's are (heldEdits).
package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/tracebloc/edge/postrender/pins"
	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// ReleaseNamespaceLabel is the label the edge chart writes on its own objects with the
// release namespace. It is the only thing in a stream that says which namespace Helm
// installs into; the namespaces other objects name say nothing about it.
const ReleaseNamespaceLabel = "tracebloc.io/release-namespace"

// Options says what to write.
type Options struct {
	// Namespace is the release namespace as the operator gave it; it wins over the stream.
	// Empty: the one the edge chart's own objects name (ReleaseNamespaceLabel), else
	// Fallback.
	Namespace string
	// Fallback is the release namespace when no object of the edge chart names one
	// ($HELM_NAMESPACE). Empty: objects without a namespace are left as they are, and Helm
	// applies them into the release namespace.
	Fallback string
	// ClusterID is the value of the cluster-id label; empty writes no label.
	ClusterID string
	// Pins are the image digest pins.
	Pins pins.Set
	// Scopes tells which kinds are cluster-scoped (true) or namespaced (false) beyond the
	// built-in list: discovery, or a test standing in for it.
	Scopes map[GroupKind]bool
	// Holder, when set, may hold documents back until the end of the stream, for an edit
	// that needs the whole stream (the client chart's wiring). Nil holds nothing.
	Holder Holder

	// structural encodes every changed document from its tree, never splicing its text:
	// the tests compare the two.
	structural bool
	// workers is how many documents are parsed at once; 0: one per core.
	workers int
}

// A Holder takes documents out of the stream until its end. The transform asks it about
// every object, after its own edits, and gives it the ones it held at the end; everything
// else streams on as before, so a stream with nothing to hold costs only the question.
type Holder interface {
	// Hold reports whether to keep obj, a document's object after the transform's edits,
	// until Finish. It must not change obj.
	Hold(obj *yaml.Node) bool
	// Finish edits the held objects in place, in stream order, and may drop some. It runs
	// once, at the end of every stream, also when nothing was held.
	Finish(held []*Held) error
}

// Held is a document a Holder kept back.
type Held struct {
	// Object is the document's object; Finish edits it in place.
	Object *yaml.Node
	// Name names the document for a person: its number and template.
	Name string
	// Changed and Drop are Finish's answer: the object was edited, or the document goes.
	Changed, Drop bool
}

// Result is the transformed stream.
type Result struct {
	Output []byte
	// Namespace is the release namespace the stream was rendered for; empty when nothing
	// said it (objects without a namespace were left as they are).
	Namespace string
	// Documents counts the documents read, comment-only ones included.
	Documents int
	// spliced counts the changed documents written as their source with the edits
	// spliced in, not encoded.
	spliced int
}

// errNeedNamespace stops the edit of a document that needs the release namespace before
// the stream has told it; the document is done again once it is known, at the end.
var errNeedNamespace = errors.New("target namespace not known yet")

// slot is a document that is written at the end: one that waited for the release
// namespace (held nil), or one a Holder kept back.
type slot struct {
	at    int // offset in the output
	index int
	c     chunk
	held  *heldDoc
	out   bytes.Buffer
}

// heldDoc is a held document, parsed and edited by the transform.
type heldDoc struct {
	Held
	c            chunk // written as it came when nothing changed
	head, marker []byte
	doc          yaml.Node
	changed      bool      // by the transform
	text         textEdits // the transform's edits, on a copy of the source
	shape        *shape    // the tree before the Holder ran, when text holds the edits
}

type transformer struct {
	opts   Options
	scopes scopes
	// target is the release namespace; settled says it is final ("" then: unknown).
	target    string
	settled   bool
	fromChart bool // target came from ReleaseNamespaceLabel
	out       bytes.Buffer
	slots     []slot
	plain     plainEmitter
	// cur records the edits of the document at hand as text; text is its storage for the
	// documents that stream on, texts the values as the encoder writes them.
	cur     *textEdits
	text    textEdits
	texts   map[string]string
	spliced int
}

// Stream transforms the YAML stream r; a *Parsed that nothing has read yet gives the
// documents it has parsed ahead. On error the Result is empty: nothing of a stream that
// failed is ever written.
func Stream(r io.Reader, opts Options) (Result, error) {
	t := &transformer{
		opts:    opts,
		scopes:  newScopes(opts.Scopes),
		target:  opts.Namespace,
		settled: opts.Namespace != "",
	}
	docs, ok := r.(*Parsed)
	if !ok || docs.read {
		workers := opts.workers
		if workers == 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		docs = &Parsed{a: parseAhead(newSplitter(r), workers)}
	}
	defer docs.Close()
	index := 0
	for {
		p, err := docs.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, err
		}
		index++
		h, err := t.parsedDocument(&t.out, p, index)
		switch {
		case errors.Is(err, errNeedNamespace):
			t.slots = append(t.slots, slot{at: t.out.Len(), index: index, c: p.c})
		case err != nil:
			return Result{}, err
		case h != nil:
			t.slots = append(t.slots, slot{at: t.out.Len(), index: index, held: h})
		}
	}
	if !t.settled {
		t.target, t.settled = opts.Fallback, true
	}
	out, err := t.finish()
	if err != nil {
		return Result{}, err
	}
	return Result{Output: out, Namespace: t.target, Documents: index, spliced: t.spliced}, nil
}

// finish does the documents that waited for the release namespace, lets the Holder edit
// the held ones, and splices them all in where they stood.
func (t *transformer) finish() ([]byte, error) {
	for i := range t.slots {
		s := &t.slots[i]
		if s.held != nil {
			continue
		}
		h, err := t.document(&s.out, s.c, s.index)
		if err != nil {
			return nil, err
		}
		s.held = h
	}
	if err := t.finishHeld(); err != nil {
		return nil, err
	}
	if len(t.slots) == 0 {
		return t.out.Bytes(), nil
	}
	head := t.out.Bytes()
	size := len(head)
	for i := range t.slots {
		size += t.slots[i].out.Len()
	}
	var out bytes.Buffer
	out.Grow(size)
	from := 0
	for i := range t.slots {
		s := &t.slots[i]
		out.Write(head[from:s.at])
		from = s.at
		out.Write(s.out.Bytes())
	}
	out.Write(head[from:])
	return out.Bytes(), nil
}

// finishHeld gives the held documents to the Holder and writes what it leaves of them.
func (t *transformer) finishHeld() error {
	if t.opts.Holder == nil {
		return nil
	}
	var held []*Held
	for i := range t.slots {
		if h := t.slots[i].held; h != nil {
			held = append(held, &h.Held)
			if h.text.ok() {
				h.shape = shapeOf(h.Object)
			}
		}
	}
	if err := t.opts.Holder.Finish(held); err != nil {
		return err
	}
	for i := range t.slots {
		s := &t.slots[i]
		h := s.held
		if h == nil || h.Drop {
			continue
		}
		changed := h.changed || h.Changed
		text := &h.text
		if h.Changed && t.opts.Pins.Len() > 0 {
			// What the Holder put in (an init container) is pinned like the rest; the
			// images the transform pinned are already.
			t.cur = nil
			t.pinWalk(h.Object)
		}
		if h.Changed {
			// The Holder's edits are in the tree; write them into the text where they fit.
			t.heldEdits(text, h.shape, h.Object)
		}
		if err := t.write(&s.out, h.c, h.marker, h.head, &h.doc, changed, text); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return nil
}

// document transforms one chunk and writes it to w, or returns it parsed and edited when
// the Holder keeps it.
func (t *transformer) document(w *bytes.Buffer, c chunk, index int) (*heldDoc, error) {
	return t.parsedDocument(w, parseChunk(c), index)
}

// parsedDocument is document for a chunk already parsed.
func (t *transformer) parsedDocument(w *bytes.Buffer, p *parsedChunk, index int) (*heldDoc, error) {
	c, head, rest, marker, doc, err := p.c, p.head, p.rest, p.marker, p.doc, p.err
	t.cur = &t.text
	t.cur.reset(p.src, !t.opts.structural && !markerContent(c.marker))
	if len(rest) == 0 {
		writeChunk(w, c)
		return nil, nil
	}
	if err != nil {
		if errors.Is(err, errManyDocuments) {
			return nil, fmt.Errorf("%s holds more than one YAML document (a `...` line?); separate documents with `---` lines", describe(c, index))
		}
		return nil, fmt.Errorf("%s is not valid YAML: %w; fix the chart template that renders it", describe(c, index), err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		writeChunk(w, c)
		return nil, nil
	}
	changed, err := t.object(doc.Content[0])
	if err != nil {
		if errors.Is(err, errNeedNamespace) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", describe(c, index), err)
	}
	if t.opts.Holder != nil && t.opts.Holder.Hold(doc.Content[0]) {
		// The chunk's bytes stay as they are (the splitter never writes over them): the held
		// document keeps them, not a copy.
		h := &heldDoc{c: c, head: head, marker: marker, doc: doc, changed: changed}
		h.Held = Held{Object: h.doc.Content[0], Name: describe(c, index)}
		h.text = textEdits{src: p.src, failed: t.cur.failed, edits: slices.Clone(t.cur.edits)}
		return h, nil
	}
	if err := t.write(w, c, marker, head, &doc, changed, t.cur); err != nil {
		return nil, fmt.Errorf("%s: %w", describe(c, index), err)
	}
	return nil, nil
}

// write writes a document: as it came when nothing changed, else its source with the
// edits spliced in when text holds them all, else encoded.
func (t *transformer) write(w *bytes.Buffer, c chunk, marker, head []byte, doc *yaml.Node, changed bool, text *textEdits) error {
	if !changed {
		writeChunk(w, c)
		return nil
	}
	w.Write(marker)
	w.Write(head)
	if text.ok() && text.write(w) {
		t.spliced++
		return nil
	}
	if bare(doc) && t.plain.emit(w, doc.Content[0]) {
		return nil
	}
	enc := yamlnode.NewEncoder(w)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return nil
}

// errManyDocuments says that a chunk held a second document after a `...` end marker.
var errManyDocuments = errors.New("more than one document")

// parse parses the one document of rest; a document without content comes back as the
// zero node. Only a `...` end marker lets a second document hide in a chunk; that takes a
// decoder, which reads on past the first document, and a second document is never dropped.
func parse(rest []byte) (yaml.Node, error) {
	var doc yaml.Node
	if !hasEndMarker(rest) {
		if doc, ok := parseLiterals(rest); ok {
			return doc, nil
		}
		// Unmarshal parses the slice in place: no reader and its buffers for each document.
		err := yaml.Unmarshal(rest, &doc)
		return doc, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(rest))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return yaml.Node{}, nil
		}
		return yaml.Node{}, err
	}
	var extra yaml.Node
	if !errors.Is(dec.Decode(&extra), io.EOF) {
		return yaml.Node{}, errManyDocuments
	}
	return doc, nil
}

// markerContent reports whether a `---` line carries more than a comment.
func markerContent(marker []byte) bool {
	if len(marker) <= 3 {
		return false
	}
	rest := bytes.TrimSpace(marker[3:])
	return len(rest) > 0 && rest[0] != '#'
}

// hasEndMarker reports whether a line of body starts with the `...` document end marker.
func hasEndMarker(body []byte) bool {
	return bytes.HasPrefix(body, []byte("...")) || bytes.Contains(body, []byte("\n..."))
}

func writeChunk(w *bytes.Buffer, c chunk) {
	w.Write(c.marker)
	w.Write(c.body)
}

// splitHead cuts the blank and comment lines that open a document from the rest, so that
// they come out exactly as they went in.
func splitHead(body []byte) (head, rest []byte) {
	i := 0
	for i < len(body) {
		end := bytes.IndexByte(body[i:], '\n')
		line := body[i:]
		if end >= 0 {
			line = body[i : i+end+1]
		}
		trimmed := bytes.TrimLeft(line, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] != '#' {
			break
		}
		i += len(line)
	}
	return body[:i], body[i:]
}

var (
	sourcePrefix   = []byte("# Source: ")
	filenamePrefix = []byte("postrenderer.helm.sh/postrender-filename:")
)

// describe names a document for a person: its number, and the template it came from when
// Helm said (`# Source:` in Helm 3, the filename annotation in Helm 4).
func describe(c chunk, index int) string {
	if src := lineValue(c.body, sourcePrefix); src != "" {
		return fmt.Sprintf("document %d (%s)", index, src)
	}
	if src := lineValue(c.body, filenamePrefix); src != "" {
		return fmt.Sprintf("document %d (%s)", index, src)
	}
	return fmt.Sprintf("document %d", index)
}

// lineValue returns what follows prefix on the first line that holds it, unquoted.
func lineValue(body, prefix []byte) string {
	i := bytes.Index(body, prefix)
	if i < 0 {
		return ""
	}
	v := body[i+len(prefix):]
	if end := bytes.IndexByte(v, '\n'); end >= 0 {
		v = v[:end]
	}
	return string(bytes.Trim(v, " \t\r\"'"))
}
