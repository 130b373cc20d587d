// Package safetext provides the cleaning of untrusted text (what the backend or the cluster
// sends) before it reaches a terminal, a log line or a Kubernetes Event: Clean drops
// terminal escape sequences (ECMA-48 CSI, OSC, DCS and the other string controls, in their
// 7-bit and 8-bit forms), the remaining control characters, Unicode format characters
// (category Cf: bidi overrides, zero-width characters), line and paragraph separators and
// invalid UTF-8; Excerpt also cuts the result to a short, bounded length.
//
// Whitespace controls (tab, newline, carriage return, ...) become one space each, so that
// words stay apart and the text stays on one line.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultExcerpt is the length, in bytes, of an excerpt of backend text in an error: enough
// for a sentence of explanation, too short to carry a page of echoed input.
const DefaultExcerpt = 200

// Ellipsis marks an excerpt that was cut.
const Ellipsis = "..."

// Clean returns s without escape sequences, control and format characters, separators
// and invalid UTF-8 (see the package comment).
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b: // ESC
			i += escapeLen(s[i:])
			continue
		case r == 0x9b: // CSI, 8-bit form
			i += size + csiLen(s[i+size:])
			continue
		case r == 0x90 || r == 0x9d || r == 0x98 || r == 0x9e || r == 0x9f: // DCS, OSC, SOS, PM, APC
			i += size + stringLen(s[i+size:])
			continue
		case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
			b.WriteByte(' ')
		case drop(r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Excerpt is Clean(s) without surrounding spaces, cut to at most n bytes (DefaultExcerpt
// when n <= 0) by Truncate. Text that holds secrets is cleaned, redacted, then truncated,
// so that a cut never leaves half a secret behind.
func Excerpt(s string, n int) string {
	if n <= 0 {
		n = DefaultExcerpt
	}
	return Truncate(strings.TrimSpace(Clean(s)), n)
}

// Truncate cuts s to at most n bytes, ending in Ellipsis when it was cut, without splitting
// a UTF-8 character. It does not clean s.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= len(Ellipsis) {
		return Ellipsis[:max(n, 0)]
	}
	cut := n - len(Ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}

// isClean reports whether s is printable ASCII, the common case that needs no copy.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// drop reports whether r is a character that is never shown: invalid UTF-8 (and U+FFFD,
// its decoder's mark), controls, format characters, separators, private use, surrogates.
func drop(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs)
}

// escapeLen is the length of the escape sequence at the start of s (s[0] is ESC): ESC [ is
// a CSI sequence; ESC ] (OSC), ESC P (DCS), ESC X, ESC ^ and ESC _ open a control string;
// ESC followed by any other byte is a two-byte sequence.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiLen(s[2:])
	case ']', 'P', 'X', '^', '_':
		return 2 + stringLen(s[2:])
	}
	// A two-byte sequence (ESC c, ESC 7, ...); its second byte is never shown, whatever
	// it is, but a multi-byte character after ESC is kept whole.
	if s[1] >= utf8.RuneSelf {
		return 1
	}
	return 2
}

// csiLen is the length of a CSI sequence's body: parameter bytes 0x30-0x3F, intermediate
// bytes 0x20-0x2F, then one final byte 0x40-0x7E. A body cut short ends at the first byte
// that does not belong to it.
func csiLen(s string) int {
	i := 0
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// stringLen is the length of a control string's body up to and including its terminator:
// BEL, ESC \ or the 8-bit ST (U+009C). An unterminated string runs to the end of s, since
// a terminal would swallow it too.
func stringLen(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x07, r == 0x9c:
			return i + size
		case r == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		}
		i += size
	}
	return len(s)
}
