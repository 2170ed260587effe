package templates

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// EscapeMarkdown turns plain user text into markdown that renders as that
// text and nothing else, wherever it is placed on a line: in a heading, a
// paragraph, a list item or a table cell.
//
// Markdown punctuation (\ ` * _ [ ] | ~ $, and # where it could start or
// close a heading) is backslash-escaped; an underscore inside a word is left
// alone, since it cannot start emphasis there. < and > become HTML entities,
// and so does an & that would start an entity, so tags and entities show as
// typed. At the start of each line, the characters that open a block
// (- + = :, and the "1." or "1)" of an ordered list; a ":-" line would be a
// table's delimiter row) are escaped too, and leading white space, which
// could start a code block, is dropped. Lines are joined with "<br>", the
// only line break a table cell accepts; blank lines are dropped. Control
// characters are removed. A bare http(s) URL stays a link, written as an
// autolink <https://...> (see writeBareURL). EscapeMarkdown does not fail.
//
// Slack markup is not resolved here: NewData turns Slack text into plain
// text first (slacktext.PlainText), and Text escapes that.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	writeEscaped(&b, s, "<br>")
	return b.String()
}

// EscapeIndented is EscapeMarkdown for a list item or a paragraph whose
// continuation lines are indented by indent spaces: lines are joined by a
// hard line break (a backslash at the end of the line) and a new line
// starting with indent spaces, so that a multi-line text stays inside its
// list item and reads well in the markdown source. Use indent 2 for the text
// of a "- " list item, 4 for an item nested once, 0 for a paragraph. A
// negative indent counts as 0. EscapeIndented does not fail.
func EscapeIndented(s string, indent int) string {
	var b strings.Builder
	writeEscaped(&b, s, lineJoiner(indent))
	return b.String()
}

// lineJoiner returns the separator EscapeIndented puts between lines.
func lineJoiner(indent int) string {
	return "\\\n" + strings.Repeat(" ", max(indent, 0))
}

// writeEscaped writes the escaped form of s to b, its lines joined by sep.
func writeEscaped(b *strings.Builder, s, sep string) {
	b.Grow(len(s) + len(s)/8)
	first := true
	for len(s) > 0 {
		var line string
		if i := strings.IndexAny(s, "\r\n"); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		line = strings.TrimFunc(line, isSpaceOrControl)
		if line == "" {
			continue
		}
		if !first {
			b.WriteString(sep)
		}
		first = false
		writeEscapedLine(b, line)
	}
}

// isSpaceOrControl reports white space and control characters, which are
// trimmed from both ends of every line.
func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// writeEscapedLine writes one non-empty line, already trimmed, escaped.
func writeEscapedLine(b *strings.Builder, line string) {
	i := 0
	switch c := line[0]; {
	case c == '-' || c == '+' || c == '=' || c == ':':
		b.WriteByte('\\')
		b.WriteByte(c)
		i = 1
	case c >= '0' && c <= '9':
		j := 1
		for j < len(line) && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		if j < len(line) && (line[j] == '.' || line[j] == ')') {
			b.WriteString(line[:j])
			b.WriteByte('\\')
			b.WriteByte(line[j])
			i = j + 1
		}
	}
	for ; i < len(line); i++ {
		c := line[i]
		if c|0x20 == 'h' || c|0x20 == 'f' || c|0x20 == 'w' { // http, ftp, www
			if n := writeBareURL(b, line, i); n > 0 {
				i += n - 1
				continue
			}
		}
		switch c {
		case '\\', '`', '*', '[', ']', '|', '~', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '_':
			if !intraword(line, i) {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '#':
			if i == 0 || line[i-1] == ' ' || line[i-1] == '\t' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			if entityAt(line, i) {
				b.WriteString("&amp;")
			} else {
				b.WriteByte(c) // a lone & is text; left alone, URLs stay intact
			}
		case '\t':
			b.WriteByte(' ')
		default:
			if c < 0x20 || c == 0x7f {
				continue // control characters other than tab
			}
			b.WriteByte(c)
		}
	}
}

// writeBareURL handles a URL starting at line[i], if one does, and returns
// the bytes of line it consumed (0 when none starts there).
//
// GitHub-flavoured markdown links bare URLs, and its autolinker reads the
// source up to the next white space, backslashes and whatever the template
// puts after the text included: a backslash escape inside a URL would be
// swallowed into the link and the character it escaped set free
// (http://a/** *b* shows emphasis). So an http, https or ftp URL is written
// as a CommonMark autolink <http://...>, which ends where it says and inside
// which nothing is markup, with the characters that could end it or split a
// table cell percent-encoded. A "www." one is written as typed when it needs
// no escaping and white space follows it; otherwise its dot is escaped,
// which keeps it from being linked. Trailing punctuation is left out of the
// link, as GitHub does.
func writeBareURL(b *strings.Builder, line string, i int) int {
	rest := line[i:]
	scheme := 0
	for _, p := range [...]string{"https://", "http://", "ftp://", "www."} {
		if len(rest) >= len(p) && strings.EqualFold(rest[:len(p)], p) {
			scheme = len(p)
			break
		}
	}
	if scheme == 0 {
		return 0
	}
	end := strings.IndexAny(rest, " \t")
	if end < 0 {
		end = len(rest)
	}
	full := end
	for end > scheme {
		c := rest[end-1]
		if strings.IndexByte("?!.,:*_~'\"", c) >= 0 ||
			c == ')' && strings.Count(rest[:end], "(") < strings.Count(rest[:end], ")") {
			end--
			continue
		}
		break
	}
	if end == scheme {
		return 0 // nothing after the scheme: text
	}
	if rest[scheme-1] == '.' { // www.
		if end == full && end < len(rest) && !needsEscape(line, i, i+end) {
			b.WriteString(rest[:end])
			return end
		}
		b.WriteString(rest[:scheme-1])
		b.WriteString("\\.")
		return scheme
	}
	const hex = "0123456789ABCDEF"
	b.WriteByte('<')
	for k := 0; k < end; k++ {
		switch c := rest[k]; {
		case c == '<' || c == '>' || c == '|' || c == '\\':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('>')
	return end
}

// needsEscape reports whether writeEscapedLine would change any byte of
// line[i:j].
func needsEscape(line string, i, j int) bool {
	for k := i; k < j; k++ {
		switch c := line[k]; c {
		case '\\', '`', '*', '[', ']', '|', '~', '$', '<', '>':
			return true
		case '_':
			if !intraword(line, k) {
				return true
			}
		case '&':
			if entityAt(line, k) {
				return true
			}
		case '#':
			if k == 0 || line[k-1] == ' ' || line[k-1] == '\t' {
				return true
			}
		default:
			if c < 0x20 || c == 0x7f {
				return true
			}
		}
	}
	return false
}

// entityAt reports whether the "&" at i starts something a markdown reader
// would take for an entity or character reference: &name; &#35; &#x23;.
func entityAt(s string, i int) bool {
	j := i + 1
	if j < len(s) && s[j] == '#' {
		j++
	}
	k := j
	for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
		k++
	}
	return k > j && k < len(s) && s[k] == ';'
}

// intraword reports whether the byte at i sits between two letters or
// digits, where CommonMark does not let "_" open or close emphasis.
func intraword(s string, i int) bool {
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	next, _ := utf8.DecodeRuneInString(s[i+1:])
	return isWordRune(prev) && isWordRune(next)
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
