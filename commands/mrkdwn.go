package commands

import (
	"fmt"
	"strings"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// mention is the markup for user, or "_unassigned_" for a role nobody holds.
func mention(user string) string {
	if user == "" {
		return "_unassigned_"
	}
	return slacktext.Mention(user)
}

// channelLink is the markup for inc's channel, or a note while it is being
// created or when Slack refused to create it.
func channelLink(inc *incidentbot.Incident) string {
	if inc.ChannelID == "" && inc.ChannelRefused != "" {
		return "(no channel: Slack refused to create it)"
	}
	if inc.ChannelID == "" {
		return "(channel being created)"
	}
	return slacktext.ChannelLink(inc.ChannelID)
}

// headerText is the pinned message at the top of an incident channel. It is
// kept current as roles, severity and status change.
func headerText(inc *incidentbot.Incident) string {
	var b strings.Builder
	icon := ":rotating_light:"
	if inc.Resolved() {
		icon = ":white_check_mark:"
	}
	fmt.Fprintf(&b, "%s *%s: %s*\n", icon, inc.Key(), slacktext.Escape(inc.Title))
	fmt.Fprintf(&b, "*Severity:* %s   *Status:* %s   *Declared by:* %s\n", inc.Severity, inc.Status, mention(inc.Declarer))
	if inc.Description != "" {
		fmt.Fprintf(&b, "*Description:* %s\n", slacktext.Escape(inc.Description))
	}
	b.WriteString("*Roles:*")
	for i, r := range incidentbot.AllRoles() {
		sep := " "
		if i > 0 {
			sep = " · "
		}
		fmt.Fprintf(&b, "%s%s: %s", sep, r.Title(), mention(inc.Roles[r]))
	}
	b.WriteString("\n")
	if inc.Resolved() {
		fmt.Fprintf(&b, "Resolved at %s. Follow-up work continues here: `/incident action &lt;text&gt; @owner due:+7d`, `/incident actions`.\n", inc.ResolvedAt.UTC().Format("2006-01-02 15:04 UTC"))
	} else {
		b.WriteString("*How to use:* `/incident role commander me` · `/incident status identified &lt;what we know&gt;` · " +
			"`/incident hypothesis &lt;idea&gt;` · `/incident action &lt;text&gt; @owner due:+7d` · `/incident resolve &lt;summary&gt;` · `/incident help`\n")
	}
	b.WriteString("Everything said in this channel is recorded for the post-mortem. React with :pushpin: to mark a key event.")
	return b.String()
}

const helpText = "*incidentbot* — `/incident <command>`\n" +
	"• `open [sev1|sev2|sev3|sev4] <title>` — open an incident with its own channel (no arguments: a form); `open --private [sev…] <title>` — a private incident: a private channel, never announced, seen only by its members\n" +
	"• `role <commander|comms|scribe|ops> <@user|me>` — assign a role (`ic`/`lead` = commander)\n" +
	"• `status [investigating|identified|monitoring] <text>` — post a status update\n" +
	"• `severity <sev1..sev4>` — change the severity\n" +
	"• `hypothesis <text>` — record a hypothesis; `hypothesis confirm|reject H<n> [note]` — its outcome\n" +
	"• `action <text> [@owner] [due:YYYY-MM-DD|due:+Nd]` — record an action item; `action done A<n>` — close it; `action A<n> [@owner] [due:…]` — change its owner or due date; `action reopen A<n>` — reopen it; `actions` — list them\n" +
	"• `started <RFC3339 or HH:MM UTC>` — when the impact began\n" +
	"• `page [note]` — page the on-call through PagerDuty\n" +
	"• `snooze <duration>` — pause status-update reminders (at most 2h)\n" +
	"• `resolve [summary]` — resolve and draft the post-mortem\n" +
	"• `postmortem` — upload the current post-mortem draft\n" +
	"• `list` — open incidents · `help` — this text\n" +
	"Commands other than open, list and help act on the incident whose channel they are typed in, " +
	"or, typed anywhere else, on the incident named first: `resolve INC-7 <summary>`, `status INC-7 identified <text>`."
