package safetext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain ASCII", in: "Not found.", want: "Not found."},
		{name: "unicode letters stay", in: "Zürich — 東京", want: "Zürich — 東京"},
		{name: "colour (CSI)", in: "\x1b[31mred\x1b[0m text", want: "red text"},
		{name: "cursor and erase", in: "a\x1b[2J\x1b[1;1Hb\x1b[?25l", want: "ab"},
		{name: "title (OSC) ended by BEL", in: "x\x1b]0;owned\x07y", want: "xy"},
		{name: "hyperlink (OSC 8) ended by ST", in: "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", want: "click"},
		{name: "unterminated OSC swallows the rest", in: "ok\x1b]0;never ends", want: "ok"},
		{name: "DCS", in: "a\x1bPq#0;2;0;0;0\x1b\\b", want: "ab"},
		{name: "two-byte escape", in: "a\x1bcb\x1b7c", want: "abc"},
		{name: "lone ESC at the end", in: "a\x1b", want: "a"},
		{name: "8-bit CSI", in: "a\u009b31mb", want: "ab"},
		{name: "8-bit OSC ended by 8-bit ST", in: "a\u009d0;t\u009cb", want: "ab"},
		{name: "raw C1 byte (invalid UTF-8)", in: "a\x9b31mb", want: "a31mb"},
		{name: "whitespace controls become spaces", in: "line1\nline2\r\n\tx", want: "line1 line2   x"},
		{name: "other controls dropped", in: "a\x00b\x07c\x7fd\u0085e", want: "abcde"},
		{name: "bidi override", in: "user\u202Egnp.exe", want: "usergnp.exe"},
		{name: "bidi isolates and marks", in: "\u2066a\u2069\u200Eb\u200F", want: "ab"},
		{name: "zero-width characters", in: "tra\u200Bce\u200Cbl\u200Doc\u2060k\uFEFF", want: "traceblock"},
		{name: "line and paragraph separators", in: "a\u2028b\u2029c", want: "abc"},
		{name: "invalid UTF-8", in: "a\xff\xfeb\xc3", want: "ab"},
		{name: "replacement character", in: "a\uFFFDb", want: "ab"},
		{name: "private use", in: "a\uE000b", want: "ab"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "  Not found. ", n: 20, want: "Not found."},
		{name: "cut", in: "abcdefghij", n: 8, want: "abcde..."},
		{name: "exactly n", in: "abcdefgh", n: 8, want: "abcdefgh"},
		{name: "no split character", in: "aaaaééé", n: 8, want: "aaaa..."},
		{name: "cleaned before the cut", in: "\x1b[31m\x1b[31m\x1b[31mabc", n: 3, want: "abc"},
		{name: "default length", in: strings.Repeat("x", 500), n: 0, want: strings.Repeat("x", DefaultExcerpt-3) + "..."},
		{name: "tiny n", in: "abcdef", n: 2, want: ".."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Excerpt(tt.in, tt.n); got != tt.want {
				t.Errorf("Excerpt(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "abc", n: 5, want: "abc"},
		{name: "exact", in: "abcde", n: 5, want: "abcde"},
		{name: "cut", in: "abcdefgh", n: 6, want: "abc..."},
		{name: "no split rune", in: "ab€€", n: 7, want: "ab..."},
		{name: "no room for more than the ellipsis", in: "abcdefgh", n: 3, want: "..."},
		{name: "zero", in: "abc", n: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.in, tt.n)
			if got != tt.want || !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

// FuzzClean: whatever comes in, what goes out is valid UTF-8 without a single character a
// terminal acts on or a reader cannot see, cleaning twice changes nothing, and an excerpt
// keeps its bound.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred", "\x1b]0;t\x07", "\u202e\u200b", "\xff\x9b1m", "a\nb", "\x1bP\x1b\\", "\u009d\u009c"} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Clean(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%q) = %q, not valid UTF-8", s, got)
		}
		for _, r := range got {
			if r != ' ' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || r == utf8.RuneError) {
				t.Fatalf("Clean(%q) = %q, keeps %U", s, got, r)
			}
		}
		if again := Clean(got); again != got {
			t.Fatalf("Clean(Clean(%q)) = %q, want %q", s, again, got)
		}
		n = n%1000 + 1
		if n < 1 {
			n += 1000
		}
		if e := Excerpt(s, n); len(e) > n || !utf8.ValidString(e) {
			t.Fatalf("Excerpt(%q, %d) = %q, longer than %d bytes or not UTF-8", s, n, e, n)
		}
	})
}
