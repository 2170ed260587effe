package slacktext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEscape checks that Escape's output can only carry the markup it means
// to keep: no "<!", every "<" the start of a user mention, channel link or
// web link that is closed by ">", and no broadcast word without the
// zero-width joiner.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{
		"", "plain", "<!channel>", "<!here|here> and <!subteam^S1>", "&lt;!channel&gt;", "&amp;lt;!here&amp;gt;",
		"<@U123>", "<@U123|bob>", "<@W1|x>", "<@u1>", "<#C123|general>", "<#C1>", "<#D1>", "<https://example.com|x>",
		"<http://a b>", "<https://x|<!here>>", "<@U1|<!channel>>", "<javascript:alert(1)|click>", "<mailto:x@y.z>",
		"@channel @Here @EVERYONE", "@channels @here_ @everyone1 @here's", "<<@U1>>", "<@U1><!subteam^S1>",
		"a < b && c > d", "R&amp;D &lt;b&gt;", "&lt;@U1&gt;", "&lt;https://x|&lt;!here&gt;&gt;", "@\u200dhere",
		"<https://x.io/a?b=1&c=2|docs>", "<@U1|", "<", ">", "&", "&amp;", "\xff<!", "@@here", "<@U1|@here>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if strings.Contains(out, "<!") {
			t.Fatalf("Escape(%q) = %q contains <!", s, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] != '<' {
				continue
			}
			end := strings.IndexByte(out[i:], '>')
			if end < 0 {
				t.Fatalf("Escape(%q) = %q: unclosed < at %d", s, out, i)
			}
			inner := out[i+1 : i+end]
			if strings.ContainsRune(inner, '<') || !allowedMarkup(inner) {
				t.Fatalf("Escape(%q) = %q: markup %q at %d", s, out, out[i:i+end+1], i)
			}
			i += end
		}
		if w := Broadcast(out); w != "" {
			t.Fatalf("Escape(%q) = %q: %q without a zero-width joiner", s, out, w)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, out)
		}
	})
}

// allowedMarkup reports whether the inside of <…> is a user mention
// (@U…, @W…), a channel link (#C…) or a web link, with an optional label.
func allowedMarkup(inner string) bool {
	target, _, _ := strings.Cut(inner, "|")
	upperID := func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !(s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasPrefix(target, "@U"), strings.HasPrefix(target, "@W"), strings.HasPrefix(target, "#C"):
		return upperID(target[2:])
	case strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "https://"):
		return !strings.ContainsAny(target, " \t\n\r")
	}
	return false
}

// FuzzPlainText checks that PlainText does not panic, keeps text without
// Slack markup or entities as it is, and keeps valid UTF-8 valid.
func FuzzPlainText(f *testing.F) {
	for _, s := range []string{
		"", "hello", "<@U1> look", "<@U9|ghost>", "<!subteam^S1|@sre>", "<#C1|general>", "<#C1>",
		"<https://example.com?a=1&amp;b=2|x>", "&lt;script&gt; &amp;lt;", "<<@U1>>", "<!-- c -->", "<@U1\n>", "<", "&",
	} {
		f.Add(s)
	}
	names := Names{
		User:    func(id string) string { return "name of " + id },
		Channel: func(id string) string { return strings.ToLower(id) },
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []Names{{}, names} {
			out := PlainText(s, n)
			if !strings.ContainsAny(s, "<&") && out != s {
				t.Fatalf("PlainText(%q) = %q changed text without markup", s, out)
			}
			if utf8.ValidString(s) && !utf8.ValidString(out) {
				t.Fatalf("PlainText(%q) = %q is not UTF-8", s, out)
			}
		}
	})
}
