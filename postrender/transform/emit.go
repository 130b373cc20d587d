package transform

import (
	"bytes"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// plainEmitter writes documents as the kyaml encoder does, when they are simple enough.
// It remembers which words that open with a digit the encoder writes plain.
type plainEmitter struct {
	words map[string]bool
}

// emit writes root, the mapping of a document, exactly as the kyaml encoder writes it
// (two-space indent, sequences not indented under their key), when the tree holds nothing
// that takes the encoder's judgment: only block mappings and sequences that are not empty,
// one-word plain scalars, and no comments, anchors or explicit tags. Otherwise it writes
// nothing and reports false, and the caller encodes. Most rendered manifests are such
// trees, and this costs a fraction of the encoder, which allocates an event queue per
// document. FuzzEmitPlain holds it to the encoder's output byte for byte.
func (e *plainEmitter) emit(out *bytes.Buffer, root *yaml.Node) bool {
	start := out.Len()
	if root.Kind != yaml.MappingNode || !e.mapping(out, root, 0, false) {
		out.Truncate(start)
		return false
	}
	return true
}

// mapping writes the mapping m at indent; inItem says that the first key follows a
// sequence entry's "- " on the same line.
func (e *plainEmitter) mapping(out *bytes.Buffer, m *yaml.Node, indent int, inItem bool) bool {
	if !plainCollection(m, yamlnode.TagMap) {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !e.scalar(k) || len(k.Value) > maxPlainKey {
			return false
		}
		if i > 0 || !inItem {
			writeIndent(out, indent)
		}
		out.WriteString(k.Value)
		out.WriteByte(':')
		switch v.Kind {
		case yaml.ScalarNode:
			if !e.scalar(v) {
				return false
			}
			out.WriteByte(' ')
			out.WriteString(v.Value)
			out.WriteByte('\n')
		case yaml.MappingNode:
			out.WriteByte('\n')
			if !e.mapping(out, v, indent+2, false) {
				return false
			}
		case yaml.SequenceNode:
			out.WriteByte('\n')
			if !e.sequence(out, v, indent) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// sequence writes the block sequence s with its entries at indent.
func (e *plainEmitter) sequence(out *bytes.Buffer, s *yaml.Node, indent int) bool {
	if !plainCollection(s, yamlnode.TagSeq) {
		return false
	}
	for _, item := range s.Content {
		writeIndent(out, indent)
		out.WriteString("- ")
		switch item.Kind {
		case yaml.ScalarNode:
			if !e.scalar(item) {
				return false
			}
			out.WriteString(item.Value)
			out.WriteByte('\n')
		case yaml.MappingNode:
			if !e.mapping(out, item, indent+2, true) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// maxPlainKey keeps keys well below the length at which the encoder writes a complex key.
const maxPlainKey = 100

const spaces = "                                                                "

func writeIndent(out *bytes.Buffer, n int) {
	for n > len(spaces) {
		out.WriteString(spaces)
		n -= len(spaces)
	}
	out.WriteString(spaces[:n])
}

// bare reports whether n carries no style, anchor or comment.
func bare(n *yaml.Node) bool {
	return n.Style == 0 && n.Anchor == "" && n.HeadComment == "" && n.LineComment == "" && n.FootComment == ""
}

// plainCollection reports whether the mapping or sequence n is written in block style
// without a tag: not empty (the encoder writes {} and []), nothing attached.
func plainCollection(n *yaml.Node, tag string) bool {
	return bare(n) && len(n.Content) > 0 && (n.Tag == "" || n.Tag == tag)
}

// scalar reports whether the encoder writes the scalar n as its value, unquoted and
// untagged: one word of plain characters whose tag is the one the value resolves to.
func (e *plainEmitter) scalar(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || !bare(n) || !plainWord(n.Value) {
		return false
	}
	v := n.Value
	switch n.Tag {
	case yamlnode.TagString:
		// A word that starts with a letter resolves to a string, but for these; one that
		// starts with a digit may be a number or a time, which the encoder quotes.
		if !isLetter(v[0]) {
			return e.plainString(v)
		}
		switch v {
		case "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL":
			return false
		}
		return true
	case yamlnode.TagInt:
		return allDigits(v) && (v[0] != '0' || len(v) == 1)
	case yamlnode.TagBool:
		switch v {
		case "true", "True", "TRUE", "false", "False", "FALSE":
			return true
		}
	}
	return false
}

// maxWords bounds the words that plainString remembers; past it, the encoder does the
// documents that hold new ones.
const maxWords = 1024

// plainString reports whether the encoder writes the string v, a plain word, unquoted: it
// asks the encoder once for each word.
func (e *plainEmitter) plainString(v string) bool {
	if plain, ok := e.words[v]; ok {
		return plain
	}
	if len(e.words) >= maxWords {
		return false
	}
	if e.words == nil {
		e.words = map[string]bool{}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: "k"},
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: v},
	}}
	out, err := yamlnode.Marshal(doc)
	plain := err == nil && string(out) == "k: "+v+"\n"
	e.words[v] = plain
	return plain
}

// plainWord reports whether v is a word that a plain scalar writes as it is: a letter,
// digit, '_' or '/' first, then those and . : @ = + -, not ending in ':'.
func plainWord(v string) bool {
	if v == "" || v[len(v)-1] == ':' {
		return false
	}
	if c := v[0]; !isLetter(c) && !isDigit(c) && c != '_' && c != '/' {
		return false
	}
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case isLetter(c), isDigit(c):
		case c == '_', c == '/', c == '.', c == ':', c == '@', c == '=', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(v string) bool {
	for i := range len(v) {
		if !isDigit(v[i]) {
			return false
		}
	}
	return true
}
