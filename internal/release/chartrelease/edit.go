package chartrelease

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SetScalar returns src with the scalar at the mapping path (["bootstrap", "image",
// "digest"]) replaced by value, written in the scalar's own style (plain, "double" or
// 'single' quoted). Only that token changes: comments, order, indentation and the other
// values stay byte for byte, which an encode of the parsed tree would not keep. The
// scalar must sit on one line and value must need no escaping.
func SetScalar(src []byte, path []string, value string) ([]byte, error) {
	where := strings.Join(path, ".")
	if strings.ContainsAny(value, "\"'\\\n\r\t#") || strings.HasPrefix(value, " ") || strings.HasSuffix(value, " ") {
		return nil, fmt.Errorf("set %s: the value %q would need escaping, which this edit does not write", where, value)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("set %s: parse: %w", where, err)
	}
	node := &doc
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	for _, key := range path {
		node = mappingValue(node, key)
		if node == nil {
			return nil, fmt.Errorf("set %s: no key %q", where, key)
		}
	}
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
	if node.Line < 1 || node.Line > len(lines) {
		return nil, fmt.Errorf("set %s: the parser placed it on line %d of %d", where, node.Line, len(lines))
	}
	line := lines[node.Line-1]
	start := node.Column - 1 // the columns of this edit's values are bytes: ASCII keys
	if start < 0 || !bytes.HasPrefix(line[start:], []byte(token)) {
		return nil, fmt.Errorf("set %s: line %d does not hold %s where the parser placed it (escapes or a multi-line value): write it as a one-line scalar", where, node.Line, token)
	}
	edited := append(append(append([]byte{}, line[:start]...), replacement...), line[start+len(token):]...)
	var out bytes.Buffer
	for i, l := range lines {
		if i == node.Line-1 {
			l = edited
		}
		out.Write(l)
	}
	return out.Bytes(), checkScalar(out.Bytes(), path, value)
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

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
