package transform

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Charts carry scripts and configuration files as literal block scalars (`key: |`), and
// the parser reads those a character at a time: a third of the edge chart's bytes and a
// good part of its parse, for values no edit reads. parseLiterals parses a document with
// the content lines of its literal block scalars left empty (the line count, so every
// other node's line and column, stays), then gives each of those scalars its value,
// cut from the lines themselves. A block it cannot place exactly (an indentation
// indicator, a comment after the header, a tab in an indentation, a document that does
// not end in a newline, characters the parser would refuse) is left to the parser, and
// when the tree does not hold an empty literal scalar at each header it found, the
// document is parsed as it came.
// FuzzLiterals holds the tree to the parser's, node for node.

// literal is a block scalar found in the text: its header's line and column (1-based,
// as the parser counts), and its value.
type literal struct {
	line, column int
	value        string
}

// minLiteral is the content size from which a block is worth taking out of the parse.
const minLiteral = 256

// parseLiterals parses rest as parse does, with the content of its long literal block
// scalars taken out of the parse; false when there are none, or the parse of the text
// with them taken out does not hold them where they were found.
func parseLiterals(rest []byte) (yaml.Node, bool) {
	blank, found := blankLiterals(rest)
	if len(found) == 0 {
		return yaml.Node{}, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(blank, &doc); err != nil {
		return yaml.Node{}, false
	}
	at := map[[2]int]*yaml.Node{}
	collectLiterals(&doc, at, 0)
	for _, l := range found {
		n := at[[2]int{l.line, l.column}]
		if n == nil || strings.Trim(n.Value, "\n") != "" {
			return yaml.Node{}, false
		}
	}
	for _, l := range found {
		at[[2]int{l.line, l.column}].Value = l.value
	}
	return doc, true
}

func collectLiterals(n *yaml.Node, at map[[2]int]*yaml.Node, depth int) {
	if depth > maxShapeDepth {
		return
	}
	if n.Kind == yaml.ScalarNode && n.Style&yaml.LiteralStyle != 0 {
		at[[2]int{n.Line, n.Column}] = n
	}
	for _, c := range n.Content {
		collectLiterals(c, at, depth+1)
	}
}

// blankLiterals returns src with the content lines of its long literal block scalars
// emptied, and those scalars.
func blankLiterals(src []byte) ([]byte, []literal) {
	var out []byte
	var found []literal
	from := 0             // src[from:] is not yet in out
	line, counted := 1, 0 // the line number of offset counted
	for at := 0; at < len(src); {
		bar := bytes.IndexByte(src[at:], '|')
		if bar < 0 {
			break
		}
		bar += at
		end := lineEnd(src, bar)
		at = end
		if !headerEnd(src[bar+1 : end]) {
			continue
		}
		start := bytes.LastIndexByte(src[:bar], '\n') + 1
		if start < counted {
			continue // in the block just emptied
		}
		line += bytes.Count(src[counted:start], []byte("\n"))
		counted = start
		l, stop, ok := literalAt(src, start, end, line)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(src))
		}
		l.line = line
		found = append(found, l)
		out = append(out, src[from:end]...)
		lines := bytes.Count(src[end:stop], []byte("\n"))
		for range lines {
			out = append(out, '\n')
		}
		line += 1 + lines
		from, at, counted = stop, stop, stop
	}
	if len(found) == 0 {
		return src, nil
	}
	return append(out, src[from:]...), found
}

// headerEnd reports whether rest, what follows a '|' to the end of its line, can end a
// literal block header: a chomping indicator at most, then blanks.
func headerEnd(rest []byte) bool {
	if len(rest) > 0 && (rest[0] == '-' || rest[0] == '+') {
		rest = rest[1:]
	}
	return len(bytes.Trim(rest, " \n")) == 0
}

// lineEnd returns the offset after the line that starts at at, its newline included.
func lineEnd(src []byte, at int) int {
	if nl := bytes.IndexByte(src[at:], '\n'); nl >= 0 {
		return at + nl + 1
	}
	return len(src)
}

// literalAt reads a literal block scalar whose header ends the line src[at:end]: it
// returns the scalar (column and value) and the offset after its last content line.
func literalAt(src []byte, at, end, line int) (literal, int, bool) {
	text := bytes.TrimRight(src[at:end], " \n")
	if len(text) == 0 || end == len(src) && src[end-1] != '\n' {
		return literal{}, 0, false
	}
	chomp := byte(0)
	if c := text[len(text)-1]; c == '-' || c == '+' {
		chomp, text = c, text[:len(text)-1]
	}
	if len(text) < 3 || text[len(text)-1] != '|' || text[len(text)-2] != ' ' {
		return literal{}, 0, false
	}
	bar := len(text) - 1
	// The node that holds the block: `key: |` (a key at its column) or `- |`.
	parent := -1
	switch before := text[:bar-1]; {
	case bytes.HasSuffix(before, []byte(":")):
		parent = len(before) - len(bytes.TrimLeft(before, " -"))
		if bytes.ContainsAny(before, "#'\"{}[]&*!|>?\t") || parent >= len(before)-1 {
			return literal{}, 0, false // quoted or odd keys, and what else may hide a header
		}
	case len(bytes.TrimLeft(before, " ")) == 1 && before[len(before)-1] == '-':
		parent = len(before) - 1
	default:
		return literal{}, 0, false
	}
	// Its content: the lines indented past parent, by as much as the first of them. Found
	// first, and its value built only when it is long enough to take out of the parse.
	indent := -1
	stop, lastContent := end, end
	trailing := 0 // empty lines since the last content line
	for next := end; next < len(src); {
		e := lineEnd(src, next)
		l := src[next:e]
		if e == len(src) && l[len(l)-1] != '\n' {
			return literal{}, 0, false // the last line has no newline: the parser's own case
		}
		body := l[:len(l)-1]
		if !printable(body) {
			return literal{}, 0, false // what the parser may refuse, it must see
		}
		spaces := len(body) - len(bytes.TrimLeft(body, " "))
		if spaces < len(body) && body[spaces] == '\t' && (indent < 0 || spaces < indent) {
			return literal{}, 0, false // a tab in the indentation
		}
		blank := spaces == len(body)
		switch {
		case indent < 0 && blank:
			if spaces > 0 {
				return literal{}, 0, false // leading empty lines with spaces: the parser's rules
			}
			trailing++
		case indent < 0:
			if spaces <= parent {
				return literal{}, 0, false // empty block
			}
			indent = spaces
			fallthrough
		case !blank && spaces >= indent, blank && spaces > indent:
			trailing = 0
			lastContent = e
		case blank:
			trailing++
		default:
			goto done // less indented: the block ended
		}
		stop = e
		next = e
	}
done:
	if indent < 0 || lastContent-end < minLiteral {
		return literal{}, 0, false
	}
	v := blockValue(src[end:lastContent], indent)
	switch chomp {
	case '-':
		v = v[:len(v)-1]
	case '+':
		v += strings.Repeat("\n", trailing)
	}
	return literal{column: bar + 1, value: v}, stop, true
}

// blockValue is the value of a literal block's content lines, found by literalAt: each
// line less its indent, an empty line (or one of spaces up to the indent) a newline.
func blockValue(lines []byte, indent int) string {
	var value strings.Builder
	value.Grow(len(lines))
	for len(lines) > 0 {
		e := bytes.IndexByte(lines, '\n') + 1 // literalAt saw a newline end every line
		body := lines[:e-1]
		if len(body) > indent {
			value.Write(body[indent:])
		}
		value.WriteByte('\n')
		lines = lines[e:]
	}
	return value.String()
}

// printable reports whether b is UTF-8 the parser reads as it is: tabs, and the
// characters YAML calls printable, with no carriage return or byte order mark (which it
// treats apart).
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || r == 0xFEFF || !(r == 0x85 || (r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000) {
			return false
		}
		i += size
	}
	return true
}
