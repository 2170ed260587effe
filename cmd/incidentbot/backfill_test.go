package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// backfillWindow is Slack's minute of the 2025 limits (one call of
// conversations.history, and one of conversations.replies, a minute),
// scaled down for the tests: the emulator's Retry-After is whole seconds,
// at least one.
const backfillWindow = time.Second

// limitHistory gives the emulator Slack's 2025 shape for distributed
// non-Marketplace apps: one call a window per history method, 15 messages
// a page.
func limitHistory(emu *slackemu.Server) {
	emu.SetHistoryPageCap(15)
	emu.SetMethodLimit("conversations.history", 1, backfillWindow)
	emu.SetMethodLimit("conversations.replies", 1, backfillWindow)
}

// okCalls counts the calls of method that Slack answered (not 429).
func okCalls(emu *slackemu.Server, method string) int {
	n := 0
	for _, c := range emu.Calls(method) {
		if c.Status == 200 {
			n++
		}
	}
	return n
}

// captured counts, in a timeline, the events of each kind about each
// message ts (key events by ts and actor).
func captured(evs []incidentbot.TimelineEvent) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		if e.Kind.Captured() {
			out[string(e.Kind)+" "+e.TS+" "+e.Actor]++
		}
	}
	return out
}

// pendingGaps reads a running bot's pending gaps.
func pendingGaps(t testing.TB, db database) []incidentbot.Gap {
	t.Helper()
	gs, err := db.PendingGaps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// TestBackfillUnderSlackLimits (issue 11, findings 4 and 8): five incident
// channels get 40 messages each while the bot is stopped, and one message
// is edited, one deleted and one marked with :pushpin: meanwhile (plus a
// thread reply and a file); with conversations.history and
// conversations.replies allowed one call a window and 15 messages a page,
// the restarted bot stores all of it exactly once — the edit with its
// earlier text, the deletion with its text — and a second restart, which
// reads it all again, doubles nothing. /metrics shows the gaps pending
// meanwhile and none after.
func TestBackfillUnderSlackLimits(t *testing.T) {
	addr := freeAddr(t)
	w := newWorld(t, slackemu.Config{})
	extra := map[string]string{"INCIDENTBOT_HTTP_ADDR": addr}
	bot := w.start(extra)
	chans := make([]string, 5)
	for i := range chans {
		chans[i] = w.openIncident(w.alice, fmt.Sprintf("sev2 Outage %d", i+1), fmt.Sprintf("inc-%d-outage-%d", i+1, i+1))
	}
	c1 := chans[0]
	edited := w.emu.PostMessage(w.bob, c1, "db-3 is down")
	deleted := w.emu.PostMessage(w.carol, c1, "wrong channel, sorry")
	marked := w.emu.PostMessage(w.bob, c1, "root cause: an expired certificate")
	w.eventually("the live messages stored", func() bool {
		return countKind(timeline(t, bot.m.Store, 1), incidentbot.EventMessage) == 3
	})
	bot.stop(t)

	// While the bot is away: Slack loses the events (it would otherwise
	// deliver some of them on the next connection).
	w.emu.SetLoseEvents(true)
	missed := map[int64][]string{}
	for i, c := range chans {
		for j := range 40 {
			missed[int64(i+1)] = append(missed[int64(i+1)], w.emu.PostMessage(w.bob, c, fmt.Sprintf("INC-%d missed message %d", i+1, j+1)))
		}
	}
	reply := w.emu.PostReply(w.alice, c1, marked, "renewing it now")
	file := w.emu.ShareFile(w.carol, c1, "latency.png", "the latency graph")
	w.emu.EditMessage(w.bob, c1, edited, "db-3 is down (the primary only)")
	w.emu.DeleteMessage(c1, deleted)
	w.emu.AddReaction(w.alice, c1, marked, "pushpin")
	w.emu.SetLoseEvents(false)
	limitHistory(w.emu)

	want := map[int64]map[string]int{}
	for id, tss := range missed {
		want[id] = map[string]int{}
		for _, ts := range tss {
			want[id]["message "+ts+" "+w.bob] = 1
		}
	}
	for k, v := range map[string]int{
		"message " + edited + " " + w.bob:            1,
		"message " + deleted + " " + w.carol:         1,
		"message " + marked + " " + w.bob:            1,
		"message " + reply + " " + w.alice:           1,
		"file_shared " + file + " " + w.carol:        1,
		"message_edited " + edited + " " + w.bob:     1,
		"message_deleted " + deleted + " " + w.carol: 1,
		"key_event " + marked + " " + w.alice:        1,
	} {
		want[1][k] = v
	}
	complete := func(db database) bool {
		for id, keys := range want {
			got := captured(timeline(t, db, id))
			for k := range keys {
				if got[k] == 0 {
					return false
				}
			}
		}
		return true
	}
	check := func(when string) {
		t.Helper()
		db, err := store.Open(w.dbPath, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for id, keys := range want {
			evs := timeline(t, db, id)
			got := captured(evs)
			for k, n := range got {
				if keys[k] != n {
					t.Errorf("%s: INC-%d has %d × %s, want %d", when, id, n, k, keys[k])
				}
			}
			for k, n := range keys {
				if got[k] != n {
					t.Errorf("%s: INC-%d has %d × %s, want %d", when, id, got[k], k, n)
				}
			}
			if id != 1 {
				continue
			}
			for _, e := range evs {
				switch {
				case e.Kind == incidentbot.EventEdited && (e.PrevText != "db-3 is down" || e.Text != "db-3 is down (the primary only)"):
					t.Errorf("%s: the edit = %+v, want the earlier text kept", when, e)
				case e.Kind == incidentbot.EventDeleted && e.PrevText != "wrong channel, sorry":
					t.Errorf("%s: the deletion = %+v, want its text kept", when, e)
				case e.Kind == incidentbot.EventFileShared && (len(e.Files) != 1 || e.Files[0].Name != "latency.png"):
					t.Errorf("%s: the file = %+v", when, e)
				case e.Kind == incidentbot.EventMessage && e.TS == reply && e.ThreadTS != marked:
					t.Errorf("%s: the reply = %+v, want it in its thread", when, e)
				}
			}
		}
	}

	start := time.Now()
	bot = w.start(extra)
	sawPending := false
	w.eventuallyFor(60*time.Second, "everything missed stored", func() bool {
		if _, body := httpGet("http://" + addr + "/metrics"); metric(body, "incidentbot_backfill_gaps_pending") >= 1 &&
			metric(body, "incidentbot_backfill_oldest_gap_seconds") > 0 {
			sawPending = true
		}
		time.Sleep(40 * time.Millisecond)
		return complete(bot.m.Store) && len(pendingGaps(t, bot.m.Store)) == 0
	})
	took := time.Since(start)
	t.Logf("backfill of 5 channels × 40 messages (and an edit, a deletion, a :pushpin:, a reply, a file) under 1 call per %s per method and 15 messages a page: %s, %d history pages, %d replies pages, %d answered 429",
		backfillWindow, took.Round(10*time.Millisecond), okCalls(w.emu, "conversations.history"), okCalls(w.emu, "conversations.replies"),
		len(w.emu.Calls("conversations.history"))+len(w.emu.Calls("conversations.replies"))-okCalls(w.emu, "conversations.history")-okCalls(w.emu, "conversations.replies"))
	if !sawPending {
		t.Error("/metrics never showed a pending gap with an age")
	}
	w.eventually("/metrics: no gap pending", func() bool {
		_, body := httpGet("http://" + addr + "/metrics")
		return strings.Contains(body, "incidentbot_backfill_gaps_pending 0") && metric(body, "incidentbot_backfill_oldest_gap_seconds") == 0 &&
			metric(body, "incidentbot_backfill_gaps_closed_total") >= 5
	})
	for _, c := range w.emu.Calls("conversations.history") {
		if c.Params.Get("limit") != "15" {
			t.Fatalf("conversations.history asked for limit=%q, want 15", c.Params.Get("limit"))
		}
	}
	bot.stop(t)
	check("after the restart")

	// A second restart reads it all again (the default margin of two
	// minutes reaches back past everything) and doubles nothing.
	pages := okCalls(w.emu, "conversations.history")
	start = time.Now()
	bot = w.start(extra)
	w.eventuallyFor(60*time.Second, "the second backfill", func() bool {
		time.Sleep(40 * time.Millisecond)
		return okCalls(w.emu, "conversations.history") >= pages+len(chans) && len(pendingGaps(t, bot.m.Store)) == 0
	})
	t.Logf("second restart: read back again in %s, %d history pages", time.Since(start).Round(10*time.Millisecond), okCalls(w.emu, "conversations.history")-pages)
	bot.stop(t)
	check("after a second restart")
}

// TestBackfillGapSurvivesRestart: the bot is stopped while it is half way
// through reading back what two channels missed under Slack's limits; the
// gaps stay recorded with their progress, and the next process finishes
// them without reading again what was read (a new, short gap per channel
// aside), storing everything once.
func TestBackfillGapSurvivesRestart(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	chans := []string{
		w.openIncident(w.alice, "sev2 Queue backlog", "inc-1-queue-backlog"),
		w.openIncident(w.alice, "sev3 Slow search", "inc-2-slow-search"),
	}
	for _, c := range chans {
		w.emu.PostMessage(w.bob, c, "before")
	}
	w.eventually("the live messages stored", func() bool {
		return countKind(timeline(t, bot.m.Store, 1), incidentbot.EventMessage) == 1 &&
			countKind(timeline(t, bot.m.Store, 2), incidentbot.EventMessage) == 1
	})
	bot.stop(t)
	w.emu.SetLoseEvents(true)
	missed := map[int64][]string{}
	for i, c := range chans {
		for j := range 40 {
			missed[int64(i+1)] = append(missed[int64(i+1)], w.emu.PostMessage(w.carol, c, fmt.Sprintf("missed %d", j+1)))
		}
	}
	w.emu.SetLoseEvents(false)
	limitHistory(w.emu)
	stored := func(db database) int {
		n := 0
		for id := range missed {
			n += countKind(timeline(t, db, id), incidentbot.EventMessage) - 1
		}
		return n
	}

	bot = w.start(nil)
	w.eventuallyFor(30*time.Second, "a page read back", func() bool {
		time.Sleep(20 * time.Millisecond)
		return stored(bot.m.Store) >= 40
	})
	bot.stop(t)
	db, err := store.Open(w.dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	half := stored(db)
	gaps := pendingGaps(t, db)
	started := 0
	for _, g := range gaps {
		if g.Started() {
			started++
		}
	}
	db.Close()
	if half >= 80 || started == 0 {
		t.Fatalf("after the stop: %d of 80 stored, gaps %+v; want a gap half done", half, gaps)
	}
	pagesBefore := okCalls(w.emu, "conversations.history")

	bot = w.start(nil)
	w.eventuallyFor(30*time.Second, "the gaps finished", func() bool {
		time.Sleep(20 * time.Millisecond)
		return stored(bot.m.Store) == 80 && len(pendingGaps(t, bot.m.Store)) == 0
	})
	bot.stop(t)
	db, err = store.Open(w.dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, tss := range missed {
		got := captured(timeline(t, db, id))
		for _, ts := range tss {
			if n := got["message "+ts+" "+w.carol]; n != 1 {
				t.Errorf("INC-%d: message %s stored %d times", id, ts, n)
			}
		}
	}
	// Reading both channels once takes a page per 15 messages in their
	// history; resuming adds only a page per channel, for the new gap since
	// the stop. Reading again from scratch would add the 3 or more pages
	// read before the stop.
	once := 0
	for _, c := range chans {
		n := 0
		for _, m := range w.emu.Messages(c) {
			if !m.Deleted && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
				n++
			}
		}
		once += (n + 14) / 15
	}
	after := okCalls(w.emu, "conversations.history") - pagesBefore
	if pagesBefore+after > once+len(chans) {
		t.Errorf("%d history pages before the stop and %d after, want at most %d in all: the second process read again what was read", pagesBefore, after, once+len(chans))
	}
	t.Logf("stopped with %d of 80 stored after %d history pages; the next process read %d more (one read of both channels: %d)", half, pagesBefore, after, once)
}
