package yamlnode

import (
	"bytes"
	"io"

	"go.yaml.in/yaml/v3"
)

// The tags of the YAML core schema that the post-renderer writes and checks.
const (
	TagNull   = "!!null"
	TagString = "!!str"
	TagInt    = "!!int"
	TagBool   = "!!bool"
	TagMap    = "!!map"
	TagSeq    = "!!seq"
)

// NewEncoder returns an encoder that writes as Kubernetes tools do (kustomize's kyaml,
// kubectl): two-space indentation, list entries not indented under their key.
func NewEncoder(w io.Writer) *yaml.Encoder {
	e := yaml.NewEncoder(w)
	e.SetIndent(2)
	e.CompactSeqIndent()
	return e
}

// Marshal encodes v as NewEncoder writes it.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := NewEncoder(&b)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Copy returns a deep copy of the tree under n.
func Copy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = Copy(k)
		}
	}
	return &c
}
