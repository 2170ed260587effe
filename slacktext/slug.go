package slacktext

import "strings"

// Slug lowercases s and turns every run of characters other than a-z, 0-9
// and '_' into one '-', without a leading or trailing '-': what is left may
// stand in a Slack channel name. It does not decode entities (call Decode
// first for text as Slack sent it) and does not limit the length; "" when
// nothing is left.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}
