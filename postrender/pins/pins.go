// Package pins provides the image digest pins of the post-renderer: a list of image names
// with the digest each must run at, and the rewrite of an image reference to its pinned
// digest reference.
//
// The list is YAML, the format of images/ in this repository:
//
//	images:
//	- name: ghcr.io/tracebloc/edge-bootstrap
//	  digest: sha256:0123…
//	  tag: v0.4.0          # optional: pin only references with this tag
//
// Names are compared as registries do: "tracebloc/jobs-manager",
// "docker.io/tracebloc/jobs-manager" and "index.docker.io/tracebloc/jobs-manager" are the
// same image. Every digest must be one an image has: the all-zero digest, which once stood
// for "not known yet", is refused, since an image the list cannot pin is left out of it.
package pins

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pin is one entry of the list.
type Pin struct {
	Name   string `yaml:"name"`
	Digest string `yaml:"digest"`
	Tag    string `yaml:"tag,omitempty"`
}

// Set is a parsed pin list; the zero Set pins nothing.
type Set struct {
	byName map[string][]Pin
}

// ErrZeroDigest says a digest is all zeros: no image has it, so it pins nothing and
// stands for a digest nobody looked up.
var ErrZeroDigest = errors.New("the all-zero digest is no image's")

// CheckDigest reports whether d can be a pin's digest: sha256: and 64 lowercase hex
// digits, not all zeros (ErrZeroDigest).
func CheckDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d)
	}
	if strings.Trim(hex, "0") == "" {
		return fmt.Errorf("digest %s: %w", d, ErrZeroDigest)
	}
	return nil
}

// Parse reads a pin list. Every entry needs a name and a sha256 digest.
func Parse(data []byte) (Set, error) {
	var file struct {
		Images []Pin `yaml:"images"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Set{}, fmt.Errorf("read the image list: %w", err)
	}
	s := Set{byName: make(map[string][]Pin, len(file.Images))}
	for i, p := range file.Images {
		if p.Name == "" {
			return Set{}, fmt.Errorf("image list entry %d has no name: give each entry name and digest", i+1)
		}
		if err := CheckDigest(p.Digest); errors.Is(err, ErrZeroDigest) {
			return Set{}, fmt.Errorf("image list entry %d (%s) has the all-zero digest, which no image has: remove the entry (the image then runs as the chart names it) or write the image's real digest", i+1, entryName(p))
		} else if err != nil {
			return Set{}, fmt.Errorf("image list entry %d (%s): %w", i+1, entryName(p), err)
		}
		key := normalize(p.Name)
		s.byName[key] = append(s.byName[key], p)
	}
	return s, nil
}

// Len is the number of pins.
func (s Set) Len() int {
	n := 0
	for _, ps := range s.byName {
		n += len(ps)
	}
	return n
}

// entryName is an entry as a person names it: name:tag, or the name alone.
func entryName(p Pin) string {
	if p.Tag == "" {
		return p.Name
	}
	return p.Name + ":" + p.Tag
}

// Resolve returns the digest reference for image and true when a pin applies. A reference
// that already carries a digest is left as written: an explicit digest is the operator's
// choice. A pin with a tag applies only to references with that tag ("latest" when none).
func (s Set) Resolve(image string) (string, bool) {
	if len(s.byName) == 0 || strings.Contains(image, "@") {
		return "", false
	}
	name, tag := splitTag(image)
	for _, p := range s.byName[normalize(name)] {
		if p.Tag != "" && p.Tag != tag {
			continue
		}
		return name + "@" + p.Digest, true
	}
	return "", false
}

// splitTag cuts "name:tag" into name and tag ("latest" when there is none); a colon before
// the last slash belongs to a registry port.
func splitTag(ref string) (name, tag string) {
	slash := strings.LastIndexByte(ref, '/')
	if colon := strings.LastIndexByte(ref, ':'); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

// normalize spells a repository name the way registries resolve it.
func normalize(name string) string {
	first, rest, found := strings.Cut(name, "/")
	if !found {
		return "docker.io/library/" + name
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + name
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		first = "docker.io"
	}
	if first == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return first + "/" + rest
}
