package wiring

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// path follows keys from n; nil when one is missing.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = yamlnode.Field(n, k)
	}
	return n
}

// scalar returns the value of a string-like scalar node, or "".
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == yamlnode.TagNull {
		return ""
	}
	if n.Tag == "" && (n.Value == "~" || n.Value == "null") {
		return ""
	}
	return n.Value
}

// items returns the entries of a sequence node (nil for anything else).
func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// setScalar makes n the plain string value v.
func setScalar(n *yaml.Node, v string) {
	n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, yamlnode.TagString, v, 0
}

// deleteKey removes key from mapping m and reports whether it was there.
func deleteKey(m *yaml.Node, key string) bool {
	if m == nil || m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}

// setKey sets key in mapping m to a plain string, adding it when missing.
func setKey(m *yaml.Node, key, value string) {
	if v := yamlnode.Field(m, key); v != nil {
		setScalar(v, value)
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: value})
}

// ensureSeq returns the sequence under key in m, making it when missing or null; nil when
// key holds something else.
func ensureSeq(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		v := m.Content[i+1]
		if v.Kind == yaml.SequenceNode {
			return v
		}
		if v.Kind == yaml.ScalarNode && scalar(v) == "" {
			v = &yaml.Node{Kind: yaml.SequenceNode, Tag: yamlnode.TagSeq}
			m.Content[i+1] = v
			return v
		}
		return nil
	}
	v := &yaml.Node{Kind: yaml.SequenceNode, Tag: yamlnode.TagSeq}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: yamlnode.TagString, Value: key}, v)
	return v
}

// maxShown bounds what a message shows of a value that came from the stream.
const maxShown = 80

// show quotes a value from the stream for a message: escaped, and cut to maxShown
// characters, so that nothing in it is echoed raw or at length.
func show(v string) string {
	if len(v) > maxShown {
		v = v[:maxShown] + "..."
	}
	return strconv.Quote(v)
}

// safe returns a name from the stream as it is when it is plain (letters, digits and
// "-._/:@", at most maxShown characters), else quoted and cut by show.
func safe(v string) string {
	if len(v) == 0 || len(v) > maxShown {
		return show(v)
	}
	for _, r := range v {
		plain := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._/:@", r)
		if !plain {
			return show(v)
		}
	}
	return v
}

// list joins at most five shown values and says how many more there are.
func list(vs []string) string {
	const most = 5
	if len(vs) <= most {
		return strings.Join(vs, ", ")
	}
	return strings.Join(vs[:most], ", ") + ", and " + strconv.Itoa(len(vs)-most) + " more"
}
