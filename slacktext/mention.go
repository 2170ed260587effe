package slacktext

import (
	"regexp"
	"strings"
)

// mentionRE matches one user mention, <@U123> or <@U123|name>; W is the
// prefix of Enterprise Grid user IDs.
var mentionRE = regexp.MustCompile(`<@([UW][A-Z0-9]+)(?:\|[^>]*)?>`)

// ParseMention accepts a whole word that is a user mention, <@U123> or
// <@U123|name> (surrounding white space aside), and returns its user ID,
// U123. It returns false for anything else: "@alice", a channel link, a
// special mention, or a mention followed by more text.
func ParseMention(s string) (id string, ok bool) {
	s = strings.TrimSpace(s)
	m := mentionRE.FindStringSubmatchIndex(s)
	if m == nil || m[0] != 0 || m[1] != len(s) {
		return "", false
	}
	return s[m[2]:m[3]], true
}

// Mentions returns the user IDs of every user mention in s, in order and
// with repeats; nil when there is none.
func Mentions(s string) []string {
	var ids []string
	for _, m := range mentionRE.FindAllStringSubmatch(s, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// Mention returns the markup that mentions user id: <@id>. Slack shows it
// as the user's current name and notifies them.
func Mention(id string) string { return "<@" + id + ">" }

// ChannelLink returns the markup that links channel id: <#id>. Slack shows
// it as the channel's current name.
func ChannelLink(id string) string { return "<#" + id + ">" }
