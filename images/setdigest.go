package images

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/tracebloc/edge/postrender/pins"
)

// The lines of the list that SetDigest reads, compiled on first use: the post-renderer
// links this package for the list alone, and compiling them would cost its every start.
var (
	listRE  = lazyRE(`^images:\s*(\[\s*\])?\s*(#.*)?$`)
	entryRE = lazyRE(`^(\s*)-\s+name:\s*(\S+)\s*(#.*)?$`)
	keyRE   = lazyRE(`^(\s+)(tag|digest):\s*(\S*)(\s*#.*)?$`)
)

func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// entry is one "- name:" item of the list, by line numbers (-1: no such line).
type entry struct {
	name, tag, dash     string
	at, tagAt, digestAt int
	last                int // the entry's last line that is neither blank nor a comment
}

// SetDigest returns list, an image list in the format of images.yaml, with name pinned at
// tag (none: every tag) and digest. The release uses it to write the bootstrap's entry
// into the copy of images.yaml it builds from, and images/build for --pin. The entry
// edited is the one of name tagged tag, else the only one of name (which gets the new
// tag); without either, the entry is appended. Only the entry's lines change: comments
// and layout stay. The digest must be sha256:<64 lowercase hex>, not all zeros.
func SetDigest(list []byte, name, tag, digest string) ([]byte, error) {
	if err := pins.CheckDigest(digest); err != nil {
		return nil, fmt.Errorf("pin %s: %w: give the digest of the pushed image", name, err)
	}
	if name == "" || strings.ContainsAny(name, "@ \t") || strings.Contains(name[strings.LastIndexByte(name, '/')+1:], ":") {
		return nil, fmt.Errorf("pin %q: the name must be a repository without tag or digest, such as ghcr.io/tracebloc/edge-bootstrap", name)
	}
	lines := strings.Split(string(list), "\n")
	head, entries, err := scan(lines)
	if err != nil {
		return nil, err
	}
	if e, ok := choose(entries, name, tag); ok {
		lines, err = edit(lines, e, tag, digest)
	} else {
		lines = add(lines, head, entries, name, tag, digest)
	}
	if err != nil {
		return nil, err
	}
	out := []byte(strings.Join(lines, "\n"))
	if err := check(out, name, tag, digest); err != nil {
		return nil, err
	}
	return out, nil
}

// scan finds the line of the images key (-1 when there is none) and the list's entries.
func scan(lines []string) (head int, entries []entry, err error) {
	head = -1
	for i, line := range lines {
		if head < 0 {
			if listRE().MatchString(line) {
				head = i
			} else if strings.HasPrefix(line, "images:") {
				return 0, nil, fmt.Errorf("line %d: write the image list as one \"- name:\" item per image (or images: []), not %q", i+1, line)
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-") {
			break // the next top-level key
		}
		if m := entryRE().FindStringSubmatch(line); m != nil {
			entries = append(entries, entry{name: m[2], dash: m[1], at: i, tagAt: -1, digestAt: -1, last: i})
			continue
		}
		if len(entries) == 0 {
			return 0, nil, fmt.Errorf("line %d: %q is not part of a \"- name:\" item: start each entry with its name", i+1, line)
		}
		e := &entries[len(entries)-1]
		e.last = i
		if m := keyRE().FindStringSubmatch(line); m != nil {
			switch m[2] {
			case "tag":
				e.tag, e.tagAt = m[3], i
			case "digest":
				e.digestAt = i
			}
		}
	}
	return head, entries, nil
}

// choose picks the entry to edit: name's entry tagged tag, else name's only entry.
func choose(entries []entry, name, tag string) (entry, bool) {
	var named []entry
	for _, e := range entries {
		if e.name != name {
			continue
		}
		if e.tag == tag {
			return e, true
		}
		named = append(named, e)
	}
	if len(named) == 1 {
		return named[0], true
	}
	return entry{}, false
}

// edit rewrites the entry's digest and tag lines, adding or dropping the tag line.
func edit(lines []string, e entry, tag, digest string) ([]string, error) {
	if e.digestAt < 0 {
		return nil, fmt.Errorf("line %d: the entry for %s has no digest line: add `digest: sha256:...` below its name", e.at+1, e.name)
	}
	lines[e.digestAt] = keyRE().ReplaceAllString(lines[e.digestAt], "${1}digest: "+digest+"${4}")
	switch {
	case e.tagAt >= 0 && tag != "":
		lines[e.tagAt] = keyRE().ReplaceAllString(lines[e.tagAt], "${1}tag: "+tag+"${4}")
	case e.tagAt >= 0:
		lines = append(lines[:e.tagAt], lines[e.tagAt+1:]...)
	case tag != "":
		indent := keyRE().FindStringSubmatch(lines[e.digestAt])[1]
		lines = insert(lines, e.at+1, indent+"tag: "+tag)
	}
	return lines, nil
}

// add appends an entry after the list's last one, in its indentation; an empty list
// ("images: []", or no images key) becomes a block list.
func add(lines []string, head int, entries []entry, name, tag, digest string) []string {
	dash := ""
	if len(entries) > 0 {
		dash = entries[0].dash
	}
	item := []string{dash + "- name: " + name}
	if tag != "" {
		item = append(item, dash+"  tag: "+tag)
	}
	item = append(item, dash+"  digest: "+digest)
	switch {
	case len(entries) > 0:
		return insert(lines, entries[len(entries)-1].last+1, item...)
	case head >= 0:
		m := listRE().FindStringSubmatch(lines[head])
		lines[head] = strings.TrimRight("images: "+m[2], " ")
		return insert(lines, head+1, item...)
	default:
		at := len(lines)
		if lines[at-1] == "" {
			at-- // before the final newline
		}
		return insert(lines, at, append([]string{"images:"}, item...)...)
	}
}

func insert(lines []string, at int, add ...string) []string {
	out := make([]string, 0, len(lines)+len(add))
	out = append(out, lines[:at]...)
	out = append(out, add...)
	return append(out, lines[at:]...)
}

// check parses the edited list as the post-renderer does and makes sure it pins name at
// tag to digest, so that a layout the line edit misread never ships.
func check(list []byte, name, tag, digest string) error {
	set, err := pins.Parse(list)
	if err != nil {
		return fmt.Errorf("the image list after pinning %s: %w", name, err)
	}
	ref := name
	if tag != "" {
		ref += ":" + tag
	}
	if got, ok := set.Resolve(ref); !ok || got != name+"@"+digest {
		return fmt.Errorf("the image list after pinning %s resolves %s to %q, want %s@%s: write the entry by hand (images/README.md)", name, ref, got, name, digest)
	}
	return nil
}
