package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

func TestAppendEvents(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := mustCreate(t, db, "a", "C1")
	b := mustCreate(t, db, "b", "C2")

	n, err := db.AppendEvents(ctx,
		msg(a.ID, "ev-1", "1.1", "one"),
		msg(b.ID, "ev-1", "1.1", "same key, other incident"),
		msg(a.ID, "ev-1", "1.1", "duplicate in the same call"),
		msg(a.ID, "", "1.2", "no key"),
		msg(a.ID, "", "1.2", "no key is never a duplicate"),
		msg(a.ID, "ev-2", "1.3", "two"),
	)
	if err != nil || n != 5 {
		t.Fatalf("AppendEvents = %d, %v; want 5", n, err)
	}
	n, err = db.AppendEvents(ctx, msg(a.ID, "ev-2", "1.3", "redelivered"), msg(a.ID, "ev-3", "1.4", "three"))
	if err != nil || n != 1 {
		t.Fatalf("AppendEvents with one stored key = %d, %v; want 1", n, err)
	}
	if n, err := db.AppendEvents(ctx); n != 0 || err != nil {
		t.Errorf("AppendEvents() = %d, %v", n, err)
	}

	evs := allEvents(t, db, a.ID)
	wantText := []string{"one", "no key", "no key is never a duplicate", "two", "three"}
	if len(evs) != len(wantText) {
		t.Fatalf("INC-%d has %d events, want %d: %+v", a.ID, len(evs), len(wantText), evs)
	}
	for i, ev := range evs {
		if ev.Text != wantText[i] || ev.Seq != uint64(i+1) || ev.IncidentID != a.ID {
			t.Errorf("event %d = {Seq %d, IncidentID %d, Text %q}, want {%d, %d, %q}", i, ev.Seq, ev.IncidentID, ev.Text, i+1, a.ID, wantText[i])
		}
	}
	if evs := allEvents(t, db, b.ID); len(evs) != 1 || evs[0].Seq != 1 {
		t.Errorf("INC-%d events = %+v", b.ID, evs)
	}
}

func TestAppendEventsUnknownIncident(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := mustCreate(t, db, "a", "C1")
	for _, id := range []int64{0, -1, 99} {
		n, err := db.AppendEvents(ctx, msg(a.ID, fmt.Sprint("k", id), "1.0", "fine"), msg(id, "x", "2.0", "lost"))
		if code(err) != incidentbot.ENotFound || n != 0 {
			t.Errorf("AppendEvents to INC-%d = %d, %v; want ENotFound", id, n, err)
		}
	}
	if n, _ := db.EventCount(ctx, a.ID); n != 0 {
		t.Errorf("a refused call stored %d events", n)
	}
	if ts, _ := db.LastEventTS(ctx, a.ID); ts != "" {
		t.Errorf("a refused call moved LastEventTS to %q", ts)
	}
}

func TestAppendEventsConcurrent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "storm", "C1")
	const callers = 200
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stored [callers]int
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			n, err := db.AppendEvents(ctx, msg(inc.ID, fmt.Sprintf("ev-%d", i), fmt.Sprintf("1700000000.%06d", i), "hello"))
			if err != nil {
				t.Errorf("AppendEvents %d: %v", i, err)
			}
			stored[i] = n
		})
	}
	close(start)
	wg.Wait()
	for i, n := range stored {
		if n != 1 {
			t.Errorf("caller %d stored %d events, want 1", i, n)
		}
	}
	evs := allEvents(t, db, inc.ID)
	if len(evs) != callers {
		t.Fatalf("%d events stored, want %d", len(evs), callers)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has Seq %d", i, ev.Seq)
		}
		seen[ev.DedupKey] = true
	}
	if len(seen) != callers {
		t.Errorf("%d distinct events, want %d", len(seen), callers)
	}
	if ts, _ := db.LastEventTS(ctx, inc.ID); ts != fmt.Sprintf("1700000000.%06d", callers-1) {
		t.Errorf("LastEventTS = %q", ts)
	}
}

func TestAppendEventsConcurrentDuplicates(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "redeliveries", "C1")
	const keys, copies = 20, 5
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		total int
	)
	for i := range keys * copies {
		wg.Go(func() {
			<-start
			key := fmt.Sprintf("ev-%d", i%keys)
			n, err := db.AppendEvents(ctx, msg(inc.ID, key, "1.0", key), msg(inc.ID, key, "1.0", key))
			if err != nil {
				t.Errorf("AppendEvents: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if total != keys {
		t.Errorf("callers report %d stored, want %d", total, keys)
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != keys {
		t.Errorf("EventCount = %d, want %d", n, keys)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "long", "C1")
	// More than one read chunk.
	const total = 2*eventsPerRead + 7
	batch := make([]incidentbot.TimelineEvent, 0, total)
	for i := range total {
		batch = append(batch, msg(inc.ID, fmt.Sprint("ev-", i), "", fmt.Sprint(i)))
	}
	if n, err := db.AppendEvents(ctx, batch...); err != nil || n != total {
		t.Fatalf("AppendEvents = %d, %v", n, err)
	}
	if n, err := db.EventCount(ctx, inc.ID); err != nil || n != total {
		t.Errorf("EventCount = %d, %v; want %d", n, err, total)
	}

	// fn runs outside any transaction: it may write, and what it writes
	// after Events started is not part of this iteration.
	var got []incidentbot.TimelineEvent
	err := db.Events(ctx, inc.ID, func(ev *incidentbot.TimelineEvent) error {
		got = append(got, *ev)
		if ev.Seq == 1 {
			if _, err := db.AppendEvents(ctx, msg(inc.ID, "late", "", "late")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("Events gave %d events, want %d", len(got), total)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Text != fmt.Sprint(i) {
			t.Fatalf("event %d = Seq %d, Text %q", i, ev.Seq, ev.Text)
		}
	}

	stop := errors.New("enough")
	calls := 0
	err = db.Events(ctx, inc.ID, func(*incidentbot.TimelineEvent) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("Events with a failing fn = %v after %d calls, want its error after 3", err, calls)
	}

	none := mustCreate(t, db, "quiet", "C2")
	if got := allEvents(t, db, none.ID); len(got) != 0 {
		t.Errorf("a new incident has events: %+v", got)
	}
	if err := db.Events(ctx, 404, func(*incidentbot.TimelineEvent) error { return nil }); code(err) != incidentbot.ENotFound {
		t.Errorf("Events(404) = %v, want ENotFound", err)
	}
	if _, err := db.EventCount(ctx, 404); code(err) != incidentbot.ENotFound {
		t.Errorf("EventCount(404) = %v, want ENotFound", err)
	}
}

func TestLastEventTS(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "ts", "C1")
	if ts, err := db.LastEventTS(ctx, inc.ID); err != nil || ts != "" {
		t.Errorf("LastEventTS of a new incident = %q, %v", ts, err)
	}
	if _, err := db.LastEventTS(ctx, 404); code(err) != incidentbot.ENotFound {
		t.Errorf("LastEventTS(404) = %v, want ENotFound", err)
	}
	steps := []struct {
		ev   incidentbot.TimelineEvent
		want string
	}{
		{msg(inc.ID, "a", "1700000100.000200", "first"), "1700000100.000200"},
		// A backfilled older message does not move it back.
		{msg(inc.ID, "b", "1700000050.000100", "older"), "1700000100.000200"},
		// Only new messages count: not an edit, a pin or a bot event.
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventEdited, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventPinned, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventStatus, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventFileShared, TS: "1700000200.000001"}, "1700000200.000001"},
		{msg(inc.ID, "c", "1700000200.000010", "thread reply"), "1700000200.000010"},
		// A duplicate is not stored and does not count.
		{msg(inc.ID, "a", "1800000000.000000", "dup"), "1700000200.000010"},
	}
	for i, s := range steps {
		if _, err := db.AppendEvents(ctx, s.ev); err != nil {
			t.Fatal(err)
		}
		if ts, err := db.LastEventTS(ctx, inc.ID); err != nil || ts != s.want {
			t.Errorf("step %d: LastEventTS = %q, %v; want %q", i, ts, err, s.want)
		}
	}
	// Events in one call: the greatest wins, whatever the order.
	if _, err := db.AppendEvents(ctx, msg(inc.ID, "", "1700000400.000000", ""), msg(inc.ID, "", "1700000300.000000", "")); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.LastEventTS(ctx, inc.ID); ts != "1700000400.000000" {
		t.Errorf("LastEventTS after one call = %q", ts)
	}
}

func TestTSLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", false},
		{"", "1.0", true},
		{"1.0", "", false},
		{"1700000000.000100", "1700000000.000200", true},
		{"1700000000.000200", "1700000000.000100", false},
		{"1700000000.000100", "1700000000.000100", false},
		{"1700000000.999999", "1700000001.000000", true},
		{"999999999.999999", "1000000000.000000", true},
		{"1000000000.000000", "999999999.999999", false},
		{"1700000000.1", "1700000000.000200", false},
		{"1700000000", "1700000000.000001", true},
		{"0001.5", "2.0", true},
	}
	for _, tt := range tests {
		if got := tsLess(tt.a, tt.b); got != tt.want {
			t.Errorf("tsLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestEventEncoding checks that the bytes stored for an event are exactly
// encoding/json's encoding of it with its Seq, however its text looks: the
// store encodes before the transaction and splices Seq in.
func TestEventEncoding(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "json", "C1")
	texts := []string{
		`plain`,
		`,"seq":0,`,
		`{"incident_id":1,"seq":0,"kind":"message"}`,
		"quotes \" and \\ and \u2028 and <b>&amp;</b>",
		``,
	}
	var events []incidentbot.TimelineEvent
	for i, text := range texts {
		ev := msg(inc.ID, fmt.Sprint("k", i), fmt.Sprintf("1.%06d", i), text)
		ev.Seq = 12345 // ignored
		ev.Files = []incidentbot.File{{Name: `,"seq":0,`, URL: "https://example.invalid/f"}}
		events = append(events, ev)
	}
	if _, err := db.AppendEvents(ctx, events...); err != nil {
		t.Fatal(err)
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		tl := openTimeline(tx, inc.ID)
		for i, ev := range events {
			ev.Seq = uint64(i + 1)
			want, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if got := tl.events.Get(itob(ev.Seq)); !bytes.Equal(got, want) {
				t.Errorf("event %d stored as\n%s\nwant\n%s", i, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range allEvents(t, db, inc.ID) {
		if ev.Text != texts[i] || ev.Seq != uint64(i+1) || ev.Files[0].Name != `,"seq":0,` {
			t.Errorf("event %d read back as %+v", i, ev)
		}
	}
}
