package bot

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/slacktext"
)

// App Home: when a user opens the bot's Home tab (app_home_opened, tab
// "home"), the event is acknowledged at once and then their tab is
// published (views.publish) from commands.Service.Home: the open incidents
// they may see, their roles, their open action items, overdue first. It is
// built afresh each time it is opened.

// homeEvents are the Events API subscriptions handled here.
var homeEvents = []string{"app_home_opened"}

// onHome handles app_home_opened and reports whether the event was one.
// Nothing is recorded: the event is acknowledged first, and the tab
// published after.
func (b *Bot) onHome(env *envelope, eae slackevents.EventsAPIEvent) bool {
	ev, ok := eae.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok {
		return false
	}
	b.ack(env, nil)
	if ev.Tab != "home" || ev.User == "" || ev.User == b.botUserID {
		return true
	}
	log := env.log().WithField("user", ev.User)
	b.background(noticeTimeout, func(ctx context.Context) {
		if err := b.publishHome(ctx, ev.User); err != nil {
			log.WithError(err).Warn("could not publish the App Home")
		}
	})
	return true
}

// publishHome publishes user's Home tab. It fails when the store cannot be
// read or Slack refuses the view.
func (b *Bot) publishHome(ctx context.Context, user string) error {
	data, err := b.cmds.Home(ctx, user)
	if err != nil {
		return fmt.Errorf("publish the home of %s: %w", user, err)
	}
	req := slack.PublishViewContextRequest{UserID: user, View: homeView(data)}
	if _, err := b.api.PublishViewContext(ctx, req); err != nil {
		return fmt.Errorf("publish the home of %s: %w", user, b.slack.err("views.publish", err))
	}
	return nil
}

// Home tab limits: Slack takes at most 100 blocks in a view and 3000
// characters in a section's text.
const (
	homeMaxIncidents = 40
	homeMaxLines     = 60 // roles, action items
	sectionMax       = 3000
)

// homeView renders a user's Home tab.
func homeView(d commands.HomeData) slack.HomeTabViewRequest {
	var blocks []slack.Block
	header := func(s string) {
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, s, false, false)))
	}
	header("Open incidents")
	if len(d.Incidents) == 0 {
		blocks = append(blocks, section("No open incidents. Open one from any channel with `/incident open [sev1..sev4] <title>` "+
			"(`/incident open --private …` for a security or HR incident), or `/incident open` for a form."))
	}
	for i, inc := range d.Incidents {
		if i == homeMaxIncidents {
			blocks = append(blocks, section(fmt.Sprintf("…and %d more: `/incident list` shows them all.", len(d.Incidents)-i)))
			break
		}
		blocks = append(blocks, section(homeIncident(inc)))
	}

	blocks = append(blocks, slack.NewDividerBlock())
	header("Your roles")
	var lines []string
	for i, r := range d.Roles {
		if i == homeMaxLines {
			lines = append(lines, fmt.Sprintf("…and %d more.", len(d.Roles)-i))
			break
		}
		lines = append(lines, fmt.Sprintf("• *%s* of *%s* — %s", r.Role.Title(), r.Incident.Key(), homeChannel(r.Incident)))
	}
	if len(lines) == 0 {
		lines = []string{"You hold no role in an open incident. In an incident channel, take one with `/incident role commander me`."}
	}
	blocks = append(blocks, sections(lines)...)

	blocks = append(blocks, slack.NewDividerBlock())
	header("Your action items")
	lines = nil
	for i, a := range d.Actions {
		if i == homeMaxLines {
			lines = append(lines, fmt.Sprintf("…and %d more: `/incident actions` outside an incident channel lists them all.", len(d.Actions)-i))
			break
		}
		due := "no due date"
		if a.Item.Due != "" {
			due = "due " + a.Item.Due
		}
		if a.Overdue {
			due = ":warning: *overdue* (" + due + ")"
		}
		lines = append(lines, fmt.Sprintf("• *%s %s* %s — %s — %s%s", a.Incident.Key(), a.Item.Key(), slacktext.Escape(a.Item.Text), due, homeChannel(a.Incident), a.IssueLink()))
	}
	if len(lines) == 0 {
		lines = []string{"No open action items. Items given to you with `/incident action <text> @you due:+7d` show up here; " +
			"close one with `/incident action done A<n>` in its incident's channel."}
	}
	blocks = append(blocks, sections(lines)...)
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// homeIncident is one incident of the Home tab: id, severity, status,
// title, commander and channel link.
func homeIncident(inc *incidentbot.Incident) string {
	lock := ""
	if inc.Private {
		lock = " :lock: private"
	}
	commander := "_no commander yet_"
	if c := inc.RoleHolder(incidentbot.RoleCommander); c != "" {
		commander = slacktext.Mention(c)
	}
	s := fmt.Sprintf("*%s* · %s · %s%s\n%s\nCommander: %s · %s",
		inc.Key(), inc.Severity, inc.Status, lock, slacktext.Escape(inc.Title), commander, homeChannel(inc))
	return truncate(s, sectionMax)
}

// homeChannel links an incident's channel, or says why there is none.
func homeChannel(inc *incidentbot.Incident) string {
	switch {
	case inc.ChannelID != "":
		return slacktext.ChannelLink(inc.ChannelID)
	case inc.ChannelRefused != "":
		return "(no channel: Slack refused to create it)"
	}
	return "(channel being created)"
}

// section is a section block of mrkdwn text.
func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// sections puts lines into as few section blocks as Slack's length limit
// allows.
func sections(lines []string) []slack.Block {
	var out []slack.Block
	var b strings.Builder
	for _, l := range lines {
		l = truncate(l, sectionMax)
		if b.Len() > 0 && b.Len()+1+len(l) > sectionMax {
			out = append(out, section(b.String()))
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	if b.Len() > 0 {
		out = append(out, section(b.String()))
	}
	return out
}

// truncate shortens s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
