package transform

import (
	"bytes"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// textEdits are a document's edits as splices of the text it was parsed from, recorded
// next to the edits of the tree. Writing the source with them spliced in costs a copy,
// where encoding the tree again costs as much as the parse; and it keeps the chart's own
// layout and comments, as an unchanged document keeps them. An edit is recorded only where
// the tree's positions pin it down exactly: an appended key goes after the line that ends
// its mapping's last value, a new metadata before the spec key's line, a new value over
// the one-line scalar it replaces, so that where the source is written as the encoder
// writes, the splices give the encoder's bytes. Anything else (flow style, block scalars,
// anchors and tags where an edit lands, a line that does not end where the value does)
// fails the document's text, and it is encoded from the tree as before. TestTextMatches
// and FuzzText hold the two paths to the same objects.
type textEdits struct {
	src    []byte
	lines  []int // offsets of the line starts of src, made on first use
	failed bool
	edits  []splice
}

// splice replaces src[at:end] with text; indent is that of inserted lines.
type splice struct {
	at, end int
	indent  int
	text    string
}

// reset readies e for the document parsed from src; off leaves it failed, so that the
// document is encoded.
func (e *textEdits) reset(src []byte, on bool) {
	*e = textEdits{src: src, lines: e.lines[:0], edits: e.edits[:0], failed: !on}
	if on && (bytes.IndexByte(src, '\r') >= 0 || bytes.HasPrefix(src, []byte("\xef\xbb\xbf"))) {
		e.failed = true // line ends and columns this does not follow
	}
}

// ok reports whether every edit of the document was recorded; a nil e records none.
func (e *textEdits) ok() bool { return e != nil && !e.failed }

func (e *textEdits) fail() {
	if e != nil {
		e.failed = true
	}
}

// write writes src with the splices, or reports false (and writes nothing) when two of
// them overlap.
func (e *textEdits) write(w *bytes.Buffer) bool {
	// Lines inserted at one offset go deepest first: a key appended to a nested mapping
	// belongs before one appended to the mapping that holds it; at one depth, in the
	// order of the tree's edits.
	slices.SortStableFunc(e.edits, func(a, b splice) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return b.indent - a.indent
	})
	for i := 1; i < len(e.edits); i++ {
		if e.edits[i].at < e.edits[i-1].end {
			return false
		}
	}
	from := 0
	for _, s := range e.edits {
		w.Write(e.src[from:s.at])
		w.WriteString(s.text)
		from = s.end
	}
	w.Write(e.src[from:])
	return true
}

// lineStart returns the offset of the 1-based line n, or -1.
func (e *textEdits) lineStart(n int) int {
	if len(e.lines) == 0 {
		e.lines = append(e.lines[:0], 0)
		for i, c := range e.src {
			if c == '\n' {
				e.lines = append(e.lines, i+1)
			}
		}
	}
	if n < 1 || n > len(e.lines) {
		return -1
	}
	return e.lines[n-1]
}

// offset returns the offset of node n's first character and the indentation of its line
// up to it, when everything before it on the line is ASCII (columns count characters).
func (e *textEdits) offset(n *yaml.Node) (at int, ok bool) {
	start := e.lineStart(n.Line)
	if start < 0 || n.Column < 1 {
		return 0, false
	}
	at = start + n.Column - 1
	if at > len(e.src) {
		return 0, false
	}
	for _, c := range e.src[start:at] {
		if c >= 0x80 || c == '\n' {
			return 0, false
		}
	}
	return at, true
}

// token returns where the one-line scalar n stands in the source, when its text there is
// exactly its value, plain or quoted without escapes.
func (e *textEdits) token(n *yaml.Node) (at, end int, ok bool) {
	if n.Kind != yaml.ScalarNode || n.Anchor != "" || (n.Value == "" && n.Style == 0) || strings.ContainsAny(n.Value, "\n\r") {
		return 0, 0, false
	}
	var raw string
	switch n.Style {
	case 0:
		raw = n.Value
	case yaml.DoubleQuotedStyle:
		raw = `"` + n.Value + `"` // an escape in the source would not match
	case yaml.SingleQuotedStyle:
		raw = "'" + n.Value + "'"
	default:
		return 0, 0, false
	}
	at, ok = e.offset(n)
	if !ok || !bytes.HasPrefix(e.src[at:], []byte(raw)) {
		return 0, 0, false
	}
	return at, at + len(raw), true
}

// end returns the offset of the line after the one where node n ends, when its last
// scalar ends a line (a comment may follow it); a flow collection, which ends in a
// bracket, never does.
func (e *textEdits) end(n *yaml.Node) (int, bool) {
	for n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return 0, false
		}
		n = n.Content[len(n.Content)-1]
	}
	_, end, ok := e.token(n)
	if !ok {
		return 0, false
	}
	line := e.src[end:]
	nl := bytes.IndexByte(line, '\n')
	if nl < 0 {
		return 0, false
	}
	if rest := bytes.TrimLeft(line[:nl], " \t"); len(rest) > 0 && rest[0] != '#' {
		return 0, false // more than a comment after the value
	}
	return end + nl + 1, true
}

// indent returns the indentation of the keys of the block mapping m.
func (e *textEdits) indent(m *yaml.Node) (int, bool) {
	if m.Kind != yaml.MappingNode || m.Style != 0 || m.Anchor != "" || len(m.Content) == 0 {
		return 0, false
	}
	at, ok := e.offset(m.Content[0])
	if !ok {
		return 0, false
	}
	return at - e.lineStart(m.Content[0].Line), true
}

// add records, for a key that the tree's edit puts into mapping m after the value
// m.Content[after] (after < 0: at the end), the lines lines at m's indentation; each line
// is relative to that indentation and ends in a newline.
func (e *textEdits) add(m *yaml.Node, after int, lines string) {
	if !e.ok() || lines == "" {
		e.fail()
		return
	}
	ind, ok := e.indent(m)
	if !ok {
		e.fail()
		return
	}
	last := m.Content[len(m.Content)-1]
	if after >= 0 {
		last = m.Content[after]
	}
	at, ok := e.end(last)
	if !ok {
		e.fail()
		return
	}
	e.edits = append(e.edits, splice{at: at, end: at, indent: ind, text: indentLines(lines, ind)})
}

// addBefore records lines put into mapping m just before its key m.Content[key], which
// must open its line.
func (e *textEdits) addBefore(m *yaml.Node, key int, lines string) {
	if !e.ok() || lines == "" {
		e.fail()
		return
	}
	k := m.Content[key]
	at, ok := e.offset(k)
	start := e.lineStart(k.Line)
	if !ok || m.Style != 0 || strings.TrimLeft(string(e.src[start:at]), " ") != "" {
		e.fail()
		return
	}
	e.edits = append(e.edits, splice{at: start, end: start, indent: at - start, text: indentLines(lines, at-start)})
}

// replace records the new text of the scalar n.
func (e *textEdits) replace(n *yaml.Node, text string) {
	if !e.ok() || text == "" {
		e.fail()
		return
	}
	at, end, ok := e.token(n)
	if !ok {
		e.fail()
		return
	}
	e.edits = append(e.edits, splice{at: at, end: end, text: text})
}

func indentLines(lines string, ind int) string {
	if ind == 0 {
		return lines
	}
	var b strings.Builder
	for line := range strings.Lines(lines) {
		writeIndentString(&b, ind)
		b.WriteString(line)
	}
	return b.String()
}

func writeIndentString(b *strings.Builder, n int) {
	for n > len(spaces) {
		b.WriteString(spaces)
		n -= len(spaces)
	}
	b.WriteString(spaces[:n])
}

// maxScalarTexts bounds the values scalarText remembers.
const maxScalarTexts = 256

// scalarText returns how the encoder writes the string v as a mapping value, once per
// value; "" when it takes more than one line.
func (t *transformer) scalarText(v string) string {
	if s, ok := t.texts[v]; ok {
		return s
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: "k"},
		{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: v},
	}}
	out, err := yamlnode.Marshal(doc)
	s := ""
	if text, ok := bytes.CutPrefix(out, []byte("k: ")); err == nil && ok && bytes.IndexByte(text, '\n') == len(text)-1 {
		s = string(text[:len(text)-1])
	}
	if len(t.texts) < maxScalarTexts {
		if t.texts == nil {
			t.texts = map[string]string{}
		}
		t.texts[v] = s
	}
	return s
}

// keyLine returns the line "key: value\n" as the encoder writes it, or "" when the value
// takes more than one line.
func (t *transformer) keyLine(key, value string) string {
	v := t.scalarText(value)
	if v == "" {
		return ""
	}
	return key + ": " + v + "\n"
}
