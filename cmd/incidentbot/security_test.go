package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestForeignWorkspaceIgnored: events for another workspace (team_id) are
// acknowledged and not recorded.
func TestForeignWorkspaceIgnored(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev3 Mail delays", "inc-1-mail-delays")
	w.emu.EmitForeignEvent("T9999", map[string]any{
		"type": "message", "channel": c, "user": "U99999", "text": "from another workspace", "ts": "1795000000.000100", "channel_type": "channel",
	})
	w.emu.PostMessage(w.bob, c, "from this workspace")
	w.eventually("acked", func() bool { return w.emu.UnackedCount() == 0 })
	bot.stop(t)
	for _, e := range timeline(t, w.openDB(), 1) {
		if strings.Contains(e.Text, "another workspace") {
			t.Errorf("recorded an event of another workspace: %+v", e)
		}
	}
}

// broadcast matches what would notify a whole channel or workspace.
var broadcast = regexp.MustCompile(`(?i)<!(channel|here|everyone|subteam)|(^|[^\x{200d}])@(channel|here|everyone)\b`)

// TestNoBroadcastFromUserText: user text echoed by the bot (titles, status
// updates, hypotheses, action items, summaries, notes) never notifies a
// channel or a user group.
func TestNoBroadcastFromUserText(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	evil := "<!channel> <!here|here> <!everyone> <!subteam^S123|@oncall> @channel @here @everyone"
	// The channel name reads the markup as people do (issue 11, scope 9).
	c := w.openIncident(w.alice, "sev2 Outage "+evil, "inc-1-outage-channel-here-everyone-oncall-channel-here-everyone")
	w.cmd(w.alice, c, "status identified "+evil)
	w.cmd(w.alice, c, "hypothesis "+evil)
	w.cmd(w.alice, c, "hypothesis reject H1 "+evil)
	w.cmd(w.alice, c, "action "+evil+" <@"+w.bob+"> due:+3d")
	w.cmd(w.alice, c, "snooze 5m")
	w.cmd(w.alice, c, "resolve "+evil)
	w.waitText(c, "INC-1 resolved")
	w.eventually("acked", func() bool { return w.emu.UnackedCount() == 0 })
	checked := 0
	for _, ch := range []string{c, w.announce} {
		for _, m := range w.emu.Messages(ch) {
			if m.BotID == "" {
				continue
			}
			checked++
			if broadcast.MatchString(m.Text) {
				t.Errorf("bot message in %s can notify everyone: %q", ch, m.Text)
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d bot messages checked", checked)
	}
	bot.stop(t)
}

// TestAnyoneMayChangeAnIncident documents the access policy: anyone in the
// workspace may run every command on any incident (the person who sees the
// problem must be able to act during an outage); every change is attributed.
func TestAnyoneMayChangeAnIncident(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev3 Partner API errors", "inc-1-partner-api-errors")
	w.cmd(w.alice, c, "role commander me")
	if r := w.cmd(w.carol, c, "severity sev2"); !strings.Contains(r, "is now sev2") {
		t.Fatalf("severity by a bystander: %q", r)
	}
	if r := w.cmd(w.carol, c, "resolve partner fixed it"); !strings.Contains(r, "resolved") {
		t.Fatalf("resolve by a bystander: %q", r)
	}
	w.waitText(c, "*INC-1 resolved* by <@"+w.carol+">")
	bot.stop(t)
	for _, e := range timeline(t, w.openDB(), 1) {
		if (e.Kind == incidentbot.EventResolved || e.Kind == incidentbot.EventSeverity) && e.Actor != w.carol {
			t.Errorf("%s attributed to %q, want carol", e.Kind, e.Actor)
		}
	}
}
