package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// eventCount is how many events incident 1 has in the running bot's store.
func eventCount(t *testing.T, r *running) int {
	t.Helper()
	n, err := r.m.Store.EventCount(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPushpinOnFile: a :pushpin: on a file shared in the incident channel
// arrives with item.file as a string, which slack-go cannot decode; it is
// recorded as a key event on the message that shared the file, with the
// file's name and link, and the post-mortem says so. Removing it is
// acknowledged and, as for messages, records nothing.
func TestPushpinOnFile(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev2 Disk full", "inc-1-disk-full")
	ts := w.emu.ShareFile(w.bob, c, "disk-usage.png", "the graph")
	w.eventually("file shared", func() bool {
		return countKind(timeline(t, bot.m.Store, 1), incidentbot.EventFileShared) == 1
	})
	files := w.emu.Files()
	file := files[len(files)-1]
	ev := w.emu.AddFileReaction(w.carol, file.ID, "pushpin")
	if ev == "" {
		t.Fatal("the emulator did not deliver the file reaction")
	}
	w.eventually("the mark acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	var mark *incidentbot.TimelineEvent
	for _, e := range timeline(t, bot.m.Store, 1) {
		if e.Kind == incidentbot.EventKeyMarked {
			mark = &e
		}
	}
	if mark == nil {
		t.Fatal("the :pushpin: on the file was not recorded")
	}
	if mark.TS != ts || mark.Actor != w.carol || len(mark.Files) != 1 || mark.Files[0].ID != file.ID || mark.Files[0].Name != "disk-usage.png" || mark.Files[0].URL == "" {
		t.Errorf("mark = %+v, want carol's mark of %s (%s) on message %s, with its name and link", mark, file.ID, "disk-usage.png", ts)
	}

	// Delivered again: stored once.
	before := eventCount(t, bot)
	w.emu.Redeliver(ev)
	w.eventually("the redelivery acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	if w.emu.RemoveFileReaction(w.carol, file.ID, "pushpin") == "" {
		t.Fatal("the emulator did not deliver the removal")
	}
	w.eventually("the removal acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	if n := eventCount(t, bot); n != before {
		t.Errorf("a redelivery and a removal changed the timeline from %d to %d events", before, n)
	}

	doc, err := w.runCLI("export", "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "File [disk-usage.png](") || !strings.Contains(doc, "marked as a key event (:pushpin:)") {
		t.Errorf("the post-mortem does not show the file's mark:\n%s", doc)
	}
}

// TestOddMessageEvents: a message_changed whose message is null is ignored;
// messages without ts are each recorded once (keyed by their event id, so a
// redelivery is not stored again) instead of all sharing one key.
func TestOddMessageEvents(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev2 Odd events", "inc-1-odd-events")
	w.eventually("settled", func() bool { return w.emu.UnackedCount() == 0 })
	before := eventCount(t, bot)

	w.emu.EmitRawEvent(map[string]any{"type": "message", "subtype": "message_changed", "channel": c, "message": nil, "ts": "1700000000.000100"})
	first := w.emu.EmitRawEvent(map[string]any{"type": "message", "channel": c, "user": w.bob, "text": "first without ts"})
	w.emu.EmitRawEvent(map[string]any{"type": "message", "channel": c, "user": w.bob, "text": "second without ts"})
	w.eventually("acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	w.emu.Redeliver(first)
	w.eventually("redelivery acknowledged", func() bool { return w.emu.UnackedCount() == 0 })

	evs := timeline(t, bot.m.Store, 1)
	if got := len(evs) - before; got != 2 {
		t.Errorf("%d events stored, want the two messages without ts: %+v", got, evs[before:])
	}
	if n := countKind(evs, incidentbot.EventEdited); n != 0 {
		t.Errorf("%d edits stored from a message_changed without a message", n)
	}
	var texts []string
	for _, e := range evs[before:] {
		texts = append(texts, e.Text)
	}
	slices.Sort(texts) // handled concurrently: stored in either order
	if strings.Join(texts, "|") != "first without ts|second without ts" {
		t.Errorf("stored %q", texts)
	}
}

// TestUnknownEnvelopeAcknowledged: an envelope of a type the bot does not
// know is acknowledged, so that Slack does not deliver it again.
func TestUnknownEnvelopeAcknowledged(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	w.start(nil)
	id := w.emu.EmitEnvelope("workflow_step_execute", map[string]any{"something": "new"})
	w.eventually("the unknown envelope acknowledged", func() bool { return w.emu.Acked(id) })
}
