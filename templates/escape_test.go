package templates

import (
	"strings"
	"testing"
	"time"
)

func TestEscapeMarkdown(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "database is slow", "database is slow"},
		{"empty", "", ""},
		{"heading", "## heading", "\\## heading"},
		{"hash mid-line", "see issue #12 and C# code", "see issue \\#12 and C# code"},
		{"closing hashes", "title ##", "title \\##"},
		{"table", "| a | b |", "\\| a \\| b \\|"},
		{"html", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"entities", "&amp; &lt; &#35; &#x23; &copy;", "&amp;amp; &amp;lt; &amp;#35; &amp;#x23; &amp;copy;"},
		{"lone ampersands", "R&D a=1&b=2 & &; &x", "R&D a=1&b=2 & &; &x"},
		{"backticks", "run `rm -rf`", "run \\`rm -rf\\`"},
		{"fence", "```go\nx\n```", "\\`\\`\\`go<br>x<br>\\`\\`\\`"},
		{"tilde fence", "~~~\nx", "\\~\\~\\~<br>x"},
		{"emphasis", "*bold* _it_ **b**", "\\*bold\\* \\_it\\_ \\*\\*b\\*\\*"},
		{"intraword underscore", "snake_case_name", "snake_case_name"},
		{"underscore at word edge", "_private foo_", "\\_private foo\\_"},
		{"unicode intraword", "é_ü", "é_ü"},
		{"link", "[click](http://evil)", "\\[click\\](<http://evil>)"},
		{"image", "![x](y)", "!\\[x\\](y)"},
		{"quote", "> quoted", "&gt; quoted"},
		{"bullet", "- item", "\\- item"},
		{"plus bullet", "+ item", "\\+ item"},
		{"star bullet", "* item", "\\* item"},
		{"ordered", "1. first", "1\\. first"},
		{"ordered paren", "12) twelfth", "12\\) twelfth"},
		{"number not list", "1.5 seconds", "1\\.5 seconds"},
		{"number mid-line", "took 1. then 2.", "took 1. then 2."},
		{"setext", "title\n===\n---", "title<br>\\===<br>\\---"},
		{"thematic", "***", "\\*\\*\\*"},
		{"delimiter row", "a\n:-\n:--:", "a<br>\\:-<br>\\:--:"},
		{"indented code", "    code", "code"},
		{"newlines and blank lines", "a\n\n\nb\r\nc\rd", "a<br>b<br>c<br>d"},
		{"control chars", "a\x00b\x1bc\x7fd", "abcd"},
		{"tab", "a\tb", "a b"},
		{"backslash", `C:\path\`, `C:\\path\\`},
		{"dollar math", "$x$ costs $5", "\\$x\\$ costs \\$5"},
		{"br typed", "<br>", "&lt;br&gt;"},
		{"comment", "<!-- x -->", "&lt;!-- x --&gt;"},
		{"pipes in words", "a|b", "a\\|b"},
		{"trailing spaces", "a  \n  b  ", "a<br>b"},
		{"url", "see https://example.com/a_b?x=1&y=2 now", "see <https://example.com/a_b?x=1&y=2> now"},
		{"url with markup", "http://a/**x`|<>\\ *b*", "<http://a/**x`%7C%3C%3E%5C> \\*b\\*"},
		{"url trailing punctuation", "(see https://a.com/x_(y)).", "(see <https://a.com/x_(y)>)."},
		{"url at end", "go to http://a.com", "go to <http://a.com>"},
		{"scheme only", "http:// x", "http:// x"},
		{"www plain", "www.a.com is up", "www.a.com is up"},
		{"www at end", "see www.a.com", "see www\\.a.com"},
		{"www with markup", "www.a.com/*x* y", "www\\.a.com/\\*x\\* y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EscapeMarkdown(tc.in); got != tc.want {
				t.Errorf("EscapeMarkdown(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEscapeIndented(t *testing.T) {
	tests := []struct {
		in     string
		indent int
		want   string
	}{
		{"one line", 2, "one line"},
		{"a\nb", 2, "a\\\n  b"},
		{"a\n\n    ## b\n- c", 4, "a\\\n    \\## b\\\n    \\- c"},
		{"ends in backslash\\\nnext", 0, "ends in backslash\\\\\\\nnext"},
		{"a\nb", -3, "a\\\nb"},
	}
	for _, tc := range tests {
		if got := EscapeIndented(tc.in, tc.indent); got != tc.want {
			t.Errorf("EscapeIndented(%q, %d) = %q, want %q", tc.in, tc.indent, got, tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		a, b time.Time
		want string
	}{
		{t0, t0, "0s"},
		{t0, t0.Add(45 * time.Second), "45s"},
		{t0, t0.Add(12*time.Minute + 5*time.Second), "12m 5s"},
		{t0, t0.Add(26*time.Hour + 7*time.Second), "1d 2h 7s"},
		{time.Time{}, t0, "unknown"},
		{t0, time.Time{}, "unknown"},
		{t0.Add(time.Minute), t0, "unknown"},
	}
	for _, tc := range tests {
		if got := between(tc.a, tc.b).String(); got != tc.want {
			t.Errorf("between(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func FuzzEscapeMarkdown(f *testing.F) {
	for _, s := range []string{"## h", "| a |", "<script>", "```", "1. x", "a_b", "&amp;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{EscapeMarkdown(s), EscapeIndented(s, 2)} {
			for i := 0; i < len(out); i++ {
				switch out[i] {
				case '<':
					if hasPrefixAt(out, i, "<br>") {
						continue
					}
					// An autolink: a scheme, then nothing that ends it early
					// or splits a table cell.
					end := strings.IndexByte(out[i:], '>')
					link := strings.ToLower(out[i+1 : i+max(end, 1)])
					if end < 0 || !(strings.HasPrefix(link, "http://") || strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "ftp://")) ||
						strings.ContainsAny(link, "<|\\ \t\n") {
						t.Fatalf("raw < in %q (from %q)", out, s)
					}
					i += end
				case '|', '`', '*', '[', ']', '~':
					if !escapedAt(out, i) {
						t.Fatalf("unescaped %q at %d in %q (from %q)", out[i], i, out, s)
					}
				}
			}
		}
	})
}

func hasPrefixAt(s string, i int, p string) bool { return len(s)-i >= len(p) && s[i:i+len(p)] == p }

// escapedAt reports whether s[i] is preceded by an odd number of backslashes.
func escapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
