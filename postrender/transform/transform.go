// Package transform provides the edit that the post-renderer makes to a rendered Helm
// stream: the target namespace on namespaced objects that have none, the
// tracebloc.io/cluster-id label on every object and pod template, and image digest pins.
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

// ClusterIDLabel is the label that carries the kube-system namespace UID, read by the
// bootstrap through the downward API.
const ClusterIDLabel = "tracebloc.io/cluster-id"

// Options says what to write.
type Options struct {
	// Namespace is the target namespace. Empty: the namespace that most namespaced objects
	// of the stream name (the release namespace the chart writes on its own objects; the
	// first one on a tie), else Fallback.
	Namespace string
	// Fallback gives the namespace when neither Namespace nor the stream does ($HELM_NAMESPACE,
	// the kubeconfig context's namespace). Nil: "default".
	Fallback func() (string, error)
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
	// Namespace is the target namespace the stream was rendered for.
	Namespace string
	// Documents counts the documents read, comment-only ones included.
	Documents int
}

// errNeedNamespace stops the edit of a document that needs the target namespace before the
// stream has told it; the document is done again at the end.
var errNeedNamespace = errors.New("target namespace not known yet")

type pendingDoc struct {
	at     int // offset in the output
	index  int
	marker []byte
	body   []byte
}

type transformer struct {
	opts    Options
	scopes  scopes
	target  string
	votes   map[string]int
	order   []string
	out     bytes.Buffer
	pending []pendingDoc
	plain   plainEmitter
}

// Stream transforms the YAML stream r. On error the Result is empty: nothing of a stream
// that failed is ever written.
func Stream(r io.Reader, opts Options) (Result, error) {
	t := &transformer{
		opts:   opts,
		scopes: newScopes(opts.Scopes),
		target: opts.Namespace,
		votes:  map[string]int{},
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
	if err := t.resolveTarget(); err != nil {
		return Result{}, err
	}
	out, err := t.finish()
	if err != nil {
		return Result{}, err
	}
	return Result{Output: out, Namespace: t.target, Documents: index}, nil
}

// resolveTarget settles the target namespace once the whole stream has been read.
func (t *transformer) resolveTarget() error {
	if t.target != "" {
		return nil
	}
	best := 0
	for _, ns := range t.order {
		if t.votes[ns] > best {
			t.target, best = ns, t.votes[ns]
		}
	}
	if t.target != "" {
		return nil
	}
	t.target = "default"
	if t.opts.Fallback == nil {
		return nil
	}
	ns, err := t.opts.Fallback()
	if err != nil {
		return fmt.Errorf("find the target namespace: %w", err)
	}
	if ns != "" {
		t.target = ns
	}
	return nil
}

// finish does the documents that waited for the target namespace and splices them in.
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
