package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// interactionCtx bounds one interaction of a test.
func interactionCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// acked fails the test when an interaction was not acknowledged within
// Slack's 3 s.
func (w *world) acked(what string, res slackemu.InteractionResult) {
	w.t.Helper()
	if res.TimedOut || res.Latency > 3*time.Second {
		w.t.Errorf("%s acknowledged after %v, later than Slack's 3 s", what, res.Latency)
	}
}

// shortcut runs "Add to incident timeline" as user on message ts of
// channel and returns what happened.
func (w *world) shortcut(user, channel, ts string) slackemu.InteractionResult {
	w.t.Helper()
	ctx, cancel := interactionCtx()
	defer cancel()
	res, err := w.emu.MessageShortcut(ctx, user, channel, ts, bot.ShortcutCallback)
	if err != nil {
		w.t.Fatalf("shortcut on %s/%s: %v", channel, ts, err)
	}
	w.acked("the shortcut", res)
	return res
}

// timelineForm runs the shortcut on a message outside any incident channel
// and returns the form it opens.
func (w *world) timelineForm(user, channel, ts string) slackemu.View {
	w.t.Helper()
	res := w.shortcut(user, channel, ts)
	var v slackemu.View
	w.eventually("the timeline form", func() bool {
		for _, x := range w.emu.Views() {
			if x.TriggerID == res.TriggerID {
				v = x
				return true
			}
		}
		return false
	})
	if v.CallbackID != bot.ShortcutCallback || v.User != user || !v.Open {
		w.t.Fatalf("form = %+v", v)
	}
	return v
}

// formOptions returns the texts of the options of a view's selects.
func formOptions(t testing.TB, v slackemu.View) []string {
	t.Helper()
	var spec struct {
		Blocks []struct {
			Element struct {
				Options []struct {
					Text struct {
						Text string `json:"text"`
					} `json:"text"`
				} `json:"options"`
			} `json:"element"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(v.Raw, &spec); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range spec.Blocks {
		for _, o := range b.Element.Options {
			out = append(out, o.Text.Text)
		}
	}
	return out
}

// viewText is the text of a view's sections.
func viewText(t testing.TB, v *slackemu.View) string {
	t.Helper()
	if v == nil {
		return ""
	}
	var spec struct {
		Blocks []struct {
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(v.Raw, &spec); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range spec.Blocks {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
	}
	return strings.Join(out, "\n")
}

// submitTimeline submits a timeline form choosing incident ("" for none).
func (w *world) submitTimeline(user string, v slackemu.View, incident string) slackemu.InteractionResult {
	w.t.Helper()
	ctx, cancel := interactionCtx()
	defer cancel()
	vals := map[string]map[string]string{}
	if incident != "" {
		vals["incident"] = map[string]string{"incident": incident}
	}
	res, err := w.emu.SubmitForm(ctx, user, v.ID, vals)
	if err != nil {
		w.t.Fatalf("submit the timeline form choosing %q: %v", incident, err)
	}
	w.acked("the form", res)
	return res
}

// rawSubmission delivers a view_submission of form v by user choosing
// incident as Slack would send it (a redelivery, or a payload no client
// would make), and waits for its acknowledgement.
func (w *world) rawSubmission(user string, v slackemu.View, incident string) {
	w.t.Helper()
	cfg := w.emu.Config()
	id := w.emu.EmitEnvelope("interactive", map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": cfg.TeamID, "domain": cfg.TeamDomain},
		"user":       map[string]any{"id": user, "team_id": cfg.TeamID},
		"api_app_id": cfg.AppID,
		"trigger_id": "1.2.raw",
		"view": map[string]any{
			"id": v.ID, "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.PrivateMetadata,
			"state": map[string]any{"values": map[string]any{"incident": map[string]any{"incident": map[string]any{
				"type": "static_select", "selected_option": map[string]any{"value": incident, "text": map[string]any{"type": "plain_text", "text": incident}},
			}}}},
		},
	})
	w.eventually("the raw submission acknowledged", func() bool { return w.emu.Acked(id) })
}

// ephemeralWith waits for an ephemeral to user in channel containing substr.
func (w *world) ephemeralWith(channel, user, substr string) {
	w.t.Helper()
	w.eventually("an ephemeral saying "+strconv.Quote(substr), func() bool {
		for _, e := range w.emu.Ephemerals(channel, user) {
			if strings.Contains(e, substr) {
				return true
			}
		}
		return false
	})
}

// TestShortcutInIncidentChannel: the message shortcut on a message of an
// incident channel marks it as a key event, the same record as a :pushpin:
// reaction by that user: the shortcut twice and the reaction make one
// record, another user's :pushpin: one more (per user, as reactions); the
// user is told, only to them; the post-mortem lists the message once under
// Key events.
func TestShortcutInIncidentChannel(t *testing.T) {
	w := newWorld(t, slackemu.Config{MessageShortcuts: bot.MessageShortcuts()})
	b := w.start(nil)
	c := w.openIncident(w.alice, "sev2 Checkout errors", "inc-1-checkout-errors")
	ts := w.emu.PostMessage(w.bob, c, "p99 doubled right after the 14:02 deploy")

	if res := w.shortcut(w.alice, c, ts); len(res.Ack) != 0 && string(res.Ack) != "{}" && string(res.Ack) != "null" {
		t.Errorf("the shortcut's ack = %s, want an empty one", res.Ack)
	}
	w.ephemeralWith(c, w.alice, "Marked as a key event of *INC-1*")
	w.emu.AddReaction(w.alice, c, ts, "pushpin")
	w.eventually("the reaction acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	w.shortcut(w.alice, c, ts)
	w.ephemeralWith(c, w.alice, "already marked this message")
	w.emu.AddReaction(w.bob, c, ts, "pushpin")
	w.eventually("bob's reaction acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	for _, e := range w.emu.Ephemerals(c, w.bob) {
		t.Errorf("bob was told %q", e)
	}

	w.cmd(w.alice, c, "postmortem")
	w.eventually("the draft", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	draft := string(w.uploads(c, "INC-1-postmortem.md")[0].Content)
	keyEvents, _, _ := strings.Cut(draft[strings.Index(draft, "## Key events"):], "\n## ")
	if n := strings.Count(keyEvents, "p99 doubled right after the 14:02 deploy"); n != 1 || !strings.Contains(keyEvents, "marked as a key event (:pushpin:) by **Alice**") {
		t.Errorf("the marked message is in the key events %d times, want once, marked by Alice:\n%s", n, keyEvents)
	}
	b.stop(t)

	marks := map[string]int{}
	for _, e := range timeline(t, w.openDB(), 1) {
		if e.Kind == incidentbot.EventKeyMarked {
			if e.TS != ts {
				t.Errorf("a mark of %s, want %s", e.TS, ts)
			}
			marks[e.Actor]++
		}
	}
	if marks[w.alice] != 1 || marks[w.bob] != 1 || len(marks) != 2 {
		t.Errorf("key-event marks by user = %v, want one by alice (shortcut twice and :pushpin:) and one by bob", marks)
	}
}

// TestShortcutElsewhere: the shortcut on a message outside any incident
// channel opens a form listing the open incidents the user may see (a
// private one only to its members, a resolved one to nobody); submitting
// without a choice keeps the form open with the error under the select;
// submitting records the message's text, author and permalink in the chosen
// incident once (a redelivered submission, or the same message added again,
// records nothing more); a crafted submission naming a private incident
// the user may not see records nothing; with no open incident to offer,
// the user is told instead of getting an empty form. The post-mortem lists
// the message under Key events.
func TestShortcutElsewhere(t *testing.T) {
	w := newWorld(t, slackemu.Config{MessageShortcuts: bot.MessageShortcuts(), MemberJoinedEvents: true})
	b := w.start(nil)
	c1 := w.openIncident(w.alice, "sev3 Checkout errors", "inc-1-checkout-errors")
	c2 := w.openIncident(w.alice, "--private sev2 Payroll leak", "inc-2-payroll-leak")
	c3 := w.openIncident(w.bob, "sev1 DNS outage", "inc-3-dns-outage")
	w.cmd(w.bob, c3, "resolve resolver pool fixed")
	const text = "customers report *500s* on checkout & <https://status.example|status> page"
	ts := w.emu.PostMessage(w.carol, w.general, text)

	// Bob sees the public open incident only.
	form := w.timelineForm(w.bob, w.general, ts)
	if got := formOptions(t, form); len(got) != 1 || !strings.HasPrefix(got[0], "INC-1 · sev3 · Checkout errors") {
		t.Errorf("bob's choices = %q, want INC-1 only (INC-2 is private, INC-3 resolved)", got)
	}
	if !strings.Contains(viewText(t, &form), "customers report *500s*") {
		t.Errorf("the form does not show the message: %s", viewText(t, &form))
	}
	// Alice is in INC-2's channel: she sees it, most severe first.
	aliceForm := w.timelineForm(w.alice, w.general, ts)
	if got := formOptions(t, aliceForm); len(got) != 2 || !strings.HasPrefix(got[0], "INC-2 · sev2 · private") || !strings.HasPrefix(got[1], "INC-1") {
		t.Errorf("alice's choices = %q, want INC-2 (private) then INC-1", got)
	}

	// No choice: the error under the select, nothing recorded.
	res := w.submitTimeline(w.bob, form, "")
	if res.ResponseAction != "errors" || !strings.Contains(res.Errors["incident"], "Choose the incident") || res.Shown == nil || !res.Shown.Open {
		t.Errorf("submit without a choice: %s, errors %v", res.ResponseAction, res.Errors)
	}
	res = w.submitTimeline(w.bob, form, "1")
	if res.ResponseAction != "update" || !strings.Contains(viewText(t, res.Shown), "Added to the timeline of *INC-1*") {
		t.Errorf("submit: %s, shown %s", res.ResponseAction, viewText(t, res.Shown))
	}
	// Slack delivers the submission again: nothing more is recorded.
	w.rawSubmission(w.bob, form, "1")
	// Alice adds it to INC-2, then bob's crafted submission names INC-2.
	if res := w.submitTimeline(w.alice, aliceForm, "2"); !strings.Contains(viewText(t, res.Shown), "Added to the timeline of *INC-2*") {
		t.Errorf("alice's submit: %s, shown %s", res.ResponseAction, viewText(t, res.Shown))
	}
	other := w.emu.PostMessage(w.carol, w.general, "and the payroll export too?")
	w.rawSubmission(w.bob, w.timelineForm(w.bob, w.general, other), "2")
	// The same message again into INC-1, by someone else: told it is there.
	again := w.timelineForm(w.carol, w.general, ts)
	if res := w.submitTimeline(w.carol, again, "1"); !strings.Contains(viewText(t, res.Shown), "already in the timeline of *INC-1*") {
		t.Errorf("added again: shown %s", viewText(t, res.Shown))
	}

	// INC-1 resolved: carol, outside INC-2, has nothing to choose from.
	w.cmd(w.alice, c1, "resolve rolled back")
	w.eventually("the final draft", func() bool { return len(w.uploads(c1, "INC-1-postmortem.md")) >= 1 })
	views := len(w.emu.Views())
	res = w.shortcut(w.carol, w.general, ts)
	w.ephemeralWith(w.general, w.carol, "There is no open incident you can add this message to")
	if n := len(w.emu.Views()); n != views {
		t.Errorf("a form was opened with nothing to choose (%d views, were %d)", n, views)
	}
	_ = res

	uploads := w.uploads(c1, "INC-1-postmortem.md")
	draft := string(uploads[len(uploads)-1].Content)
	keyEvents, _, _ := strings.Cut(draft[strings.Index(draft, "## Key events"):], "\n## ")
	link := "https://emulator.slack.com/archives/" + w.general + "/p" + strings.Replace(ts, ".", "", 1)
	if !strings.Contains(keyEvents, "Message from **Carol Clark** in another channel added to the timeline by **Bob** ([message]("+link+"))") ||
		!strings.Contains(keyEvents, "customers report \\*500s\\* on checkout") {
		t.Errorf("the post-mortem's key events lack the added message:\n%s", keyEvents)
	}
	b.stop(t)

	var sent string
	for _, m := range w.emu.Messages(w.general) {
		if m.TS == ts {
			sent = m.Text
		}
	}
	if sent == "" {
		t.Fatal("the message is not in the channel")
	}
	db := w.openDB()
	check := func(id int64, by string) {
		t.Helper()
		var added []incidentbot.TimelineEvent
		for _, e := range timeline(t, db, id) {
			if e.Kind == incidentbot.EventTimelineAdded {
				added = append(added, e)
			}
		}
		if len(added) != 1 {
			t.Fatalf("INC-%d has %d added messages, want 1: %+v", id, len(added), added)
		}
		e := added[0]
		if e.Text != sent {
			t.Errorf("text = %q, want the message as Slack sent it, %q", e.Text, sent)
		}
		if e.Actor != w.carol || e.From != by || e.Ref != link || e.To != w.general || e.TS != "" {
			t.Errorf("INC-%d's added message = %+v, want by carol, added by %s, link %s", id, e, by, link)
		}
	}
	check(1, w.bob)
	check(2, w.alice)
	_ = c2
}

// TestHomeTrackerLink: App Home lists an action item's tracker issue with
// its link once it has one, and an item without one without.
func TestHomeTrackerLink(t *testing.T) {
	clk := &clock{}
	gh, env := withGitHub(t, clk, ghToken)
	w := newWorld(t, slackemu.Config{})
	b := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	c := w.openIncident(w.alice, "sev3 Checkout retries", "inc-1-checkout-retries")
	w.cmd(w.alice, c, "action Fix the retry loop <@"+w.bob+"> due:2030-01-10")
	w.waitText(c, ":link: *A1* is tracked in GitHub")
	p := w.openIncident(w.alice, "--private sev3 Secret", "inc-2-secret")
	w.cmd(w.alice, p, "role scribe <@"+w.bob+">")
	w.cmd(w.alice, p, "action Rotate the keys <@"+w.bob+">")
	w.eventually("bob in the private channel", func() bool { ch, _ := w.emu.Channel(p); return contains(ch.Members, w.bob) })

	home := strings.Join(w.home(w.bob), "\n")
	is, _ := gh.Issue(1)
	want := "*INC-1 A1* Fix the retry loop — due 2030-01-10 — <#" + c + "> — <" + is.HTMLURL + "|acme/ops#1>"
	if !strings.Contains(home, want) {
		t.Errorf("bob's home lacks %q:\n%s", want, home)
	}
	if line := lineWith(home, "Rotate the keys"); line == "" || strings.Contains(line, "acme/ops") {
		t.Errorf("the private incident's item (not mirrored) = %q", line)
	}
	b.stop(t)
}

// lineWith returns the first line of text containing substr, or "".
func lineWith(text, substr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// TestShortcutLongMessage: a message longer than the form can carry (Slack
// keeps 3000 characters of private_metadata) still opens the form, and its
// start is recorded, marked as cut.
func TestShortcutLongMessage(t *testing.T) {
	w := newWorld(t, slackemu.Config{MessageShortcuts: bot.MessageShortcuts()})
	b := w.start(nil)
	w.openIncident(w.alice, "sev3 Checkout errors", "inc-1-checkout-errors")
	long := "stack trace: " + strings.Repeat(`at <main> "x" & \ y`+"\n", 400)
	ts := w.emu.PostMessage(w.carol, w.general, long)
	form := w.timelineForm(w.bob, w.general, ts)
	if res := w.submitTimeline(w.bob, form, "1"); !strings.Contains(viewText(t, res.Shown), "Added to the timeline of *INC-1*") {
		t.Fatalf("submit: %s %v", res.ResponseAction, res.Errors)
	}
	b.stop(t)
	for _, e := range timeline(t, w.openDB(), 1) {
		if e.Kind == incidentbot.EventTimelineAdded {
			cut := strings.TrimSuffix(e.Text, "…")
			if cut == e.Text || len(cut) < 2000 || !strings.HasPrefix(long, cut) {
				t.Errorf("recorded %d bytes of %d: %.60q…", len(e.Text), len(long), e.Text)
			}
			return
		}
	}
	t.Error("nothing recorded")
}
