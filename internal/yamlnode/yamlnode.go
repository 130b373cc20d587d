// Package yamlnode provides the lookups in yaml.v3 node trees that the post-renderer, the
// chart's test copy and the release's chart edit share (kyaml's yaml.Node is the same
// type).
package yamlnode

import "go.yaml.in/yaml/v3"

// Field returns the value of key in the mapping m, or nil when m is not a mapping or has
// no such key.
func Field(m *yaml.Node, key string) *yaml.Node {
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
