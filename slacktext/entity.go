package slacktext

import "strings"

// entities are the only entities Slack writes in text: everything else
// that looks like one ("&copy;", "&#35;") is what the user typed.
var entities = [...]struct{ name, char string }{{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}

// Decode undoes the entities Slack puts in message and command text (&lt;
// &gt; &amp;) in one pass, so that "&amp;lt;" becomes "&lt;", as typed.
// Markup such as <@U123> is left as it is (see PlainText).
func Decode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+decodeEntity(&b, s[i:]):]
	}
	return b.String()
}

// decodeEntity writes the character of the Slack entity at the start of s
// (or "&" when s starts with no such entity) and returns the bytes consumed.
func decodeEntity(b *strings.Builder, s string) int {
	for _, e := range entities {
		if strings.HasPrefix(s, e.name) {
			b.WriteString(e.char)
			return len(e.name)
		}
	}
	b.WriteByte('&')
	return 1
}
