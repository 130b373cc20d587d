package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

var (
	entryRE  = regexp.MustCompile(`^(\s*)-\s+name:\s*(\S+)\s*(#.*)?$`)
	keyRE    = regexp.MustCompile(`^(\s+)(tag|digest):\s*(\S*)(\s*#.*)?$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// pinDigest rewrites, in the image list at file, the digest (and the tag, when the entry
// has one) of the entry for name. The list keeps its comments and layout: only those
// lines change. With several entries for name, the one tagged version is chosen.
func pinDigest(file, name, version, digest string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read image list %s: %w", file, err)
	}
	out, err := setDigest(string(data), name, version, digest)
	if err != nil {
		return fmt.Errorf("pin %s in %s: %w", name, file, err)
	}
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		return fmt.Errorf("write image list %s: %w", file, err)
	}
	return nil
}

// entry is one "- name:" item of the list: the line numbers of its keys.
type entry struct {
	name            string
	tag             string
	tagLine, digest int
}

func setDigest(list, name, version, digest string) (string, error) {
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("digest %q is not sha256:<64 hex>", digest)
	}
	lines := strings.Split(list, "\n")
	var entries []entry
	for i, line := range lines {
		if m := entryRE.FindStringSubmatch(line); m != nil {
			entries = append(entries, entry{name: m[2], tagLine: -1, digest: -1})
			continue
		}
		if len(entries) == 0 {
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			e := &entries[len(entries)-1]
			switch m[2] {
			case "tag":
				e.tag, e.tagLine = m[3], i
			case "digest":
				e.digest = i
			}
		}
	}
	var matches []entry
	for _, e := range entries {
		if e.name == name {
			matches = append(matches, e)
		}
	}
	if len(matches) > 1 {
		var tagged []entry
		for _, e := range matches {
			if e.tag == version {
				tagged = append(tagged, e)
			}
		}
		matches = tagged
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("want exactly one entry named %s (tagged %s when there are several), found %d: add one with name, tag and digest", name, version, len(matches))
	}
	e := matches[0]
	if e.digest < 0 {
		return "", fmt.Errorf("the entry for %s has no digest line: add `digest: sha256:...`", name)
	}
	lines[e.digest] = keyRE.ReplaceAllString(lines[e.digest], "${1}digest: "+digest+"${4}")
	if e.tagLine >= 0 {
		lines[e.tagLine] = keyRE.ReplaceAllString(lines[e.tagLine], "${1}tag: "+version+"${4}")
	}
	return strings.Join(lines, "\n"), nil
}
