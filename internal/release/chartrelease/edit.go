package chartrelease

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// SetScalar returns src with the scalar at the mapping path (["bootstrap", "image",
// "digest"]) replaced by value, written in the scalar's own style (plain, "double" or
// 'single' quoted). Only that token changes: comments, order, indentation and the other
// values stay byte for byte, which an encode of the parsed tree would not keep. The
// scalar must sit on one line and value must need no escaping.
func SetScalar(src []byte, path []string, value string) ([]byte, error) {
	where := strings.Join(path, ".")
	if err := checkPlain(where, value); err != nil {
		return nil, err
	}
	node, err := lookup(src, path, where)
	if err != nil {
		return nil, err
	}
	out, err := replaceToken(src, node, node.Line, node.Column, value, where)
	if err != nil {
		return nil, err
	}
	return out, checkScalar(out, path, value)
}

// ImagesAnnotation is the Chart.yaml annotation by which Artifact Hub lists a chart's
// images: a literal block holding a YAML list of name and image.
const ImagesAnnotation = "artifacthub.io/images"

// SetImage returns src, a Chart.yaml, with the image of the entry called name in its
// ImagesAnnotation set to image. As with SetScalar, only that token changes: the block's
// other lines, and the file's comments, stay byte for byte.
func SetImage(src []byte, name, image string) ([]byte, error) {
	where := ImagesAnnotation + " " + name
	if err := checkPlain(where, image); err != nil {
		return nil, err
	}
	block, entry, err := imageEntry(src, name, where)
	if err != nil {
		return nil, err
	}
	// The block's content starts on the line after its indicator, indented as its first
	// line that is not blank; the entry's place in the content maps onto the file there.
	lines := bytes.SplitAfter(src, []byte("\n"))
	indent := -1
	for _, l := range lines[min(block.Line, len(lines)):] {
		if t := bytes.TrimLeft(l, " "); len(bytes.TrimSpace(t)) > 0 {
			indent = len(l) - len(t)
			break
		}
	}
	if indent < 0 {
		return nil, fmt.Errorf("set %s: the block has no content lines", where)
	}
	out, err := replaceToken(src, entry, block.Line+entry.Line, indent+entry.Column, image, where)
	if err != nil {
		return nil, err
	}
	if _, got, err := imageEntry(out, name, where); err != nil {
		return nil, fmt.Errorf("set %s: the edited file: %w", where, err)
	} else if got.Value != image {
		return nil, fmt.Errorf("set %s: the edited file reads %q, want %q", where, got.Value, image)
	}
	return out, nil
}

// imageEntry finds the ImagesAnnotation block of the Chart.yaml src and, in its list, the
// image of the one entry called name (its position is within the block's content).
func imageEntry(src []byte, name, where string) (block, image *yaml.Node, err error) {
	block, err = lookup(src, []string{"annotations", ImagesAnnotation}, where)
	if err != nil {
		return nil, nil, err
	}
	// Only a literal block keeps the file's lines as the value's, which SetImage maps
	// the entry's place through.
	if block.Kind != yaml.ScalarNode || block.Style != yaml.LiteralStyle {
		return nil, nil, fmt.Errorf("set %s: the annotation is not a literal block (%s: |)", where, ImagesAnnotation)
	}
	var list yaml.Node
	if err := yaml.Unmarshal([]byte(block.Value), &list); err != nil {
		return nil, nil, fmt.Errorf("set %s: the annotation is not a YAML list: %w", where, err)
	}
	if len(list.Content) != 1 || list.Content[0].Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("set %s: the annotation is not a YAML list of name and image", where)
	}
	for _, item := range list.Content[0].Content {
		if n := yamlnode.Field(item, "name"); n == nil || n.Value != name {
			continue
		}
		if image != nil {
			return nil, nil, fmt.Errorf("set %s: the annotation lists %s twice: keep one entry", where, name)
		}
		if image = yamlnode.Field(item, "image"); image == nil || image.Kind != yaml.ScalarNode {
			return nil, nil, fmt.Errorf("set %s: the entry has no image: give it one", where)
		}
	}
	if image == nil {
		return nil, nil, fmt.Errorf("set %s: the annotation has no entry of that name: add one (- name: %s, image: ...)", where, name)
	}
	return block, image, nil
}

// checkPlain refuses a value the token edits would have to escape.
func checkPlain(where, value string) error {
	if strings.ContainsAny(value, "\"'\\\n\r\t#") || strings.HasPrefix(value, " ") || strings.HasSuffix(value, " ") {
		return fmt.Errorf("set %s: the value %q would need escaping, which this edit does not write", where, value)
	}
	return nil
}

// lookup is the node at the mapping path of the YAML document src.
func lookup(src []byte, path []string, where string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("set %s: parse: %w", where, err)
	}
	node := &doc
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	for _, key := range path {
		node = yamlnode.Field(node, key)
		if node == nil {
			return nil, fmt.Errorf("set %s: no key %q", where, key)
		}
	}
	return node, nil
}

// replaceToken returns src with the one-line scalar node, which sits at line and column
// (1-based) of src, replaced by value in the node's own style.
func replaceToken(src []byte, node *yaml.Node, line, column int, value, where string) ([]byte, error) {
	if node.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("set %s: the value is not a scalar", where)
	}
	var token, replacement string
	switch node.Style {
	case 0:
		token, replacement = node.Value, value
	case yaml.DoubleQuotedStyle:
		token, replacement = `"`+node.Value+`"`, `"`+value+`"`
	case yaml.SingleQuotedStyle:
		token, replacement = `'`+node.Value+`'`, `'`+value+`'`
	default:
		return nil, fmt.Errorf("set %s: the value is a block or flow scalar; write it on one line, plain or quoted", where)
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	if line < 1 || line > len(lines) {
		return nil, fmt.Errorf("set %s: the parser placed it on line %d of %d", where, line, len(lines))
	}
	l := lines[line-1]
	start := column - 1 // the columns of these edits' values are bytes: ASCII keys
	if start < 0 || start > len(l) || !bytes.HasPrefix(l[start:], []byte(token)) {
		return nil, fmt.Errorf("set %s: line %d does not hold %s where the parser placed it (escapes or a multi-line value): write it as a one-line scalar", where, line, token)
	}
	edited := append(append(append([]byte{}, l[:start]...), replacement...), l[start+len(token):]...)
	var out bytes.Buffer
	for i, l := range lines {
		if i == line-1 {
			l = edited
		}
		out.Write(l)
	}
	return out.Bytes(), nil
}

// checkScalar reads the edit back: the path holds value.
func checkScalar(src []byte, path []string, value string) error {
	var tree map[string]any
	if err := yaml.Unmarshal(src, &tree); err != nil {
		return fmt.Errorf("set %s: the edited file does not parse: %w", strings.Join(path, "."), err)
	}
	var v any = tree
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return errors.New("set " + strings.Join(path, ".") + ": the edited file lost the path")
		}
		v = m[key]
	}
	if s := fmt.Sprint(v); s != value {
		return fmt.Errorf("set %s: the edited file reads %q, want %q", strings.Join(path, "."), s, value)
	}
	return nil
}
