package commands

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// invalid returns an EInvalid error whose message is what was wrong followed
// by the correct form of the command. String arguments (often the user's own
// text) and the usage are escaped for Slack, so that echoing a mistake can
// never produce <!here> or a disguised link.
func invalid(usage, format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = slacktext.Escape(s)
		}
	}
	msg := fmt.Sprintf(format, args...)
	if usage != "" {
		msg += "\nUsage: `" + slacktext.Escape(usage) + "`"
	}
	return &incidentbot.Error{Code: incidentbot.EInvalid, Message: msg}
}

// splitFirst splits s into its first word and the rest, both trimmed.
func splitFirst(s string) (first, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseDue parses a due date: due:YYYY-MM-DD or due:+Nd (N days from today in
// loc). The result is a civil date in incidentbot.DateLayout. Dates before
// today are refused.
func parseDue(s string, now time.Time, loc *time.Location) (string, error) {
	const usage = "due:YYYY-MM-DD or due:+Nd (for example due:+7d)"
	v, ok := cutPrefixFold(s, "due:")
	if !ok {
		return "", invalid("", "%q is not a due date: use %s", s, usage)
	}
	today := now.In(loc)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	if strings.HasPrefix(v, "+") {
		var n int
		var unit string
		if _, err := fmt.Sscanf(v, "+%d%s", &n, &unit); err != nil || n < 0 || n > 3650 || !strings.EqualFold(unit, "d") {
			return "", invalid("", "%q is not a due date: use %s", v, usage)
		}
		return today.AddDate(0, 0, n).Format(incidentbot.DateLayout), nil
	}
	d, err := time.ParseInLocation(incidentbot.DateLayout, v, loc)
	if err != nil {
		return "", invalid("", "%q is not a due date: use %s", v, usage)
	}
	if d.Before(today) {
		return "", invalid("", "the due date %s is in the past (today is %s in %s)", v, today.Format(incidentbot.DateLayout), loc)
	}
	return d.Format(incidentbot.DateLayout), nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// parseImpactStart parses an RFC 3339 time or HH:MM (UTC); HH:MM means the
// latest such UTC time that is not in the future. Future times are refused.
func parseImpactStart(s string, now time.Time) (time.Time, error) {
	const usage = "/incident started <RFC3339 time or HH:MM in UTC>"
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, invalid(usage, "Say when the impact started.")
	}
	now = now.UTC()
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		if t.After(now) {
			return time.Time{}, invalid(usage, "%s is in the future.", t.Format(time.RFC3339))
		}
		return t, nil
	}
	hm, err := time.Parse("15:04", strings.TrimSuffix(strings.TrimSuffix(s, " UTC"), "Z"))
	if err != nil {
		return time.Time{}, invalid(usage, "%q is neither an RFC 3339 time (2026-11-23T14:05:00Z) nor HH:MM.", s)
	}
	t := time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), 0, 0, time.UTC)
	if t.After(now) {
		t = t.AddDate(0, 0, -1)
	}
	return t, nil
}

// ChannelName returns the Slack channel name for incident id with title:
// "<prefix>-<id>-<slug>", lowercase, only a-z, 0-9, '-' and '_', at most 80
// characters (Slack's rules). The slug reads the title's markup as a person
// does (a link is its label or host, a mention the label) and drops
// diacritics (see slacktext.SlugText).
func ChannelName(prefix string, id int64, title string) string {
	return channelName(prefix, id, title, slacktext.Names{})
}

// PlainChannelName is the name without a slug, "<prefix>-<id>": what is
// tried when Slack refuses the name with the title in it.
func PlainChannelName(prefix string, id int64) string {
	return channelName(prefix, id, "", slacktext.Names{})
}

// channelName is ChannelName with mentions named from names.
func channelName(prefix string, id int64, title string, names slacktext.Names) string {
	p := truncateName(slacktext.Slug(prefix), MaxPrefix)
	if p == "" {
		p = "inc"
	}
	base := fmt.Sprintf("%s-%d", p, id)
	s := slacktext.SlugText(title, names)
	name := base
	if s != "" {
		name += "-" + s
	}
	return truncateName(name, 80)
}

// MaxPrefix is the longest channel prefix used, so that the incident
// number and some of the title always fit in Slack's 80 characters.
const MaxPrefix = 20

// withSuffix returns name with "-n" appended, still within 80 characters.
func withSuffix(name string, n int) string {
	sfx := fmt.Sprintf("-%d", n)
	return truncateName(name, 80-len(sfx)) + sfx
}

func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	return strings.TrimRight(name[:max], "-_")
}
