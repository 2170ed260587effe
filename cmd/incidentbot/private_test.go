package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// home opens user's App Home and returns the texts of the Home tab the bot
// publishes in answer (a new publication, not the previous one), in order.
func (w *world) home(user string) []string {
	w.t.Helper()
	before, _ := w.emu.HomeView(user)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.emu.OpenAppHome(ctx, user); err != nil {
		w.t.Fatalf("open the App Home of %s: %v", user, err)
	}
	var v slackemu.View
	w.eventually("the App Home of "+user+" published", func() bool {
		var ok bool
		v, ok = w.emu.HomeView(user)
		return ok && v.Hash != before.Hash
	})
	var spec struct {
		Blocks []struct {
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(v.Raw, &spec); err != nil {
		w.t.Fatalf("App Home of %s: %v", user, err)
	}
	var out []string
	for _, b := range spec.Blocks {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
	}
	return out
}

// inOrder reports whether each of subs occurs in text, in that order.
func inOrder(text string, subs ...string) bool {
	for _, s := range subs {
		i := strings.Index(text, s)
		if i < 0 {
			return false
		}
		text = text[i+len(s):]
	}
	return true
}

// noAnnouncements fails the test if anything was posted in the announce
// channel.
func (w *world) noAnnouncements() {
	w.t.Helper()
	for _, m := range w.emu.Messages(w.announce) {
		w.t.Errorf("posted in the announce channel: %q", m.Text)
	}
}

// TestPrivateIncident: `/incident open --private` makes a private channel
// with only the declarer and those the bot invites (the on-call, role
// holders); nothing reaches the announce channel in its whole life; the
// PagerDuty alert carries no title; list, actions elsewhere, App Home and
// naming it by id show it only to members of its channel, a member who
// leaves loses it; its post-mortem is uploaded there only.
func TestPrivateIncident(t *testing.T) {
	const title = "Payroll export leaked"
	pd, env := withPD(t)
	w := newWorld(t, slackemu.Config{MemberJoinedEvents: true})
	bot := w.start(env)
	if r := w.cmd(w.alice, w.general, "open --private sev2 "+title); !strings.Contains(r, "INC-1") || !strings.Contains(r, "private") {
		t.Fatalf("open reply = %q", r)
	}
	var ch slackemu.Channel
	w.eventually("the private channel with the on-call", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-payroll-export-leaked")
		return ok && len(ch.Pins) == 1 && contains(ch.Members, w.carol)
	})
	c := ch.ID
	if !ch.IsPrivate {
		t.Fatalf("channel %+v is not private", ch)
	}
	for _, m := range ch.Members {
		if m != w.emu.BotUserID() && m != w.alice && m != w.carol {
			t.Errorf("%s is in the private channel; only the bot, the declarer and the on-call were brought in", m)
		}
	}

	// PagerDuty hears of it without its title.
	key := "incidentbot-T0001-INC-1"
	w.eventually("the trigger", func() bool { return len(pdEvents(pd, "trigger", key)) == 1 })
	ev := pdEvents(pd, "trigger", key)[0]
	if ev.Summary != "INC-1 (private, sev2)" || len(ev.Links) != 1 || !strings.Contains(ev.Links[0].Href, c) {
		t.Errorf("private trigger = %+v", ev)
	}
	raw, _ := json.Marshal(ev)
	if strings.Contains(strings.ToLower(string(raw)), "payroll") {
		t.Errorf("the alert carries the title: %s", raw)
	}

	// Visible to members only.
	if r := w.cmd(w.bob, w.general, "list"); strings.Contains(r, "INC-1") || !strings.Contains(r, "No open incidents") {
		t.Errorf("non-member's list = %q", r)
	}
	for _, u := range []string{w.alice, w.carol} {
		if r := w.cmd(u, w.general, "list"); !strings.Contains(r, "INC-1") || !strings.Contains(r, title) {
			t.Errorf("member %s's list = %q", u, r)
		}
	}
	w.cmd(w.alice, c, "action Rotate the export credentials <@"+w.alice+"> due:+2d")
	if r := w.cmd(w.bob, w.general, "actions"); strings.Contains(r, "Rotate") {
		t.Errorf("non-member's actions = %q", r)
	}
	if r := w.cmd(w.alice, w.general, "actions"); !strings.Contains(r, "INC-1 A1") {
		t.Errorf("member's actions = %q", r)
	}
	if r := w.cmd(w.bob, w.general, "status INC-1 identified guessing the id"); !strings.Contains(r, "does not exist") {
		t.Errorf("non-member acting by id: %q", r)
	}
	if home := strings.Join(w.home(w.bob), "\n"); strings.Contains(home, "INC-1") || !strings.Contains(home, "No open incidents") {
		t.Errorf("non-member's App Home = %q", home)
	}
	if home := strings.Join(w.home(w.alice), "\n"); !inOrder(home, "INC-1", "sev2", ":lock: private", title, "<#"+c+">", "INC-1 A1", "Rotate") {
		t.Errorf("member's App Home = %q", home)
	}

	// A role brings bob in, and he sees it; once he leaves, he does not.
	w.cmd(w.alice, c, "role ops <@"+w.bob+">")
	w.eventually("bob invited", func() bool { ch, _ := w.emu.Channel(c); return contains(ch.Members, w.bob) })
	w.eventually("bob sees it", func() bool { return strings.Contains(w.cmd(w.bob, w.general, "list"), "INC-1") })
	w.emu.LeaveChannel(w.bob, c)
	w.eventually("bob no longer sees it", func() bool { return !strings.Contains(w.cmd(w.bob, w.general, "list"), "INC-1") })
	if home := strings.Join(w.home(w.bob), "\n"); strings.Contains(home, "INC-1") {
		t.Errorf("App Home of a member who left = %q", home)
	}

	// Its life goes on in its channel only.
	w.emu.PostMessage(w.alice, c, "found the leaked bucket")
	w.cmd(w.alice, c, "status identified bucket policy was public")
	w.cmd(w.alice, c, "severity sev1")
	w.cmd(w.alice, c, "resolve bucket locked down")
	w.waitText(c, "INC-1 resolved")
	w.eventually("the post-mortem", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	w.eventually("the alert resolved", func() bool { return len(pdEvents(pd, "resolve", key)) == 1 })
	for _, f := range w.emu.Files() {
		if len(f.Channels) != 1 || f.Channels[0] != c {
			t.Errorf("file %s shared in %v, want only the private channel", f.Name, f.Channels)
		}
	}
	for _, e := range pd.Events() {
		if strings.Contains(strings.ToLower(e.Summary), "payroll") || strings.Contains(e.Summary, "bucket") {
			t.Errorf("PagerDuty event %s carries the title or the status: %q", e.Action, e.Summary)
		}
	}
	time.Sleep(200 * time.Millisecond) // any late announcement would be there now
	w.noAnnouncements()
	bot.stop(t)

	db := w.openDB()
	inc, err := db.Incident(t.Context(), 1)
	if err != nil || !inc.Private || inc.Title != title {
		t.Errorf("stored incident = %+v, %v", inc, err)
	}
	found := false
	for _, e := range timeline(t, db, 1) {
		found = found || strings.Contains(e.Text, "found the leaked bucket")
	}
	if !found {
		t.Error("a message in the private channel was not captured")
	}
}

// TestPrivateIncidentByForm: the declare form's Private checkbox opens a
// private incident, as --private does.
func TestPrivateIncidentByForm(t *testing.T) {
	w := newWorld(t, slackemu.Config{MemberJoinedEvents: true})
	bot := w.start(nil)
	w.cmd(w.carol, w.general, "open")
	var view slackemu.View
	w.eventually("the form", func() bool {
		vs := w.emu.Views()
		if len(vs) == 1 {
			view = vs[0]
		}
		return len(vs) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := w.emu.SubmitForm(ctx, w.carol, view.ID, map[string]map[string]string{
		"title": {"title": "HR complaint about a manager"}, "severity": {"severity": "sev3"}, "private": {"private": "private"},
	})
	if err != nil || len(res.Ack) != 0 || res.TimedOut {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	var ch slackemu.Channel
	w.eventually("the private channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-hr-complaint-about-a-manager")
		return ok && len(ch.Pins) == 1
	})
	if !ch.IsPrivate || len(ch.Members) != 2 || !contains(ch.Members, w.carol) {
		t.Errorf("channel = %+v, want private with the bot and carol only", ch)
	}
	if r := w.cmd(w.alice, w.general, "list"); strings.Contains(r, "INC-1") {
		t.Errorf("non-member's list = %q", r)
	}
	if r := w.cmd(w.carol, w.general, "list"); !strings.Contains(r, "INC-1") {
		t.Errorf("declarer's list = %q", r)
	}
	w.cmd(w.carol, ch.ID, "status monitoring talking to HR")
	w.waitText(ch.ID, "talking to HR")
	time.Sleep(200 * time.Millisecond)
	w.noAnnouncements()

	// Unchecked, the form opens a public incident.
	w.cmd(w.bob, w.general, "open")
	w.eventually("a second form", func() bool { return len(w.emu.Views()) == 2 })
	res, err = w.emu.SubmitForm(ctx, w.bob, w.emu.Views()[1].ID, map[string]map[string]string{
		"title": {"title": "Disk full"}, "severity": {"severity": "sev3"},
	})
	if err != nil || len(res.Ack) != 0 {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	w.eventually("the public channel", func() bool { ch, ok := w.emu.ChannelByName("inc-2-disk-full"); return ok && !ch.IsPrivate })
	w.waitText(w.announce, "Disk full")
	bot.stop(t)

	// After a restart, membership is asked of Slack once, then known.
	bot = w.start(nil)
	for _, u := range []string{w.alice, w.carol, w.bob, w.carol} {
		r := w.cmd(u, w.general, "list")
		if strings.Contains(r, "INC-1") != (u == w.carol) {
			t.Errorf("%s's list after a restart = %q", u, r)
		}
	}
	if n := len(w.emu.Calls("conversations.members")); n != 1 {
		t.Errorf("%d conversations.members calls after a restart, want 1", n)
	}
	bot.stop(t)
}

// TestAppHome: the Home tab shows the viewer the open incidents (severity,
// status, commander, channel), their roles, and their open action items,
// overdue first, with due dates; it is rebuilt each time it is opened; its
// empty states say what to do.
func TestAppHome(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(nil, clk.on)

	empty := strings.Join(w.home(w.carol), "\n")
	if !strings.Contains(empty, "No open incidents") || !strings.Contains(empty, "/incident open") ||
		!strings.Contains(empty, "no role") || !strings.Contains(empty, "No open action items") {
		t.Errorf("empty App Home = %q", empty)
	}

	a := w.openIncident(w.alice, "sev3 Slow search", "inc-1-slow-search")
	b := w.openIncident(w.bob, "sev1 Checkout down", "inc-2-checkout-down")
	w.cmd(w.alice, a, "role commander me")
	w.cmd(w.bob, b, "role scribe <@"+w.alice+">")
	w.cmd(w.bob, b, "role commander me")
	w.cmd(w.alice, a, "action Add a search index <@"+w.alice+"> due:+4d")
	w.cmd(w.bob, b, "action Write the runbook <@"+w.alice+">")
	w.cmd(w.bob, b, "action Fix the retry storm <@"+w.alice+"> due:+1d")
	w.cmd(w.bob, b, "action Not alice's <@"+w.bob+"> due:+1d")
	w.cmd(w.alice, a, "action Done already <@"+w.alice+">")
	w.cmd(w.alice, a, "action done A2")
	clk.Add(3 * 24 * time.Hour) // A2 of INC-2 (due +1d) is now overdue; A1 of INC-1 (+4d) not yet

	home := strings.Join(w.home(w.alice), "\n")
	if !inOrder(home,
		"*INC-2* · sev1 · investigating", "Checkout down", "Commander: <@"+w.bob+"> · <#"+b+">",
		"*INC-1* · sev3 · investigating", "Slow search", "Commander: <@"+w.alice+"> · <#"+a+">",
		"*Scribe* of *INC-2*", "*Incident commander* of *INC-1*",
		"*INC-2 A2* Fix the retry storm", "overdue", "<#"+b+">",
		"*INC-1 A1* Add a search index", "due ", "<#"+a+">",
		"*INC-2 A1* Write the runbook", "no due date") {
		t.Errorf("alice's App Home = %q", home)
	}
	for _, s := range []string{"Not alice's", "Done already"} {
		if strings.Contains(home, s) {
			t.Errorf("alice's App Home shows %q", s)
		}
	}

	// Refreshed when opened again.
	w.cmd(w.alice, b, "action done A2")
	w.cmd(w.bob, a, "resolve")
	home = strings.Join(w.home(w.alice), "\n")
	if strings.Contains(home, "Fix the retry storm") || strings.Contains(home, "Slow search") || !strings.Contains(home, "Add a search index") {
		t.Errorf("alice's App Home after changes = %q", home)
	}
	bot.stop(t)
}
