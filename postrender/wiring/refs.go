package wiring

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// ref is a reference from an object to a Secret: one key of it (secretKeyRef, a volume's
// items) or all of it (key ""; envFrom, a volume without items).
type ref struct {
	from   string // the object, for messages
	at     string // where in it, for messages
	secret string
	key    string
	node   *yaml.Node // the secretKeyRef mapping, for the rewrite
}

// secretRefs finds the references to Secrets anywhere in o: secretKeyRef (env), secretRef
// (envFrom), volumes' secret and projected secret sources. It walks the whole object, so
// that a pod spec in any kind is seen, not only in the kinds this package knows; a first
// walk that allocates nothing skips the objects without any.
func secretRefs(o object) []ref {
	if !mentionsSecret(o.node) {
		return nil
	}
	var refs []ref
	at := make([]step, 0, 16)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, v := n.Content[i].Value, n.Content[i+1]
				if v.Kind != yaml.MappingNode && v.Kind != yaml.SequenceNode {
					continue
				}
				refs = appendRef(refs, o, key, v, at)
				at = append(at, step{key: key})
				walk(v)
				at = at[:len(at)-1]
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				at = append(at, step{key: scalar(yamlnode.Field(c, "name")), item: true})
				walk(c)
				at = at[:len(at)-1]
			}
		}
	}
	walk(o.node)
	return refs
}

// step is one step of a path: a key, or a list item (named by its name field, if any).
type step struct {
	key  string
	item bool
}

// mentionsSecret reports whether a mapping key anywhere under n may make a reference.
func mentionsSecret(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "secretKeyRef", "secretRef", "secret":
				return true
			}
			if mentionsSecret(n.Content[i+1]) {
				return true
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if mentionsSecret(c) {
				return true
			}
		}
	}
	return false
}

// appendRef adds the reference that key: v makes, if it is one.
func appendRef(refs []ref, o object, key string, v *yaml.Node, at []step) []ref {
	where := func() string { return joinPath(append(at, step{key: key})) }
	switch key {
	case "secretKeyRef":
		if name := scalar(yamlnode.Field(v, "name")); name != "" {
			refs = append(refs, ref{from: o.String(), at: where(), secret: name, key: scalar(yamlnode.Field(v, "key")), node: v})
		}
	case "secretRef":
		if name := scalar(yamlnode.Field(v, "name")); name != "" {
			refs = append(refs, ref{from: o.String(), at: where(), secret: name})
		}
	case "secret":
		name := scalar(yamlnode.Field(v, "secretName"))
		if name == "" {
			name = scalar(yamlnode.Field(v, "name")) // a projected volume's source
		}
		if name == "" {
			return refs
		}
		keys := items(yamlnode.Field(v, "items"))
		if len(keys) == 0 {
			return append(refs, ref{from: o.String(), at: where(), secret: name})
		}
		for _, item := range keys {
			refs = append(refs, ref{from: o.String(), at: where(), secret: name, key: scalar(yamlnode.Field(item, "key"))})
		}
	}
	return refs
}

func joinPath(at []step) string {
	var b strings.Builder
	for _, p := range at {
		switch {
		case p.item && p.key == "":
			b.WriteString("[-]")
		case p.item:
			b.WriteString("[name=" + safe(p.key) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(safe(p.key))
		}
	}
	s := b.String()
	if len(s) > 2*maxShown {
		s = s[:2*maxShown] + "..."
	}
	return s
}

// readsCredential reports whether a reference takes CLIENT_ID or CLIENT_PASSWORD from a
// Secret by key.
func readsCredential(refs []ref) bool {
	for _, r := range refs {
		if r.node != nil && slices.Contains(credentialKeys, r.key) {
			return true
		}
	}
	return false
}

// takesCredential reports whether r takes the credential keys from Secret secret: by key,
// or all keys at once.
func (r ref) takesCredential(secret string) bool {
	return r.secret == secret && (r.key == "" || slices.Contains(credentialKeys, r.key))
}
