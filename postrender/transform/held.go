package transform

import (
	"bytes"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The Holder edits a held document's tree, not its text. Rather than encode the whole
// document again for a few changes (a document the wiring edits is the client chart's
// largest), heldEdits records them as splices of its source too: the tree is
// remembered before the Holder runs (shape), and what changed afterwards (diff) is
// written where the source puts it. A new key or list entry is the encoder's text for
// it, indented as its neighbours are; a changed one-line string is replaced in place; a
// removed key or entry takes its lines with it. Whatever cannot be placed exactly (a
// node the transform made up, flow style, entries reordered, a collection left empty)
// fails the text, and the document is encoded from its tree as before. TestHeldMatches
// and FuzzHeld hold the two paths to the same objects.

// shape is what a held tree looked like before the Holder ran: each node's scalar fields
// and a copy of its children, which the Holder may change in place.
type shape map[*yaml.Node]nodeShape

type nodeShape struct {
	kind               yaml.Kind
	style              yaml.Style
	tag, value, anchor string
	head, line, foot   string // comments
	content            []*yaml.Node
}

// shapeOf records the tree under n.
func shapeOf(n *yaml.Node) shape {
	s := shape{}
	s.add(n)
	return s
}

func (s shape) add(n *yaml.Node) {
	if _, seen := s[n]; seen {
		return
	}
	s[n] = nodeShape{kind: n.Kind, style: n.Style, tag: n.Tag, value: n.Value, anchor: n.Anchor,
		head: n.HeadComment, line: n.LineComment, foot: n.FootComment, content: slices.Clone(n.Content)}
	for _, c := range n.Content {
		s.add(c)
	}
}

// heldDiff records as text edits what changed under a held document's root since its
// shape was taken.
type heldDiff struct {
	t    *transformer
	e    *textEdits
	was  shape
	seen map[*yaml.Node]bool
}

// heldEdits adds to e the splices that write what changed in root since was.
func (t *transformer) heldEdits(e *textEdits, was shape, root *yaml.Node) {
	if !e.ok() {
		return
	}
	d := &heldDiff{t: t, e: e, was: was, seen: map[*yaml.Node]bool{}}
	d.node(root, false)
}

// node compares n, which was in the tree before, with its shape; inFlow says that n is
// inside a flow collection, where nothing may change (the encoder's block text for a
// value does not fit there).
func (d *heldDiff) node(n *yaml.Node, inFlow bool) {
	if !d.e.ok() {
		return
	}
	if d.seen[n] {
		d.e.fail() // a node in two places: an alias, or a shared copy
		return
	}
	d.seen[n] = true
	s, ok := d.was[n]
	if !ok || n.Kind != s.kind || n.Anchor != s.anchor || n.HeadComment != s.head || n.LineComment != s.line || n.FootComment != s.foot {
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
			d.scalar(n, s)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		if !slices.Equal(n.Content, s.content) {
			if inFlow || s.style != 0 {
				d.e.fail()
				return
			}
			if n.Kind == yaml.MappingNode {
				d.mapping(n, s)
			} else {
				d.sequence(n, s)
			}
			return
		}
		for _, c := range n.Content {
			d.node(c, inFlow)
		}
	default:
		d.e.fail()
	}
}

// scalar records the new value of the one-line scalar n, where its old text stands.
func (d *heldDiff) scalar(n *yaml.Node, s nodeShape) {
	old := *n
	old.Value, old.Tag, old.Style = s.value, s.tag, s.style
	if n.Tag != yaml.NodeTagString {
		d.e.fail() // only strings: their text is the encoder's for the value alone
		return
	}
	at, end, ok := d.e.token(&old)
	text := d.t.scalarText(n.Value)
	if !ok || text == "" {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: at, end: end, text: text})
}

// mapping compares the pairs of m with those it had: kept ones are compared in turn, new
// ones inserted after the kept pair before them, removed ones deleted.
func (d *heldDiff) mapping(m *yaml.Node, s nodeShape) {
	if len(m.Content) == 0 || len(m.Content)%2 != 0 {
		d.e.fail() // the encoder writes an empty mapping as {}
		return
	}
	kept := map[*yaml.Node]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kept[m.Content[i]] = true
	}
	// Pairs removed, or whose value is another node now.
	was := map[*yaml.Node]*yaml.Node{} // key -> old value
	for i := 0; i+1 < len(s.content); i += 2 {
		k, v := s.content[i], s.content[i+1]
		was[k] = v
		if !kept[k] {
			d.remove(k, v)
		}
	}
	ind, indOK := -1, false
	last := -1 // index in s.content of the last kept pair's key that the source holds
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		old, existed := was[k]
		if !existed {
			if !indOK {
				ind, indOK = d.e.indent(&yaml.Node{Kind: yaml.MappingNode, Content: s.content})
				if !indOK {
					d.e.fail()
					return
				}
			}
			d.insertPair(s.content, last, ind, k, v)
			continue
		}
		j := slices.Index(s.content, k)
		if j < last {
			d.e.fail() // reordered
			return
		}
		if k.Line > 0 {
			last = j
		}
		d.node(k, false)
		if old != v {
			d.replaceValue(old, v)
			continue
		}
		d.node(v, false)
	}
}

// insertPair records the new pair k: v at indentation ind, after the pair whose key is
// pairs[after] (before the first pair when after < 0).
func (d *heldDiff) insertPair(pairs []*yaml.Node, after, ind int, k, v *yaml.Node) {
	lines := d.encode(&yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: []*yaml.Node{k, v}})
	if lines == "" {
		d.e.fail()
		return
	}
	if after < 0 {
		d.insertBefore(pairs[0], ind, lines)
		return
	}
	at, ok := d.e.end(d.was.last(pairs[after+1]))
	if !ok {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: at, end: at, indent: ind, text: indentLines(lines, ind)})
}

// insertBefore records lines at indentation ind on the lines before the node first,
// which opens its line there.
func (d *heldDiff) insertBefore(first *yaml.Node, ind int, lines string) {
	at, ok := d.e.offset(first)
	start := d.e.lineStart(first.Line)
	if !ok || at-start != ind || len(bytes.TrimLeft(d.e.src[start:at], " ")) != 0 {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: start, end: start, indent: ind, text: indentLines(lines, ind)})
}

// replaceValue records that a key's value is the node v instead of old: in place when
// both are one-line strings, else not at all.
func (d *heldDiff) replaceValue(old, v *yaml.Node) {
	s := d.was[old]
	if old.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag != yaml.NodeTagString || v.Anchor != "" {
		d.e.fail()
		return
	}
	prev := *old
	prev.Value, prev.Tag, prev.Style = s.value, s.tag, s.style
	at, end, ok := d.e.token(&prev)
	text := d.t.scalarText(v.Value)
	if !ok || text == "" {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: at, end: end, text: text})
}

// remove records that the pair k: v (or, with k nil, the list entry v) goes, with its
// lines: from the start of the line that opens it to the end of the line that ends it.
func (d *heldDiff) remove(k, v *yaml.Node) {
	first := k
	if first == nil {
		first = v
	}
	at, ok := d.e.offset(first)
	start := d.e.lineStart(first.Line)
	end, endOK := d.e.end(d.was.last(v))
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

// last returns the node as it was with its last scalar, as textEdits.end walks it.
func (s shape) last(n *yaml.Node) *yaml.Node {
	for {
		sh, ok := s[n]
		if !ok || (sh.kind != yaml.MappingNode && sh.kind != yaml.SequenceNode) {
			return &yaml.Node{Kind: sh.kind, Style: sh.style, Tag: sh.tag, Value: sh.value, Anchor: n.Anchor, Line: n.Line, Column: n.Column}
		}
		if len(sh.content) == 0 {
			return &yaml.Node{Kind: sh.kind} // fails end
		}
		n = sh.content[len(sh.content)-1]
	}
}

// sequence compares the entries of q with those it had, as mapping does pairs.
func (d *heldDiff) sequence(q *yaml.Node, s nodeShape) {
	if len(q.Content) == 0 || len(s.content) == 0 {
		d.e.fail()
		return
	}
	dash, ok := d.dashIndent(s.content[0])
	if !ok {
		d.e.fail()
		return
	}
	kept := map[*yaml.Node]bool{}
	for _, c := range q.Content {
		kept[c] = true
	}
	for _, c := range s.content {
		if !kept[c] {
			d.remove(nil, c)
		}
	}
	last := -1 // index in s.content of the last kept entry
	for _, c := range q.Content {
		j := slices.Index(s.content, c)
		if j < 0 {
			d.insertEntry(s.content, last, dash, c)
			continue
		}
		if j < last {
			d.e.fail()
			return
		}
		last = j
		d.node(c, false)
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
// entries[after] (before the first when after < 0).
func (d *heldDiff) insertEntry(entries []*yaml.Node, after, dash int, c *yaml.Node) {
	lines := d.encode(&yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: []*yaml.Node{c}})
	if lines == "" {
		d.e.fail()
		return
	}
	if after < 0 {
		first := entries[0]
		start := d.e.lineStart(first.Line)
		if start < 0 {
			d.e.fail()
			return
		}
		d.e.edits = append(d.e.edits, splice{at: start, end: start, indent: dash, text: indentLines(lines, dash)})
		return
	}
	at, ok := d.e.end(d.was.last(entries[after]))
	if !ok {
		d.e.fail()
		return
	}
	d.e.edits = append(d.e.edits, splice{at: at, end: at, indent: dash, text: indentLines(lines, dash)})
}

// encode returns the encoder's text for the new node n, which must hold nothing the
// source has (a node of the tree before is written where it stands, not again).
func (d *heldDiff) encode(n *yaml.Node) string {
	if d.usesOld(n) {
		return ""
	}
	out, err := yaml.Marshal(n)
	if err != nil || len(out) == 0 || out[len(out)-1] != '\n' {
		return ""
	}
	return string(out)
}

func (d *heldDiff) usesOld(n *yaml.Node) bool {
	for _, c := range n.Content {
		if _, old := d.was[c]; old || d.usesOld(c) {
			return true
		}
	}
	return false
}
