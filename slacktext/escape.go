package slacktext

import (
	"regexp"
	"strings"
)

// safeMarkupRE matches the Slack markup that user text may keep when the bot
// echoes it: user mentions, channel links and plain web links.
var safeMarkupRE = regexp.MustCompile(`^<(@[UW][A-Z0-9]+(\|[^<>]*)?|#C[A-Z0-9]+(\|[^<>]*)?|https?://[^<>|\s]+(\|[^<>]*)?)>`)

// broadcastRE matches the words Slack would turn into a notification for a
// whole channel or workspace.
var broadcastRE = regexp.MustCompile(`(?i)@(channel|here|everyone)\b`)

// Escape makes user text, as Slack sent it, safe to echo in a Slack mrkdwn
// message: entities are decoded, then &, < and > are entity-encoded except
// in user mentions, channel links and web links, so that text can never
// produce <!channel>, <!here>, <!subteam^...> or a disguised link; and
// "@channel"-style words get a zero-width joiner so they notify nobody.
// Escape does not fail.
func Escape(s string) string {
	s = Decode(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '&':
			b.WriteString("&amp;")
		case '>':
			b.WriteString("&gt;")
		case '<':
			if m := safeMarkupRE.FindString(s[i:]); m != "" {
				b.WriteString(m)
				i += len(m)
				continue
			}
			b.WriteString("&lt;")
		default:
			b.WriteByte(s[i])
		}
		i++
	}
	return broadcastRE.ReplaceAllString(b.String(), "@\u200d$1")
}
