package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// header returns the ts of channel's pinned header.
func (w *world) header(channel string) string {
	w.t.Helper()
	ch, ok := w.emu.Channel(channel)
	if !ok || len(ch.Pins) == 0 {
		w.t.Fatalf("channel %s has no pinned header", channel)
	}
	return ch.Pins[0]
}

// headerBlocks returns the Block Kit of channel's pinned header.
func (w *world) headerBlocks(channel string) string {
	ts := w.header(channel)
	for _, m := range w.emu.Messages(channel) {
		if m.TS == ts {
			return string(m.Blocks)
		}
	}
	return ""
}

// headerText returns the text of channel's pinned header's blocks.
func (w *world) headerText(channel string) string {
	ts := w.header(channel)
	for _, m := range w.emu.Messages(channel) {
		if m.TS == ts {
			return m.BlockText()
		}
	}
	return ""
}

// acked checks that an interaction was acknowledged within Slack's 3 s.
func acked(t *testing.T, what string, res slackemu.InteractionResult, err error) slackemu.InteractionResult {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.TimedOut || res.Latency > 3*time.Second {
		t.Errorf("%s acknowledged after %s, later than Slack's 3 s", what, res.Latency)
	}
	return res
}

// click clicks a header button of channel as user.
func (w *world) click(t *testing.T, user, channel, actionID string) slackemu.InteractionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := w.emu.ClickButton(ctx, user, channel, w.header(channel), actionID, "")
	return acked(t, "click "+actionID, res, err)
}

// form clicks a header button that opens a form and returns the form.
func (w *world) form(t *testing.T, user, channel, actionID string) (slackemu.View, slackemu.InteractionResult) {
	t.Helper()
	res := w.click(t, user, channel, actionID)
	var v slackemu.View
	w.eventually("the form of "+actionID, func() bool {
		for _, x := range w.emu.Views() {
			if x.TriggerID == res.TriggerID {
				v = x
				return true
			}
		}
		return false
	})
	return v, res
}

// submit submits a form as user.
func (w *world) submit(t *testing.T, user string, v slackemu.View, values map[string]map[string]string) slackemu.InteractionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := w.emu.SubmitForm(ctx, user, v.ID, values)
	return acked(t, "submit "+v.CallbackID, res, err)
}

// wantFormError checks that a submission kept the form open with an error
// under input.
func wantFormError(t *testing.T, what string, res slackemu.InteractionResult, input, sub string) {
	t.Helper()
	if res.ResponseAction != "errors" || !strings.Contains(res.Errors[input], sub) || res.Shown == nil || !res.Shown.Open {
		t.Errorf("%s: response_action %q, errors %v, shown %v; want the form open with %q under %s", what, res.ResponseAction, res.Errors, res.Shown, sub, input)
	}
}

// TestHeaderButtons clicks every button of the pinned header and submits
// every form, valid and invalid, and checks that each records exactly what
// the equivalent slash command records (INC-2 is worked with commands, INC-1
// with the buttons), attributed to the clicker; that invalid forms stay open
// with the error under the field and record nothing; that a redelivered
// submission is applied once; that the header's buttons follow the state;
// that a stale button is answered; and that role holders get a DM.
func TestHeaderButtons(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c1 := w.openIncident(w.alice, "Checkout latency", "inc-1-checkout-latency")
	c2 := w.openIncident(w.alice, "Search latency", "inc-2-search-latency")
	blocks := w.headerBlocks(c1)
	for _, id := range []string{commands.ButtonCommander, commands.ButtonStatus, commands.ButtonHypothesis, commands.ButtonAction, commands.ButtonResolve} {
		if !strings.Contains(blocks, `"`+id+`"`) {
			t.Errorf("the header lacks the button %s: %s", id, blocks)
		}
	}

	// I'm the commander, and /incident role commander me.
	w.click(t, w.bob, c1, commands.ButtonCommander)
	w.cmd(w.bob, c2, "role commander me")
	w.eventually("the commander in the header", func() bool { return strings.Contains(w.headerText(c1), "Incident commander: <@"+w.bob+">") })
	w.eventually("the clicker told", func() bool {
		return len(w.emu.Ephemerals(c1, w.bob)) > 0 && strings.Contains(strings.Join(w.emu.Ephemerals(c1, w.bob), "\n"), "Incident commander of INC-1")
	})

	// Post update: the update is required.
	v, _ := w.form(t, w.carol, c1, commands.ButtonStatus)
	wantFormError(t, "blank update", w.submit(t, w.carol, v, map[string]map[string]string{
		"status": {"status": "identified"}, "update": {"update": "   "}}), "update", "needs text")
	if res := w.submit(t, w.carol, v, map[string]map[string]string{
		"status": {"status": "identified"}, "update": {"update": "Pool <leak> & retries"}}); res.ResponseAction != "" || res.Shown != nil {
		t.Errorf("valid update: response_action %q, still shown %v", res.ResponseAction, res.Shown)
	}
	w.cmd(w.carol, c2, "status identified Pool &lt;leak&gt; &amp; retries")
	w.waitText(c1, "Pool &lt;leak&gt; &amp; retries")

	// Add hypothesis, then its submission redelivered.
	v, _ = w.form(t, w.carol, c1, commands.ButtonHypothesis)
	wantFormError(t, "blank hypothesis", w.submit(t, w.carol, v, map[string]map[string]string{"hypothesis": {"hypothesis": "  \n "}}), "hypothesis", "Say what")
	w.submit(t, w.carol, v, map[string]map[string]string{"hypothesis": {"hypothesis": "The retry path leaks"}})
	w.cmd(w.carol, c2, "hypothesis The retry path leaks")
	redelivered := w.emu.EmitEnvelope("interactive", map[string]any{
		"type": "view_submission", "team": map[string]any{"id": w.emu.Config().TeamID}, "user": map[string]any{"id": w.carol},
		"trigger_id": "1.2.redelivered",
		"view": map[string]any{"id": v.ID, "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.PrivateMetadata,
			"state": map[string]any{"values": map[string]any{"hypothesis": map[string]any{"hypothesis": map[string]any{"type": "plain_text_input", "value": "The retry path leaks"}}}}},
	})
	w.eventually("the redelivery acknowledged", func() bool { return w.emu.Acked(redelivered) })

	// Add action item: the text is required, a past due date is refused.
	due := time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02")
	v, _ = w.form(t, w.alice, c1, commands.ButtonAction)
	wantFormError(t, "blank action", w.submit(t, w.alice, v, map[string]map[string]string{"action": {"action": " "}}), "action", "Say what needs doing")
	wantFormError(t, "past due date", w.submit(t, w.alice, v, map[string]map[string]string{
		"action": {"action": "Alert on pool saturation"}, "owner": {"owner": w.bob}, "due": {"due": "2001-01-01"}}), "due", "in the past")
	w.submit(t, w.alice, v, map[string]map[string]string{"action": {"action": "Alert on pool saturation"}, "owner": {"owner": w.bob}, "due": {"due": due}})
	w.cmd(w.alice, c2, "action Alert on pool saturation <@"+w.bob+"> due:"+due)
	v, _ = w.form(t, w.alice, c1, commands.ButtonAction)
	w.submit(t, w.alice, v, map[string]map[string]string{"action": {"action": "Add a leak test"}}) // owner and due are optional
	w.cmd(w.alice, c2, "action Add a leak test")

	// Resolve, with a summary; the header loses Resolve, keeps the follow-up buttons.
	v, statusClick := w.form(t, w.bob, c1, commands.ButtonResolve)
	w.submit(t, w.bob, v, map[string]map[string]string{"summary": {"summary": "Rolled back"}})
	w.cmd(w.bob, c2, "resolve Rolled back")
	w.eventually("the header without Resolve", func() bool {
		b := w.headerBlocks(c1)
		return !strings.Contains(b, commands.ButtonResolve) && !strings.Contains(b, commands.ButtonCommander) &&
			!strings.Contains(b, commands.ButtonStatus) && strings.Contains(b, commands.ButtonAction) && strings.Contains(b, commands.ButtonHypothesis)
	})
	// After resolution, Add hypothesis still works, as the command does.
	v, _ = w.form(t, w.carol, c1, commands.ButtonHypothesis)
	w.submit(t, w.carol, v, map[string]map[string]string{"hypothesis": {"hypothesis": "Late thought"}})
	w.cmd(w.carol, c2, "hypothesis Late thought")

	// A click on a stale copy of the header (Resolve, before the refresh reached the client).
	stale := w.emu.EmitEnvelope("interactive", map[string]any{
		"type": "block_actions", "team": map[string]any{"id": w.emu.Config().TeamID}, "user": map[string]any{"id": w.bob},
		"trigger_id": "1.2.stale", "response_url": statusClick.ResponseURL, "channel": map[string]any{"id": c1},
		"container": map[string]any{"type": "message", "message_ts": w.header(c1), "channel_id": c1},
		"actions":   []any{map[string]any{"type": "button", "action_id": commands.ButtonResolve, "block_id": "header_actions", "value": "1", "action_ts": "1.1"}},
	})
	w.eventually("the stale click answered", func() bool {
		return w.emu.Acked(stale) && strings.Contains(strings.Join(w.emu.Ephemerals(c1, w.bob), "\n"), "already resolved")
	})

	// Role DMs, for a button and for commands.
	w.cmd(w.alice, c2, "role ops <@"+w.carol+">") // resolved: refused, no DM
	w.eventually("the commander's DMs", func() bool { return len(w.emu.DMs(w.bob)) >= 2 })
	dms := strings.Join(w.emu.DMs(w.bob), "\n")
	wantAll(t, "bob's DMs", dms, "*Incident commander* of *INC-1*", "*Incident commander* of *INC-2*", "Coordinate", "<#"+c1+">", "/incident status")
	settle()
	if n := len(w.emu.DMs(w.carol)); n != 0 {
		t.Errorf("carol got %d DMs for a refused role", n)
	}
	bot.stop(t)

	db := w.openDB()
	got, want := timeline(t, db, 1), timeline(t, db, 2)
	for _, kind := range []incidentbot.EventKind{incidentbot.EventRole, incidentbot.EventStatus, incidentbot.EventHypothesis, incidentbot.EventAction, incidentbot.EventResolved} {
		g, wnt := ofKind(got, kind), ofKind(want, kind)
		if len(g) != len(wnt) || len(g) == 0 {
			t.Errorf("%s: %d events from the buttons, %d from the commands", kind, len(g), len(wnt))
			continue
		}
		for i := range g {
			a, b := g[i], wnt[i]
			if a.Actor != b.Actor || a.Text != b.Text || a.Ref != b.Ref || a.From != b.From || a.To != b.To {
				t.Errorf("%s event from the button %+v, from the command %+v", kind, a, b)
			}
		}
	}
	inc1, err1 := db.Incident(context.Background(), 1)
	inc2, err2 := db.Incident(context.Background(), 2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if inc1.Roles[incidentbot.RoleCommander] != w.bob || inc1.Summary != inc2.Summary || inc1.Status != incidentbot.StatusResolved {
		t.Errorf("INC-1 = %+v", inc1)
	}
	if len(inc1.Actions) != 2 || inc1.Actions[0].Owner != w.bob || inc1.Actions[0].Due != due || inc1.Actions[0].CreatedBy != w.alice ||
		inc1.Actions[1].Owner != "" || inc1.Actions[1].Due != "" {
		t.Errorf("INC-1 actions = %+v", inc1.Actions)
	}
	if len(inc1.Hypotheses) != 2 || inc1.Hypotheses[0].Author != w.carol {
		t.Errorf("INC-1 hypotheses = %+v (the redelivered submission must be applied once)", inc1.Hypotheses)
	}
	var meta struct{ Incident int64 }
	if json.Unmarshal([]byte(v.PrivateMetadata), &meta); meta.Incident != 1 {
		t.Errorf("form private_metadata = %q", v.PrivateMetadata)
	}
}

func ofKind(evs []incidentbot.TimelineEvent, kind incidentbot.EventKind) []incidentbot.TimelineEvent {
	var out []incidentbot.TimelineEvent
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestOnCallCommanderDM: the PagerDuty on-call made commander gets the
// commander's DM, once.
func TestOnCallCommanderDM(t *testing.T) {
	_, env := withPD(t)
	w := newWorld(t, slackemu.Config{})
	bot := w.start(env)
	c := w.openIncident(w.alice, "sev1 Payments down", "inc-1-payments-down")
	w.eventually("the on-call's DM", func() bool { return len(w.emu.DMs(w.carol)) > 0 })
	wantAll(t, "on-call DM", w.emu.DMs(w.carol)[0], "*Incident commander* of *INC-1*", "<#"+c+">", "Coordinate")
	settle()
	if n := len(w.emu.DMs(w.carol)); n != 1 {
		t.Errorf("the on-call got %d DMs, want 1", n)
	}
	bot.stop(t)
}
