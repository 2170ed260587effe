package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestIncidentLifecycle runs a whole incident through the real bot, the
// real slack-go client and the Slack emulator over loopback, then reopens
// the database and finds everything there.
func TestIncidentLifecycle(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)

	reply := w.cmd(w.alice, w.general, "open sev2 Checkout latency spike")
	if !strings.Contains(reply, "INC-1") {
		t.Fatalf("open reply = %q", reply)
	}
	var ch slackemu.Channel
	w.eventually("the incident channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-checkout-latency-spike")
		return ok && len(ch.Pins) == 1 && contains(ch.Members, w.alice)
	})
	w.waitText(ch.ID, "*INC-1: Checkout latency spike*")
	w.waitText(w.announce, "INC-1")

	// Roles, status, severity.
	w.cmd(w.alice, ch.ID, "role commander me")
	w.cmd(w.alice, ch.ID, "role COMMS <@"+w.bob+"|bob>")
	w.eventually("bob invited", func() bool { c, _ := w.emu.Channel(ch.ID); return contains(c.Members, w.bob) })
	w.cmd(w.bob, ch.ID, "status identified Connection pool exhausted on db-3")
	w.waitText(w.announce, "Connection pool exhausted")
	w.cmd(w.alice, ch.ID, "severity sev1")
	w.waitText(ch.ID, "Severity raised from sev2 to *sev1*")

	// Hypotheses, confirmed and rejected.
	if r := w.cmd(w.carol, ch.ID, "hypothesis Connection leak in checkout v2.3"); !strings.Contains(r, "H1") {
		t.Fatalf("hypothesis reply = %q", r)
	}
	w.cmd(w.bob, ch.ID, "hypothesis Bad deploy of the payment service")
	w.cmd(w.alice, ch.ID, "hypothesis confirm h1 leak found in the retry path")
	w.cmd(w.alice, ch.ID, "hypothesis reject H2 deploy was clean")

	// Action items.
	if r := w.cmd(w.alice, ch.ID, "action Add an alarm on pool saturation <@"+w.bob+"> due:+7d"); !strings.Contains(r, "A1") {
		t.Fatalf("action reply = %q", r)
	}
	if r := w.cmd(w.alice, ch.ID, "action Write the db-3 runbook"); !strings.Contains(r, "no owner and no due date") {
		t.Fatalf("action without owner reply = %q", r)
	}
	w.cmd(w.carol, ch.ID, "action done A2")
	if r := w.cmd(w.carol, ch.ID, "actions"); !strings.Contains(r, "A1") || !strings.Contains(r, "[done]") {
		t.Fatalf("actions = %q", r)
	}
	w.cmd(w.alice, ch.ID, "started "+time.Now().UTC().Add(-20*time.Minute).Format(time.RFC3339))

	// Conversation: message, thread reply, edit, delete, file, pin, :pushpin:.
	m1 := w.emu.PostMessage(w.bob, ch.ID, "seeing 500s on /checkout since 10:02")
	r1 := w.emu.PostReply(w.carol, ch.ID, m1, "same on the EU cluster")
	w.emu.EditMessage(w.bob, ch.ID, m1, "seeing 500s on /checkout since 10:01")
	r2 := w.emu.PostReply(w.carol, ch.ID, m1, "wrong channel, sorry")
	w.emu.DeleteMessage(ch.ID, r2)
	w.emu.ShareFile(w.alice, ch.ID, "pool-graph.png", "pool saturation")
	w.emu.AddReaction(w.alice, ch.ID, m1, "pushpin")
	w.emu.AddReaction(w.alice, ch.ID, m1, "eyes") // not recorded
	w.emu.PinMessage(w.bob, ch.ID, r1)
	// A message outside any incident channel is not recorded.
	w.emu.PostMessage(w.bob, w.general, "lunch?")

	w.eventually("all envelopes acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	// Slack redelivers an event it already delivered: stored once.
	for _, id := range w.emu.EventIDs(ch.ID) {
		w.emu.Redeliver(id)
	}
	w.eventually("redeliveries acknowledged", func() bool { return w.emu.UnackedCount() == 0 })

	if r := w.cmd(w.alice, ch.ID, "resolve Pool size raised, leak fixed in v2.3.1"); !strings.Contains(r, "resolved") {
		t.Fatalf("resolve reply = %q", r)
	}
	w.waitText(ch.ID, "INC-1 resolved")
	// After resolution follow-up work continues, but the incident is closed.
	w.cmd(w.alice, ch.ID, "action Post-incident review <@"+w.carol+"> due:+14d")
	if r := w.cmd(w.alice, ch.ID, "status monitoring all good"); !strings.Contains(r, "resolved") {
		t.Fatalf("status after resolve = %q", r)
	}
	bot.stop(t)

	// Everything is in the database after a restart of the process.
	db := w.openDB()
	ctx := context.Background()
	inc, err := db.Incident(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Status != incidentbot.StatusResolved || inc.Severity != incidentbot.Sev1 || inc.ChannelID != ch.ID ||
		inc.Roles[incidentbot.RoleCommander] != w.alice || inc.Roles[incidentbot.RoleComms] != w.bob ||
		inc.AcknowledgedAt.IsZero() || inc.ImpactStartedAt.IsZero() || inc.Summary == "" {
		t.Errorf("incident after restart = %+v", inc)
	}
	if len(inc.Hypotheses) != 2 || inc.Hypotheses[0].Outcome != incidentbot.OutcomeConfirmed || inc.Hypotheses[1].Outcome != incidentbot.OutcomeRejected {
		t.Errorf("hypotheses = %+v", inc.Hypotheses)
	}
	if len(inc.Actions) != 3 || inc.Actions[0].Owner != w.bob || inc.Actions[0].Due == "" || inc.Actions[1].Status != incidentbot.ActionDone {
		t.Errorf("actions = %+v", inc.Actions)
	}
	evs := timeline(t, db, 1)
	want := map[incidentbot.EventKind]int{
		incidentbot.EventOpened: 1, incidentbot.EventChannel: 1, incidentbot.EventRole: 2, incidentbot.EventStatus: 1,
		incidentbot.EventSeverity: 1, incidentbot.EventHypothesis: 2, incidentbot.EventHypConfirmed: 1, incidentbot.EventHypRejected: 1,
		incidentbot.EventAction: 3, incidentbot.EventActionDone: 1, incidentbot.EventImpactStarted: 1, incidentbot.EventResolved: 1,
		incidentbot.EventMessage: 3, incidentbot.EventEdited: 1, incidentbot.EventDeleted: 1, incidentbot.EventFileShared: 1,
		incidentbot.EventKeyMarked: 1, incidentbot.EventPinned: 1,
	}
	for kind, n := range want {
		if got := countKind(evs, kind); got != n {
			t.Errorf("%d %s events, want %d", got, kind, n)
		}
	}
	for _, e := range evs {
		switch {
		case e.Kind == incidentbot.EventEdited && (e.PrevText != "seeing 500s on /checkout since 10:02" || e.Text != "seeing 500s on /checkout since 10:01"):
			t.Errorf("edit = %+v", e)
		case e.Kind == incidentbot.EventDeleted && e.PrevText != "wrong channel, sorry":
			t.Errorf("deletion = %+v", e)
		case e.Kind == incidentbot.EventMessage && e.TS == r1 && e.ThreadTS != m1:
			t.Errorf("thread reply = %+v", e)
		case e.Kind == incidentbot.EventFileShared && (len(e.Files) != 1 || e.Files[0].Name != "pool-graph.png"):
			t.Errorf("file = %+v", e)
		case e.Kind == incidentbot.EventKeyMarked && e.TS != m1:
			t.Errorf("pushpin = %+v", e)
		case e.Actor == w.emu.BotUserID():
			t.Errorf("the bot's own message was captured: %+v", e)
		case strings.Contains(e.Text, "lunch"):
			t.Errorf("a message outside the incident was captured: %+v", e)
		}
	}
	users, err := db.Users(ctx)
	if err != nil || users[w.bob].Name != "Bob" {
		t.Errorf("users = %v, %v", users, err)
	}
}

// TestBadInput checks that every mistake gets an ephemeral reply that says
// what was wrong and shows the right form, and changes nothing.
func TestBadInput(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	w.cmd(w.alice, w.general, "open Search is down")
	var ch slackemu.Channel
	w.eventually("the incident channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-search-is-down")
		return ok && len(ch.Pins) == 1
	})
	tests := []struct {
		channel, text string
		want          []string
	}{
		{ch.ID, "frobnicate", []string{"not an /incident command", "open [sev1|sev2|sev3|sev4] &lt;title&gt;"}},
		{ch.ID, "role pilot <@" + w.bob + ">", []string{`"pilot" is not a role`, "Usage: `/incident role"}},
		{ch.ID, "role commander", []string{"Say who takes the commander role", "Usage:"}},
		{ch.ID, "role commander bob", []string{"not a Slack user mention", "Usage:"}},
		{ch.ID, "status", []string{"needs text", "Usage: `/incident status"}},
		{ch.ID, "status monitoring", []string{"needs text", "Usage:"}},
		{ch.ID, "severity sev9", []string{`"sev9" is not a severity`, "Usage: `/incident severity"}},
		{ch.ID, "severity", []string{"exactly one severity", "Usage:"}},
		{ch.ID, "severity sev3", []string{"already is sev3"}},
		{ch.ID, "hypothesis", []string{"Say what you think", "Usage:"}},
		{ch.ID, "hypothesis confirm H7", []string{"has no hypothesis H7", "Usage:"}},
		{ch.ID, "hypothesis reject 7", []string{`"7" is not a hypothesis id`, "Usage:"}},
		{ch.ID, "action", []string{"Say what needs doing", "Usage:"}},
		{ch.ID, "action fix it due:tomorrow", []string{"not a due date", "due:+Nd"}},
		{ch.ID, "action fix it due:2001-01-01", []string{"in the past"}},
		{ch.ID, "action <@" + w.bob + "> due:+3d", []string{"Say what needs doing before the owner", "Usage:"}},
		{ch.ID, "action done A3", []string{"has no action item A3", "Usage:"}},
		{ch.ID, "action done X", []string{"not an action item id", "Usage:"}},
		{ch.ID, "action A3 <@" + w.bob + ">", []string{"has no action item A3", "Usage: `/incident action [INC-n] A&lt;n&gt; [@owner] [due:"}},
		{ch.ID, "action A3 due:+3d", []string{"has no action item A3", "Usage:"}},
		{ch.ID, "action A3", []string{"Say the new owner and/or due date of A3", "Usage:"}},
		{ch.ID, "action A3 due:someday", []string{"not a due date", "Usage:"}},
		{ch.ID, "action reopen A3", []string{"has no action item A3", "Usage: `/incident action [INC-n] reopen A&lt;n&gt;`"}},
		{ch.ID, "action reopen", []string{"Say which action item to reopen", "Usage:"}},
		{w.general, "action reopen A1", []string{"only in an incident channel"}},
		{w.general, "action INC-9 A1 <@" + w.bob + ">", []string{"INC-9 does not exist"}},
		{ch.ID, "started yesterday", []string{"neither an RFC 3339 time", "Usage: `/incident started"}},
		{ch.ID, "started 2999-01-01T00:00:00Z", []string{"in the future"}},
		{ch.ID, "snooze 3h", []string{"longer than the 2h maximum", "Usage:"}},
		{ch.ID, "snooze soon", []string{"not a duration", "Usage:"}},
		{ch.ID, "open sev7 Broken", []string{`"sev7" is not a severity`, "Usage: `/incident open"}},
		{ch.ID, "open sev1", []string{"needs a title", "Usage:"}},
		{w.general, "status identified it is DNS", []string{"only in an incident channel", "/incident list"}},
		{w.general, "resolve", []string{"only in an incident channel"}},
		{w.general, "hypothesis confirm H1", []string{"only in an incident channel"}},
		{w.general, "action done A1", []string{"only in an incident channel"}},
	}
	for _, tt := range tests {
		got := w.cmd(w.bob, tt.channel, tt.text)
		for _, s := range tt.want {
			if !strings.Contains(got, s) {
				t.Errorf("/incident %s\n  reply: %q\n  missing: %q", tt.text, got, s)
			}
		}
	}
	bot.stop(t)
	db := w.openDB()
	incs, err := db.Incidents(context.Background(), false)
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents = %d, %v", len(incs), err)
	}
	inc := incs[0]
	if inc.Severity != incidentbot.Sev3 || inc.Status != incidentbot.StatusInvestigating || len(inc.Roles) != 0 ||
		len(inc.Hypotheses) != 0 || len(inc.Actions) != 0 || !inc.ImpactStartedAt.IsZero() || !inc.SnoozedUntil.IsZero() {
		t.Errorf("bad input changed the incident: %+v", inc)
	}
	evs := timeline(t, db, 1)
	if len(evs) != 2 { // opened, channel created
		t.Errorf("bad input added timeline events: %+v", evs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestChannelCreatedAfterRestart: when Slack keeps refusing to create the
// channel, the incident is still recorded and the caller told; the next
// start of the bot creates it.
func TestChannelCreatedAfterRestart(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	first := w.start(nil)
	w.emu.FailNext("conversations.create", 6, 500, 0) // the call and its 5 retries
	if r := w.cmd(w.alice, w.general, "open sev2 Billing delays"); !strings.Contains(r, "INC-1") {
		t.Fatalf("open = %q", r)
	}
	w.eventuallyFor(60*time.Second, "the caller told", func() bool {
		for _, e := range w.emu.Ephemerals(w.general, w.alice) {
			if strings.Contains(e, "conversations.create") {
				return true
			}
		}
		return false
	})
	first.stop(t)
	second := w.start(nil)
	w.eventually("the channel created on restart", func() bool {
		ch, ok := w.emu.ChannelByName("inc-1-billing-delays")
		return ok && contains(ch.Members, w.alice) && len(ch.Pins) == 1
	})
	second.stop(t)
}
