package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestActionChanges: an item recorded without owner or due date is told the
// form to add them; `action A<n> @owner due:…` changes an item, in its
// channel or by id from elsewhere, and `action A<n> <text>` is still a new
// item; a done item is reopened with `action reopen A<n>`. Mistakes get
// ephemeral replies with the right form. Each change is posted in the
// channel, recorded in the timeline, and in the post-mortem (the table shows
// the end, the log the history).
func TestActionChanges(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "Search is down", "inc-1-search-is-down")

	steps := []struct {
		user, channel, text string
		reply               []string
		posted              string // in the incident channel after it; "" for none
	}{
		{w.alice, c, "action Add a search runbook", []string{"Recorded A1", "`/incident action A1 @owner due:+7d`"}, "*A1* Add a search runbook"},
		{w.alice, c, "action A1 <@" + w.bob + "> due:+7d", []string{"A1 changed: owner <@" + w.bob + ">, due "},
			":pencil2: *A1* Add a search runbook — owner <@" + w.bob + "> (was no owner), due "},
		{w.alice, c, "action A1 fix the A1 alert", []string{"Recorded A2"}, "*A2* A1 fix the A1 alert"},
		{w.carol, w.general, "action INC-1 A2 <@" + w.carol + ">", []string{"A2 changed", "It still has no due date", "`/incident action INC-1 A2 @owner due:+7d`"},
			"*A2* A1 fix the A1 alert — owner <@" + w.carol + "> (was no owner), *no due date* (changed by <@" + w.carol + ">)"},
		{w.bob, c, "action done A1", []string{"A1 closed"}, "*A1* done"},
		{w.bob, c, "action A1 <@" + w.carol + ">", []string{"A1 is done", "`/incident action reopen A1`"}, ""},
		{w.bob, c, "action reopen A2", []string{"A2 is open, not done", "`/incident action done A2`"}, ""},
		{w.bob, c, "action reopen A9", []string{"has no action item A9", "Usage: `/incident action [INC-n] reopen A&lt;n&gt;`"}, ""},
		{w.bob, c, "action A9 <@" + w.bob + ">", []string{"has no action item A9", "Usage: `/incident action [INC-n] A&lt;n&gt; [@owner]"}, ""},
		{w.bob, c, "action A2 <@" + w.carol + ">", []string{"nothing changed"}, ""},
		{w.bob, c, "action reopen A1", []string{"A1 reopened"}, ":arrows_counterclockwise: *A1* reopened by <@" + w.bob + ">: Add a search runbook"},
	}
	for _, s := range steps {
		posts := len(w.channelTexts(c))
		got := w.cmd(s.user, s.channel, s.text)
		for _, want := range s.reply {
			if !strings.Contains(got, want) {
				t.Errorf("/incident %s\n  reply: %q\n  missing: %q", s.text, got, want)
			}
		}
		if s.posted != "" {
			w.waitText(c, s.posted)
		} else if n := len(w.channelTexts(c)); n != posts {
			t.Errorf("/incident %s posted in the channel: %q", s.text, w.channelTexts(c)[posts:])
		}
	}

	w.cmd(w.alice, c, "postmortem")
	w.eventually("the draft", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	draft := string(w.uploads(c, "INC-1-postmortem.md")[0].Content)
	for _, want := range []string{
		"| A1 | Add a search runbook | Bob | " + time.Now().UTC().AddDate(0, 0, 7).Format(incidentbot.DateLayout) + " | open |",
		"| A2 | A1 fix the A1 alert | Carol Clark | ⚠ no due date | open |",
		"Action item **A1** owner changed by **Alice**: no owner → **Bob**",
		"Action item **A1** due date changed by **Alice**: no due date → **",
		"Action item **A2** owner changed by **Carol Clark**: no owner → **Carol Clark**",
		"Action item **A1** done by **Bob**",
		"Action item **A1** **reopened** by **Bob**",
	} {
		if !strings.Contains(draft, want) {
			t.Errorf("draft lacks %q", want)
		}
	}
	bot.stop(t)

	evs := timeline(t, w.openDB(), 1)
	for kind, want := range map[incidentbot.EventKind]int{
		incidentbot.EventAction: 2, incidentbot.EventActionOwner: 2, incidentbot.EventActionDue: 1,
		incidentbot.EventActionDone: 1, incidentbot.EventActionReopen: 1,
	} {
		if n := countKind(evs, kind); n != want {
			t.Errorf("%d %s events, want %d", n, kind, want)
		}
	}
}

// TestFollowUpReview: two weeks after resolution, at the first firing of
// the action reminder cron on or after it, the bot posts the action items
// in the incident channel, mentioning the commander and the owners of open
// items; once: not at the next firing, not after a restart. The overdue DMs
// of the same cron show when it fired.
func TestFollowUpReview(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	env := map[string]string{"INCIDENTBOT_ACTION_REMINDER_CRON": "@every 1h"}
	bot := w.startWith(env, clk.on)
	c := w.openIncident(w.alice, "Disk full on logs-2", "inc-1-disk-full-on-logs-2")
	w.cmd(w.alice, c, "role commander <@"+w.carol+">")
	w.cmd(w.alice, c, "action Rotate logs hourly <@"+w.bob+"> due:+0d")
	w.cmd(w.alice, c, "action Alert at 80% disk <@"+w.carol+"> due:+30d")
	w.cmd(w.alice, c, "action Move logs to object storage <@"+w.alice+"> due:+1d")
	w.cmd(w.alice, c, "action done A3")
	w.cmd(w.alice, c, "resolve disk cleaned")
	w.waitText(c, "INC-1 resolved")

	reviews := func() []string {
		var out []string
		for _, s := range w.channelTexts(c) {
			if strings.Contains(s, "Follow-up review of INC-1") {
				out = append(out, s)
			}
		}
		return out
	}
	dms := func() int { return len(w.emu.DMs(w.bob)) }
	// The firing 13 days 23 hours after: bob's A1 is overdue by then (a DM
	// shows the cron fired), the review is not due.
	clk.Add(14*24*time.Hour - time.Hour)
	w.eventually("a firing 13 days 23 h after resolution", func() bool { return dms() == 1 })
	settle()
	if r := reviews(); len(r) != 0 {
		t.Fatalf("review posted before two weeks: %q", r)
	}
	clk.Add(time.Hour)
	w.eventually("the review", func() bool { return len(reviews()) == 1 })
	r := reviews()[0]
	for _, want := range []string{"<@" + w.carol + "> <@" + w.bob + ">:", "*A1* [open] Rotate logs hourly — owner <@" + w.bob + ">", ":warning: overdue",
		"*A2* [open] Alert at 80% disk", "*A3* [done] Move logs to object storage — owner Alice,", "2 of 3 action items open", "/incident action A&lt;n&gt; @owner due:+7d"} {
		if !strings.Contains(r, want) {
			t.Errorf("review lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r, "<@"+w.alice+">") {
		t.Errorf("review mentions alice, who is neither commander nor owner of an open item:\n%s", r)
	}
	fired := dms()
	clk.Add(time.Hour)
	w.eventually("the next firing", func() bool { return dms() > fired })
	settle()
	bot.stop(t)

	bot = w.startWith(env, clk.on)
	fired = dms()
	w.eventually("a firing after the restart", func() bool {
		if dms() == fired {
			clk.Add(time.Hour)
		}
		return dms() > fired
	})
	settle()
	bot.stop(t)
	if n := len(reviews()); n != 1 {
		t.Errorf("%d reviews after the next firing and a restart, want 1", n)
	}
	db := w.openDB()
	if n := countKind(timeline(t, db, 1), incidentbot.EventReview); n != 1 {
		t.Errorf("%d review events, want 1", n)
	}
	inc, err := db.Incident(context.Background(), 1)
	if err != nil || inc.ReviewPostedAt.IsZero() {
		t.Errorf("ReviewPostedAt not recorded: %v, %v", inc, err)
	}
}
