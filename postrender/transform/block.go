package transform

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// blockText writes a new part of a held document (the pair or the list entry a Holder
// added) in block style, as cheaply as the plain emitter: every collection in block style,
// every string plain where it reads back as that string and double-quoted where not,
// numbers, booleans and nulls as they read. Only what it means has to match the encoder
// here, not its bytes: the text around it is the chart's own. It reports false for what it
// does not write (an alias, a tag outside the core schema, a list directly in a list), and
// the encoder writes it.
type blockText struct {
	b     strings.Builder
	plain *plainEmitter
}

func (w *blockText) text(n *yaml.Node) (string, bool) {
	ok := false
	switch n.Kind {
	case yaml.MappingNode:
		ok = len(n.Content) > 0 && w.mapping(n, 0, false)
	case yaml.SequenceNode:
		ok = len(n.Content) > 0 && w.sequence(n, 0)
	}
	return w.b.String(), ok
}

func (w *blockText) mapping(m *yaml.Node, indent int, inItem bool) bool {
	if len(m.Content)%2 != 0 {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key, ok := w.scalar(k)
		if !ok || k.Tag != yamlnode.TagString || len(key) > maxPlainKey {
			return false
		}
		if i > 0 || !inItem {
			writeIndentString(&w.b, indent)
		}
		w.b.WriteString(key)
		w.b.WriteByte(':')
		if !w.value(v, indent, false) {
			return false
		}
	}
	return true
}

// value writes v after a key (inItem false) or a list dash, to the end of its lines.
func (w *blockText) value(v *yaml.Node, indent int, inItem bool) bool {
	switch {
	case v.Kind == yaml.ScalarNode:
		s, ok := w.scalar(v)
		if !ok {
			return false
		}
		if !inItem {
			w.b.WriteByte(' ')
		}
		w.b.WriteString(s)
		w.b.WriteByte('\n')
		return true
	case len(v.Content) == 0 && (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode):
		if !inItem {
			w.b.WriteByte(' ')
		}
		if v.Kind == yaml.MappingNode {
			w.b.WriteString("{}\n")
		} else {
			w.b.WriteString("[]\n")
		}
		return true
	case v.Kind == yaml.MappingNode && inItem:
		return w.mapping(v, indent+2, true)
	case v.Kind == yaml.MappingNode:
		w.b.WriteByte('\n')
		return w.mapping(v, indent+2, false)
	case v.Kind == yaml.SequenceNode && !inItem:
		w.b.WriteByte('\n')
		return w.sequence(v, indent)
	}
	return false
}

func (w *blockText) sequence(s *yaml.Node, indent int) bool {
	for _, item := range s.Content {
		writeIndentString(&w.b, indent)
		w.b.WriteString("- ")
		if !w.value(item, indent, true) {
			return false
		}
	}
	return true
}

// scalar returns the text of the scalar n that reads back as its tag and value.
func (w *blockText) scalar(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Anchor != "" {
		return "", false
	}
	switch n.Tag {
	case yamlnode.TagString:
		bare := yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value}
		if w.plain.scalar(&bare) {
			return n.Value, true
		}
		return strconv.Quote(n.Value), true
	case yamlnode.TagNull:
		switch n.Value {
		case "", "~", "null", "Null", "NULL":
			return n.Value, true
		}
	case yamlnode.TagInt, yamlnode.TagBool, "!!float", "!!timestamp":
		// As the parser read it, so it reads back so; a tag it resolved, never one given.
		if n.Style == 0 && plainWord(n.Value) {
			return n.Value, true
		}
	}
	return "", false
}
