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
// yaml.v3 node tree), edited in place and encoded again only when something changed (a
// simple tree by plainEmitter, which writes what the kyaml encoder writes at a fraction of
// its cost; anything else by the encoder); an
// unchanged document, a comment-only document and anything that is not a Kubernetes object
// are copied byte for byte. Comments before a document (Helm's `# Source:` lines) are kept
// as written, as are all annotations (Helm 4's postrenderer.helm.sh/postrender-filename).
// Running the transform on its own output changes nothing.
package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/tracebloc/edge/postrender/pins"
	"sigs.k8s.io/kustomize/kyaml/yaml"
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
}

// Result is the transformed stream.
type Result struct {
	Output []byte
	// Namespace is the release namespace the stream was rendered for; empty when nothing
	// said it (objects without a namespace were left as they are).
	Namespace string
	// Documents counts the documents read, comment-only ones included.
	Documents int
}

// errNeedNamespace stops the edit of a document that needs the release namespace before
// the stream has told it; the document is done again once it is known, at the end.
var errNeedNamespace = errors.New("target namespace not known yet")

type pendingDoc struct {
	at     int // offset in the output
	index  int
	marker []byte
	body   []byte
}

type transformer struct {
	opts   Options
	scopes scopes
	// target is the release namespace; settled says it is final ("" then: unknown).
	target    string
	settled   bool
	fromChart bool // target came from ReleaseNamespaceLabel
	out       bytes.Buffer
	pending   []pendingDoc
	plain     plainEmitter
}

// Stream transforms the YAML stream r. On error the Result is empty: nothing of a stream
// that failed is ever written.
func Stream(r io.Reader, opts Options) (Result, error) {
	t := &transformer{
		opts:    opts,
		scopes:  newScopes(opts.Scopes),
		target:  opts.Namespace,
		settled: opts.Namespace != "",
	}
	sp := newSplitter(r)
	index := 0
	for {
		c, err := sp.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, err
		}
		index++
		err = t.document(c, index)
		if errors.Is(err, errNeedNamespace) {
			t.pending = append(t.pending, pendingDoc{
				at: t.out.Len(), index: index,
				marker: bytes.Clone(c.marker), body: bytes.Clone(c.body),
			})
			continue
		}
		if err != nil {
			return Result{}, err
		}
	}
	if !t.settled {
		t.target, t.settled = opts.Fallback, true
	}
	out, err := t.finish()
	if err != nil {
		return Result{}, err
	}
	return Result{Output: out, Namespace: t.target, Documents: index}, nil
}

// finish does the documents that waited for the release namespace and splices them in.
func (t *transformer) finish() ([]byte, error) {
	if len(t.pending) == 0 {
		return t.out.Bytes(), nil
	}
	head := t.out.Bytes()
	t.out = bytes.Buffer{}
	t.out.Grow(len(head) + len(head)/4)
	from := 0
	for _, p := range t.pending {
		t.out.Write(head[from:p.at])
		from = p.at
		if err := t.document(chunk{marker: p.marker, body: p.body}, p.index); err != nil {
			return nil, err
		}
	}
	t.out.Write(head[from:])
	return t.out.Bytes(), nil
}

// document transforms one chunk and appends it to the output.
func (t *transformer) document(c chunk, index int) error {
	head, rest := splitHead(c.body)
	marker := c.marker
	if markerContent(c.marker) {
		// `--- {kind: ...}`: the document starts on the marker line; parse it with the
		// rest, and write it back under a plain marker when it changes.
		head, rest = nil, append(bytes.Clone(c.marker), c.body...)
		marker = []byte("---\n")
	}
	if len(rest) == 0 {
		t.verbatim(c)
		return nil
	}
	doc, err := parse(rest)
	if err != nil {
		if errors.Is(err, errManyDocuments) {
			return fmt.Errorf("%s holds more than one YAML document (a `...` line?); separate documents with `---` lines", describe(c, index))
		}
		return fmt.Errorf("%s is not valid YAML: %w; fix the chart template that renders it", describe(c, index), err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.verbatim(c)
		return nil
	}
	changed, err := t.object(doc.Content[0])
	if err != nil {
		if errors.Is(err, errNeedNamespace) {
			return err
		}
		return fmt.Errorf("%s: %w", describe(c, index), err)
	}
	if !changed {
		t.verbatim(c)
		return nil
	}
	t.out.Write(marker)
	t.out.Write(head)
	if bare(&doc) && t.plain.emit(&t.out, doc.Content[0]) {
		return nil
	}
	enc := yaml.NewEncoder(&t.out)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("%s: encode: %w", describe(c, index), err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("%s: encode: %w", describe(c, index), err)
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

func (t *transformer) verbatim(c chunk) {
	t.out.Write(c.marker)
	t.out.Write(c.body)
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
