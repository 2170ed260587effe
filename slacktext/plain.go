package slacktext

import "strings"

// Names looks up the names PlainText shows for user and channel IDs. A nil
// func, or "" (or only white space) from it, means the name is unknown.
type Names struct {
	User    func(id string) string // a user's display name
	Channel func(id string) string // a channel's name, without "#"
}

// PlainText turns Slack message text into the plain text the user typed:
// mentions <@U123> and <@U123|name> become @display-name (from names.User,
// else the label, else the id); <#C123|name> becomes #name (from
// names.Channel, else the label, else the id); <!here>, <!channel>,
// <!everyone> become @here...; <!subteam^S1|@team> its label; links
// <https://x|label> become "label (https://x)"; and the entities &lt; &gt;
// &amp; are decoded in one pass, so "&amp;lt;" becomes "&lt;", as typed. A
// "<" that does not open Slack markup is kept. PlainText does not fail.
func PlainText(s string, names Names) string {
	return render(s, names, false)
}

// render is PlainText; forSlug renders markup for a channel name instead
// (see SlugText).
func render(s string, names Names, forSlug bool) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexAny(s, "<&")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if s[0] == '&' {
			n := decodeEntity(&b, s)
			s = s[n:]
			continue
		}
		end := strings.IndexAny(s[1:], ">\n<")
		if end < 0 || s[1+end] != '>' {
			b.WriteByte('<')
			s = s[1:]
			continue
		}
		inner := s[1 : 1+end]
		if out, ok := markup(inner, names, forSlug); ok {
			b.WriteString(out)
			s = s[end+2:]
			continue
		}
		b.WriteByte('<')
		s = s[1:]
	}
	return b.String()
}

// markup renders the inside of one <...> Slack markup; false means it is
// not Slack markup (e.g. a literal "<script>"). forSlug renders a link as
// its label, else its host, and leaves out a user or channel whose name is
// unknown (no name, no label), rather than showing its id.
func markup(inner string, names Names, forSlug bool) (string, bool) {
	if inner == "" {
		return "", false
	}
	target, label, _ := strings.Cut(inner, "|")
	if strings.ContainsAny(target, " \t") {
		return "", false // Slack never puts white space there; "<!-- x -->" is text
	}
	label = Decode(label)
	switch inner[0] {
	case '@':
		id := target[1:]
		if id == "" {
			return "", false
		}
		if name := lookup(names.User, id); name != "" {
			return "@" + name, true
		}
		if label != "" {
			return "@" + strings.TrimPrefix(label, "@"), true
		}
		if forSlug {
			return "", true
		}
		return "@" + id, true
	case '#':
		if name := lookup(names.Channel, target[1:]); name != "" {
			return "#" + strings.TrimPrefix(name, "#"), true
		}
		if label != "" {
			return "#" + label, true
		}
		if forSlug {
			return "", true
		}
		return target, true
	case '!':
		if label != "" {
			return label, true
		}
		cmd, _, _ := strings.Cut(target[1:], "^")
		return "@" + cmd, true
	}
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "tel:") {
		target = Decode(target)
		if forSlug {
			return linkSlugText(target, label), true
		}
		if label == "" || label == target {
			return target, true
		}
		return label + " (" + target + ")", true
	}
	return "", false
}

// lookup returns the trimmed name fn gives id, or "" when fn is nil, id is
// empty or the name is blank.
func lookup(fn func(string) string, id string) string {
	if fn == nil || id == "" {
		return ""
	}
	return strings.TrimSpace(fn(id))
}
