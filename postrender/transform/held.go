package transform

import (
	"bytes"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// The Holder edits a held document's tree, not its text. Rather than encode the whole
// document again for a few changes (a document the wiring edits is the client chart's
// largest), heldEdits records them as splices of its source too: the tree is
// remembered before the Holder runs (shape), and what changed afterwards (diff) is
// written where the source puts it. A new key or list entry is written in block style
// (blockText), indented as its neighbours are; a changed one-line string is replaced in
// place; a removed key or entry takes its lines with it. Whatever cannot be placed
// exactly (a node the transform made up, flow style, entries reordered, a collection
// left empty) fails the text, and the document is encoded from its tree as before.
// TestHeldMatches and FuzzHeld hold the text to the edited tree.

// shape is what a held tree looked like before the Holder ran: each node's fields and
// its children as they were (the Holder may change both in place). All of a tree's
// shapes are one allocation.
type shape struct {
	node               *yaml.Node
	kind               yaml.Kind
	style              yaml.Style
	tag, value, anchor string
	head, line, foot   string // comments
	alias              *yaml.Node
	kids               []shape
}

// shapeOf records the tree under n.
func shapeOf(n *yaml.Node) *shape {
	all := make([]shape, 1, count(n, 0))
	all[0] = shapeNode(n)
	fill(&all, 0, 0)
	return &all[0]
}

// maxShapeDepth bounds the recursion over a tree; deeper trees are not diffed.
const maxShapeDepth = 200

func count(n *yaml.Node, depth int) int {
	c := 1
	if depth < maxShapeDepth {
		for _, k := range n.Content {
			c += count(k, depth+1)
		}
	}
	return c
}

func shapeNode(n *yaml.Node) shape {
	return shape{node: n, kind: n.Kind, style: n.Style, tag: n.Tag, value: n.Value, anchor: n.Anchor,
		head: n.HeadComment, line: n.LineComment, foot: n.FootComment, alias: n.Alias}
}

// fill lays out the children of (*all)[i] after what all holds; all has room for the
// whole tree, so the shapes never move.
func fill(all *[]shape, i, depth int) {
	n := (*all)[i].node
	if depth >= maxShapeDepth || len(n.Content) == 0 {
		return
	}
	from := len(*all)
	for _, c := range n.Content {
		*all = append(*all, shapeNode(c))
	}
	(*all)[i].kids = (*all)[from:len(*all):len(*all)]
	for j := range n.Content {
		fill(all, from+j, depth+1)
	}
}

// same reports whether the children of n are those of its shape.
func (s *shape) same(n *yaml.Node) bool {
	if len(n.Content) != len(s.kids) {
		return false
	}
	for i, c := range n.Content {
		if s.kids[i].node != c {
			return false
		}
	}
	return true
}

// find returns the index of n among the shape's children, from the first, every step; -1
// when it was not there.
func (s *shape) find(n *yaml.Node, step int) int {
	for i := 0; i < len(s.kids); i += step {
		if s.kids[i].node == n {
			return i
		}
	}
	return -1
}

// lastScalar returns the shape's last scalar as it was, as textEdits.end walks a node.
func (s *shape) lastScalar() *yaml.Node {
	for s.kind == yaml.MappingNode || s.kind == yaml.SequenceNode {
		if len(s.kids) == 0 {
			return &yaml.Node{Kind: s.kind} // fails end
		}
		s = &s.kids[len(s.kids)-1]
	}
	return s.old()
}

// old returns the scalar node as it was.
func (s *shape) old() *yaml.Node {
	return &yaml.Node{Kind: s.kind, Style: s.style, Tag: s.tag, Value: s.value, Anchor: s.anchor, Line: s.node.Line, Column: s.node.Column}
}

// heldDiff records as text edits what changed under a held document's root since its
// shape was taken.
type heldDiff struct {
	t *transformer
	e *textEdits
}

// heldEdits adds to e the splices that write what changed in root since was.
func (t *transformer) heldEdits(e *textEdits, was *shape, root *yaml.Node) {
	if !e.ok() || was == nil || was.node != root {
		e.fail()
		return
	}
	d := &heldDiff{t: t, e: e}
	d.node(root, was, false, 0)
}

// node compares n with its shape s; inFlow says that n is inside a flow collection, where
// nothing may change (the encoder's block text for a value does not fit there).
func (d *heldDiff) node(n *yaml.Node, s *shape, inFlow bool, depth int) {
	if !d.e.ok() {
		return
	}
	if depth >= maxShapeDepth || n.Kind != s.kind || n.Anchor != s.anchor || n.HeadComment != s.head || n.LineComment != s.line || n.FootComment != s.foot {
		d.e.fail()
		return
	}
	inFlow = inFlow || n.Style&yaml.FlowStyle != 0
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != s.value || n.Tag != s.tag || n.Style != s.style {
			if inFlow {
				d.e.fail()
				return
			}
			d.replace(s, n)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		if !s.same(n) {
			if inFlow || s.style != 0 {
				d.e.fail()
				return
			}
			if n.Kind == yaml.MappingNode {
				d.mapping(n, s, depth)
			} else {
				d.sequence(n, s, depth)
			}
			return
		}
		for i, c := range n.Content {
			d.node(c, &s.kids[i], inFlow, depth+1)
		}
	case yaml.AliasNode:
		if n.Alias != s.alias {
			d.e.fail()
		}
	default:
		d.e.fail()
	}
}

// replace records that the one-line scalar of shape s reads as the string node v now,
// where its old text stands.
func (d *heldDiff) replace(s *shape, v *yaml.Node) {
	if s.kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag != yamlnode.TagString || v.Anchor != "" {
		d.e.fail() // only strings: their text is the encoder's for the value alone
		return
	}
	d.e.replace(s.old(), d.t.scalarText(v.Value))
}

// mapping compares the pairs of m with those it had: kept ones are compared in turn, new
// ones inserted after the kept pair before them, removed ones deleted.
func (d *heldDiff) mapping(m *yaml.Node, s *shape, depth int) {
	if len(m.Content) == 0 || len(m.Content)%2 != 0 || len(s.kids) == 0 {
		d.e.fail() // the encoder writes an empty mapping as {}
		return
	}
	for i := 0; i+1 < len(s.kids); i += 2 {
		if !holds(m, s.kids[i].node, 2) {
			d.remove(&s.kids[i], &s.kids[i+1])
		}
	}
	ind := -1
	last := -1 // index in s.kids of the last kept key that the source holds
	prev := -1 // index in s.kids of the last kept key
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		j := s.find(k, 2)
		if j < 0 {
			if ind < 0 {
				ind = d.indent(&s.kids[0])
				if ind < 0 {
					return
				}
			}
			d.insertPair(s, last, ind, k, v)
			continue
		}
		if j < prev {
			d.e.fail() // reordered
			return
		}
		prev = j
		if k.Line > 0 {
			last = j
		}
		d.node(k, &s.kids[j], false, depth+1)
		if s.kids[j+1].node != v {
			d.replace(&s.kids[j+1], v)
			continue
		}
		d.node(v, &s.kids[j+1], false, depth+1)
	}
}

// holds reports whether n is among the children of m, every step from the first.
func holds(m, n *yaml.Node, step int) bool {
	for i := 0; i < len(m.Content); i += step {
		if m.Content[i] == n {
			return true
		}
	}
	return false
}

// indent returns the indentation of the key of shape k, which must open its line; -1
// (and the text failed) when it does not.
func (d *heldDiff) indent(k *shape) int {
	at, ok := d.e.offset(k.node)
	start := d.e.lineStart(k.node.Line)
	if !ok || len(bytes.TrimLeft(d.e.src[start:at], " ")) != 0 {
		d.e.fail()
		return -1
	}
	return at - start
}

// insertPair records the new pair k: v at indentation ind, after the pair whose key is
// s.kids[after] (before the first pair when after < 0).
func (d *heldDiff) insertPair(s *shape, after, ind int, k, v *yaml.Node) {
	lines := d.encode(&yaml.Node{Kind: yaml.MappingNode, Tag: yamlnode.TagMap, Content: []*yaml.Node{k, v}})
	if lines == "" {
		d.e.fail()
		return
	}
	if after < 0 {
		if d.indent(&s.kids[0]) != ind {
			d.e.fail()
			return
		}
		d.insertAt(d.e.lineStart(s.kids[0].node.Line), ind, lines)
		return
	}
	at, ok := d.e.end(s.kids[after+1].lastScalar())
	if !ok {
		d.e.fail()
		return
	}
	d.insertAt(at, ind, lines)
}

func (d *heldDiff) insertAt(at, ind int, lines string) {
	if at < 0 {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: at, end: at, indent: ind, text: indentLines(lines, ind)})
}

// remove records that the pair k: v (or, with k nil, the list entry v) goes, with its
// lines: from the start of the line that opens it to the end of the line that ends it.
func (d *heldDiff) remove(k, v *shape) {
	first := k
	if first == nil {
		first = v
	}
	at, ok := d.e.offset(first.node)
	start := d.e.lineStart(first.node.Line)
	end, endOK := d.e.end(v.lastScalar())
	if !ok || !endOK {
		d.e.fail()
		return
	}
	lead := d.e.src[start:at]
	if k == nil {
		lead = bytes.TrimSuffix(bytes.TrimRight(lead, " "), []byte("-"))
	}
	if len(bytes.TrimLeft(lead, " ")) != 0 {
		d.e.fail() // something else on the line before it
		return
	}
	d.e.edits = append(d.e.edits, splice{at: start, end: end})
}

// sequence compares the entries of q with those it had, as mapping does pairs.
func (d *heldDiff) sequence(q *yaml.Node, s *shape, depth int) {
	if len(q.Content) == 0 || len(s.kids) == 0 {
		d.e.fail()
		return
	}
	dash, ok := d.dashIndent(s.kids[0].node)
	if !ok {
		d.e.fail()
		return
	}
	for i := range s.kids {
		if !holds(q, s.kids[i].node, 1) {
			d.remove(nil, &s.kids[i])
		}
	}
	last := -1 // index in s.kids of the last kept entry
	for _, c := range q.Content {
		j := s.find(c, 1)
		if j < 0 {
			d.insertEntry(s, last, dash, c)
			continue
		}
		if j < last {
			d.e.fail()
			return
		}
		last = j
		d.node(c, &s.kids[j], false, depth+1)
	}
}

// dashIndent returns the indentation of the `- ` that opens the list entry n.
func (d *heldDiff) dashIndent(n *yaml.Node) (int, bool) {
	at, ok := d.e.offset(n)
	if !ok {
		return 0, false
	}
	start := d.e.lineStart(n.Line)
	lead := bytes.TrimRight(d.e.src[start:at], " ")
	if !bytes.HasSuffix(lead, []byte("-")) || len(bytes.TrimLeft(lead[:len(lead)-1], " ")) != 0 {
		return 0, false
	}
	return len(lead) - 1, true
}

// insertEntry records the new entry c with its dash at indentation dash, after the entry
// s.kids[after] (before the first when after < 0).
func (d *heldDiff) insertEntry(s *shape, after, dash int, c *yaml.Node) {
	lines := d.encode(&yaml.Node{Kind: yaml.SequenceNode, Tag: yamlnode.TagSeq, Content: []*yaml.Node{c}})
	if lines == "" {
		d.e.fail()
		return
	}
	if after < 0 {
		d.insertAt(d.e.lineStart(s.kids[0].node.Line), dash, lines)
		return
	}
	at, ok := d.e.end(s.kids[after].lastScalar())
	if !ok {
		d.e.fail()
		return
	}
	d.insertAt(at, dash, lines)
}

// encode returns the text of the new node n (blockText's, else the encoder's); "" when it
// holds an anchor or an alias, which would mean something else written a second time.
func (d *heldDiff) encode(n *yaml.Node) string {
	if hasAnchor(n, 0) {
		return ""
	}
	w := blockText{plain: &d.t.plain}
	if text, ok := w.text(n); ok {
		return text
	}
	out, err := yamlnode.Marshal(n)
	if err != nil || len(out) == 0 || out[len(out)-1] != '\n' {
		return ""
	}
	return string(out)
}

func hasAnchor(n *yaml.Node, depth int) bool {
	if n.Anchor != "" || n.Kind == yaml.AliasNode || depth > maxShapeDepth {
		return true
	}
	for _, c := range n.Content {
		if hasAnchor(c, depth+1) {
			return true
		}
	}
	return false
}
