package commands

import (
	"fmt"
	"strings"

	"github.com/incidentbot/incidentbot"
)

// privateFlag strips a leading --private from args (any case; also as
// "—private" or "–private", which Slack clients with smart punctuation
// make of "--") and reports whether it was there.
func privateFlag(args string) (rest string, private bool) {
	first, after := splitFirst(args)
	switch strings.ToLower(first) {
	case "--private", "—private", "–private":
		return after, true
	}
	return strings.TrimSpace(args), false
}

// privateAlert is the PagerDuty alert of a trigger action of a private
// incident: its key, "private" and the severity, and the channel's link,
// which only its members can open.
func (s *Service) privateAlert(inc *incidentbot.Incident, a incidentbot.PagerAction) incidentbot.Alert {
	summary := fmt.Sprintf("%s (private, %s)", inc.Key(), a.Severity)
	details := map[string]string{"incident": inc.Key(), "severity": a.Severity.String(), "private": "true"}
	alert := incidentbot.Alert{DedupKey: pagerKey(inc, a), Summary: summary, Severity: a.Severity, Component: "incident", Details: details}
	if inc.ChannelID != "" && s.deps.ChannelURL != nil {
		if link := s.deps.ChannelURL(inc.ChannelID); link != "" {
			details["channel_url"] = link
			alert.Links = []incidentbot.AlertLink{{Href: link, Text: "Incident channel in Slack (private)"}}
		}
	}
	return alert
}
