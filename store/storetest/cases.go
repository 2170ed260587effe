package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

func testCreateIncident(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)

	in := NewIncident("database down", "C1")
	in.ID = 99 // ignored: the store assigns ids
	inc, created, err := db.CreateIncident(ctx, in, "",
		incidentbot.TimelineEvent{IncidentID: 42, Seq: 7, Kind: incidentbot.EventOpened, Actor: "U1", Text: "database down"},
		incidentbot.TimelineEvent{Kind: incidentbot.EventChannel, Ref: "C1", Text: "inc-1-database-down"},
	)
	if err != nil || !created {
		t.Fatalf("CreateIncident = %v, %v", created, err)
	}
	if inc.ID != 1 || in.ID != 1 {
		t.Errorf("first incident: returned id %d, argument's id %d; want 1", inc.ID, in.ID)
	}
	evs := AllEvents(t, db, 1)
	if len(evs) != 2 {
		t.Fatalf("events = %+v, want 2", evs)
	}
	for i, ev := range evs {
		if ev.IncidentID != 1 || ev.Seq != uint64(i+1) {
			t.Errorf("event %d: IncidentID %d, Seq %d; want 1, %d", i, ev.IncidentID, ev.Seq, i+1)
		}
	}
	if evs[0].Kind != incidentbot.EventOpened || evs[1].Kind != incidentbot.EventChannel {
		t.Errorf("events out of order: %s, %s", evs[0].Kind, evs[1].Kind)
	}

	for want := int64(2); want <= 3; want++ {
		if got := MustCreate(t, db, fmt.Sprintf("incident %d", want), ""); got.ID != want {
			t.Errorf("id = %d, want %d", got.ID, want)
		}
	}

	byCh, err := db.IncidentByChannel(ctx, "C1")
	if err != nil || byCh.ID != 1 || byCh.Title != "database down" {
		t.Fatalf("IncidentByChannel(C1) = %+v, %v", byCh, err)
	}
	// Returned values are copies.
	inc.Title = "scribbled"
	inc.Roles[incidentbot.RoleScribe] = "U9"
	byCh.Title = "scribbled too"
	got, err := db.Incident(ctx, 1)
	if err != nil || got.Title != "database down" || got.Roles[incidentbot.RoleScribe] != "" {
		t.Errorf("stored incident changed through a returned value: %+v, %v", got, err)
	}

	if _, err := db.Incident(ctx, 7); code(err) != incidentbot.ENotFound || incidentbot.ErrorMessage(err) != "INC-7 does not exist" {
		t.Errorf("Incident(7) = %v, want ENotFound \"INC-7 does not exist\"", err)
	}
	if _, err := db.IncidentByChannel(ctx, "C404"); code(err) != incidentbot.ENotFound {
		t.Errorf("IncidentByChannel(C404) = %v, want ENotFound", err)
	}
	if _, err := db.IncidentByChannel(ctx, ""); code(err) != incidentbot.ENotFound {
		t.Errorf("IncidentByChannel(\"\") = %v, want ENotFound", err)
	}
}

func testCreateIncidentChannelTaken(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	MustCreate(t, db, "one", "C1")
	_, _, err := db.CreateIncident(ctx, NewIncident("two", "C1"), "", Message(0, "", "", "x"))
	if code(err) != incidentbot.EConflict {
		t.Fatalf("CreateIncident on a taken channel = %v, want EConflict", err)
	}
	if incs, _ := db.Incidents(ctx, false); len(incs) != 1 {
		t.Errorf("a refused CreateIncident wrote: %d incidents", len(incs))
	}
	if got := MustCreate(t, db, "three", "C3"); got.ID != 2 {
		t.Errorf("a refused CreateIncident used up an id: next is %d, want 2", got.ID)
	}
}

func testCreateIncidentDedup(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	first, created, err := db.CreateIncident(ctx, NewIncident("api errors", "C1"), "trigger-1", Message(0, "", "", "opened"))
	if err != nil || !created {
		t.Fatalf("first CreateIncident = %v, %v", created, err)
	}
	// Slack redelivers the command: nothing new, the same incident back,
	// in its current state.
	if _, _, err := db.UpdateIncident(ctx, first.ID, "", func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		inc.Severity = incidentbot.Sev1
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	again, created, err := db.CreateIncident(ctx, NewIncident("api errors", "C2"), "trigger-1", Message(0, "", "", "opened"))
	if err != nil || created {
		t.Fatalf("redelivered CreateIncident: created=%v, %v", created, err)
	}
	if again.ID != first.ID || again.Severity != incidentbot.Sev1 {
		t.Errorf("redelivered CreateIncident returned %+v, want the current INC-%d", again, first.ID)
	}
	if incs, _ := db.Incidents(ctx, false); len(incs) != 1 {
		t.Errorf("%d incidents after a redelivery, want 1", len(incs))
	}
	if n, _ := db.EventCount(ctx, first.ID); n != 1 {
		t.Errorf("%d events after a redelivery, want 1", n)
	}
	if _, err := db.IncidentByChannel(ctx, "C2"); code(err) != incidentbot.ENotFound {
		t.Errorf("a redelivered CreateIncident indexed its channel: %v", err)
	}
	if next := MustCreate(t, db, "next", ""); next.ID != 2 {
		t.Errorf("next id = %d, want 2", next.ID)
	}
}

func testCreateIncidentConcurrentDedup(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	const callers = 32
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		ids     = make([]int64, callers)
	)
	for i := range callers {
		wg.Go(func() {
			// Half share one key, half another; all run at once.
			key := fmt.Sprintf("trigger-%d", i%2)
			inc, ok, err := db.CreateIncident(ctx, NewIncident(key, ""), key, Message(0, "", "", key))
			if err != nil {
				t.Errorf("CreateIncident: %v", err)
				return
			}
			if ok {
				created.Add(1)
			}
			ids[i] = inc.ID
		})
	}
	wg.Wait()
	if created.Load() != 2 {
		t.Errorf("%d callers created an incident, want 2 (one per key)", created.Load())
	}
	for i := range callers {
		if ids[i] != ids[i%2] {
			t.Errorf("caller %d got INC-%d, caller %d INC-%d with the same key", i, ids[i], i%2, ids[i%2])
		}
	}
	incs, _ := db.Incidents(ctx, false)
	if len(incs) != 2 {
		t.Fatalf("%d incidents, want 2", len(incs))
	}
	for _, inc := range incs {
		if n, _ := db.EventCount(ctx, inc.ID); n != 1 {
			t.Errorf("INC-%d has %d events, want 1", inc.ID, n)
		}
	}
}

func testUpdateIncident(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "latency", "")

	got, applied, err := db.UpdateIncident(ctx, inc.ID, "cmd-1", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.ID = 1000 // ignored
		c.ChannelID = "C1"
		c.Status = incidentbot.StatusIdentified
		return []incidentbot.TimelineEvent{
			{IncidentID: 55, Kind: incidentbot.EventChannel, Ref: "C1"},
			{Kind: incidentbot.EventStatus, To: "identified", Text: "found it"},
		}, nil
	})
	if err != nil || !applied {
		t.Fatalf("UpdateIncident = %v, %v", applied, err)
	}
	if got.ID != inc.ID || got.ChannelID != "C1" || got.Status != incidentbot.StatusIdentified {
		t.Errorf("UpdateIncident returned %+v", got)
	}
	evs := AllEvents(t, db, inc.ID)
	if len(evs) != 2 || evs[0].IncidentID != inc.ID || evs[1].Seq != 2 || evs[1].Text != "found it" {
		t.Errorf("events after update = %+v", evs)
	}
	if byCh, err := db.IncidentByChannel(ctx, "C1"); err != nil || byCh.ID != inc.ID {
		t.Errorf("IncidentByChannel(C1) = %+v, %v", byCh, err)
	}

	// The same command again: fn is not called.
	_, applied, err = db.UpdateIncident(ctx, inc.ID, "cmd-1", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		t.Error("fn called for an applied dedup key")
		return nil, nil
	})
	if err != nil || applied {
		t.Errorf("repeated UpdateIncident: applied=%v, %v", applied, err)
	}

	// The channel index follows a changed channel.
	if _, _, err := db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.ChannelID = "C2"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.IncidentByChannel(ctx, "C1"); code(err) != incidentbot.ENotFound {
		t.Errorf("old channel still indexed: %v", err)
	}
	if byCh, err := db.IncidentByChannel(ctx, "C2"); err != nil || byCh.ID != inc.ID {
		t.Errorf("IncidentByChannel(C2) = %+v, %v", byCh, err)
	}

	// A channel of another incident is refused.
	other := MustCreate(t, db, "other", "C9")
	_, _, err = db.UpdateIncident(ctx, other.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.ChannelID = "C2"
		return nil, nil
	})
	if code(err) != incidentbot.EConflict {
		t.Errorf("taking another incident's channel = %v, want EConflict", err)
	}

	// Resolving takes it off the open list.
	if _, _, err := db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.Status = incidentbot.StatusResolved
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	open, err := db.Incidents(ctx, true)
	if err != nil || len(open) != 1 || open[0].ID != other.ID {
		t.Errorf("open incidents = %v, %v; want only INC-%d", open, err, other.ID)
	}
	all, err := db.Incidents(ctx, false)
	if err != nil || len(all) != 2 || all[0].ID != inc.ID || all[1].ID != other.ID {
		t.Errorf("all incidents = %v, %v", all, err)
	}

	_, _, err = db.UpdateIncident(ctx, 77, "", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		t.Error("fn called for a missing incident")
		return nil, nil
	})
	if code(err) != incidentbot.ENotFound || incidentbot.ErrorMessage(err) != "INC-77 does not exist" {
		t.Errorf("UpdateIncident(77) = %v, want ENotFound \"INC-77 does not exist\"", err)
	}
}

func testUpdateIncidentEventDedup(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "dup", "C1")
	if _, err := db.AppendEvents(ctx, Message(inc.ID, "ev-1", "1.0", "captured")); err != nil {
		t.Fatal(err)
	}
	_, _, err := db.UpdateIncident(ctx, inc.ID, "", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		return []incidentbot.TimelineEvent{
			{Kind: incidentbot.EventPinned, TS: "1.0", DedupKey: "ev-1"}, // stored already
			{Kind: incidentbot.EventPinned, TS: "1.0", DedupKey: "ev-2"},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != 2 {
		t.Errorf("EventCount = %d, want 2 (the duplicate skipped)", n)
	}
	if n, _ := db.AppendEvents(ctx, Message(inc.ID, "ev-2", "1.0", "again")); n != 0 {
		t.Errorf("AppendEvents of a key stored by UpdateIncident stored %d", n)
	}
}

func testUpdateIncidentFnErrorWritesNothing(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "bad input", "C1")
	userErr := incidentbot.Errorf(incidentbot.EInvalid, "use /incident severity sev1..sev4")
	_, applied, err := db.UpdateIncident(ctx, inc.ID, "cmd-bad", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.Title = "half-done change"
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventSeverity}}, userErr
	})
	if err != userErr || applied {
		t.Fatalf("UpdateIncident returned %v (applied=%v), want fn's error unchanged", err, applied)
	}
	got, _ := db.Incident(ctx, inc.ID)
	if got.Title != "bad input" {
		t.Errorf("a failed fn's change was stored: %q", got.Title)
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != 0 {
		t.Errorf("a failed fn's events were stored: %d", n)
	}
	// The dedup key was not recorded: the corrected command may reuse it.
	if _, applied, err := db.UpdateIncident(ctx, inc.ID, "cmd-bad", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.Severity = incidentbot.Sev1
		return nil, nil
	}); err != nil || !applied {
		t.Errorf("retry after a failed fn: applied=%v, %v", applied, err)
	}
}

func testUpdateIncidentConcurrentDedup(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "redelivered", "C1")
	const callers = 32
	var (
		wg      sync.WaitGroup
		applied atomic.Int32
		start   = make(chan struct{})
	)
	for range callers {
		wg.Go(func() {
			<-start
			_, ok, err := db.UpdateIncident(ctx, inc.ID, "envelope-1", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: "dns"})
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventHypothesis, Ref: "H1"}}, nil
			})
			if err != nil {
				t.Errorf("UpdateIncident: %v", err)
			}
			if ok {
				applied.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if applied.Load() != 1 {
		t.Errorf("the same dedup key was applied %d times", applied.Load())
	}
	got, _ := db.Incident(ctx, inc.ID)
	if len(got.Hypotheses) != 1 {
		t.Errorf("%d hypotheses, want 1", len(got.Hypotheses))
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

func testAppendEvents(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	b := MustCreate(t, db, "b", "C2")

	n, err := db.AppendEvents(ctx,
		Message(a.ID, "ev-1", "1.1", "one"),
		Message(b.ID, "ev-1", "1.1", "same key, other incident"),
		Message(a.ID, "ev-1", "1.1", "duplicate in the same call"),
		Message(a.ID, "", "1.2", "no key"),
		Message(a.ID, "", "1.2", "no key is never a duplicate"),
		Message(a.ID, "ev-2", "1.3", "two"),
	)
	if err != nil || n != 5 {
		t.Fatalf("AppendEvents = %d, %v; want 5", n, err)
	}
	n, err = db.AppendEvents(ctx, Message(a.ID, "ev-2", "1.3", "redelivered"), Message(a.ID, "ev-3", "1.4", "three"))
	if err != nil || n != 1 {
		t.Fatalf("AppendEvents with one stored key = %d, %v; want 1", n, err)
	}
	if n, err := db.AppendEvents(ctx); n != 0 || err != nil {
		t.Errorf("AppendEvents() = %d, %v", n, err)
	}

	evs := AllEvents(t, db, a.ID)
	wantText := []string{"one", "no key", "no key is never a duplicate", "two", "three"}
	if len(evs) != len(wantText) {
		t.Fatalf("INC-%d has %d events, want %d: %+v", a.ID, len(evs), len(wantText), evs)
	}
	for i, ev := range evs {
		if ev.Text != wantText[i] || ev.Seq != uint64(i+1) || ev.IncidentID != a.ID {
			t.Errorf("event %d = {Seq %d, IncidentID %d, Text %q}, want {%d, %d, %q}", i, ev.Seq, ev.IncidentID, ev.Text, i+1, a.ID, wantText[i])
		}
	}
	if evs := AllEvents(t, db, b.ID); len(evs) != 1 || evs[0].Seq != 1 {
		t.Errorf("INC-%d events = %+v", b.ID, evs)
	}
}

func testAppendEventsUnknownIncident(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	for _, id := range []int64{0, -1, 99} {
		n, err := db.AppendEvents(ctx, Message(a.ID, fmt.Sprint("k", id), "1.0", "fine"), Message(id, "x", "2.0", "lost"))
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

func testAppendEventsConcurrent(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "storm", "C1")
	const callers = 200
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stored [callers]int
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			n, err := db.AppendEvents(ctx, Message(inc.ID, fmt.Sprintf("ev-%d", i), fmt.Sprintf("1700000000.%06d", i), "hello"))
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
	evs := AllEvents(t, db, inc.ID)
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

func testAppendEventsConcurrentDuplicates(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "redeliveries", "C1")
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
			n, err := db.AppendEvents(ctx, Message(inc.ID, key, "1.0", key), Message(inc.ID, key, "1.0", key))
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

func testEvents(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "long", "C1")
	// Enough for a backend that reads in chunks (bbolt: 512) to read several.
	const total = 2*512 + 7
	batch := make([]incidentbot.TimelineEvent, 0, total)
	for i := range total {
		batch = append(batch, Message(inc.ID, fmt.Sprint("ev-", i), "", fmt.Sprint(i)))
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
			if _, err := db.AppendEvents(ctx, Message(inc.ID, "late", "", "late")); err != nil {
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

	none := MustCreate(t, db, "quiet", "C2")
	if got := AllEvents(t, db, none.ID); len(got) != 0 {
		t.Errorf("a new incident has events: %+v", got)
	}
	if err := db.Events(ctx, 404, func(*incidentbot.TimelineEvent) error { return nil }); code(err) != incidentbot.ENotFound {
		t.Errorf("Events(404) = %v, want ENotFound", err)
	}
	if _, err := db.EventCount(ctx, 404); code(err) != incidentbot.ENotFound {
		t.Errorf("EventCount(404) = %v, want ENotFound", err)
	}
}

func testLastEventTS(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "ts", "C1")
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
		{Message(inc.ID, "a", "1700000100.000200", "first"), "1700000100.000200"},
		// A backfilled older message does not move it back.
		{Message(inc.ID, "b", "1700000050.000100", "older"), "1700000100.000200"},
		// Only new messages count: not an edit, a pin or a bot event.
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventEdited, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventPinned, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventStatus, TS: "1700000999.000000"}, "1700000100.000200"},
		{incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventFileShared, TS: "1700000200.000001"}, "1700000200.000001"},
		{Message(inc.ID, "c", "1700000200.000010", "thread reply"), "1700000200.000010"},
		// A duplicate is not stored and does not count.
		{Message(inc.ID, "a", "1800000000.000000", "dup"), "1700000200.000010"},
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
	if _, err := db.AppendEvents(ctx, Message(inc.ID, "", "1700000400.000000", ""), Message(inc.ID, "", "1700000300.000000", "")); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.LastEventTS(ctx, inc.ID); ts != "1700000400.000000" {
		t.Errorf("LastEventTS after one call = %q", ts)
	}
	// A duplicate with a later ts, in a call that stores another message:
	// only what is stored counts.
	if _, err := db.AppendEvents(ctx, Message(inc.ID, "a", "1900000000.000000", "dup"), Message(inc.ID, "e", "1700000500.000000", "")); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.LastEventTS(ctx, inc.ID); ts != "1700000500.000000" {
		t.Errorf("LastEventTS after a duplicate and a message = %q, want 1700000500.000000", ts)
	}
	// Seconds that grow a digit sort after; fractions compare as digits
	// after a point.
	for _, s := range []struct{ ts, want string }{
		{"10000000000.1", "10000000000.1"},
		{"9999999999.999999", "10000000000.1"},
		{"10000000000.09", "10000000000.1"},
		{"10000000000.100001", "10000000000.100001"},
	} {
		if _, err := db.AppendEvents(ctx, Message(inc.ID, "", s.ts, "")); err != nil {
			t.Fatal(err)
		}
		if ts, _ := db.LastEventTS(ctx, inc.ID); ts != s.want {
			t.Errorf("after %s: LastEventTS = %q, want %q", s.ts, ts, s.want)
		}
	}
}

func testFirings(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	if at, err := db.LastFiring(ctx, "actions"); err != nil || !at.IsZero() {
		t.Fatalf("LastFiring of a new store = %v, %v; want zero", at, err)
	}
	first := time.Date(2026, 11, 23, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	if err := db.RecordFiring(ctx, "actions", first); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordFiring(ctx, "other", first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if at, err := db.LastFiring(ctx, "actions"); err != nil || !at.Equal(first) {
		t.Errorf("LastFiring = %v, %v; want %v", at, err, first)
	}
	next := first.AddDate(0, 0, 1)
	if err := db.RecordFiring(ctx, "actions", next); err != nil {
		t.Fatal(err)
	}
	if at, _ := db.LastFiring(ctx, "actions"); !at.Equal(next) {
		t.Errorf("LastFiring after a second firing = %v, want %v", at, next)
	}
	if at, _ := db.LastFiring(ctx, "other"); !at.Equal(first.Add(time.Hour)) {
		t.Errorf("another job's firing = %v, want %v", at, first.Add(time.Hour))
	}
	if be.Reopen != nil {
		db = be.Reopen(t, db, false)
		if at, _ := db.LastFiring(ctx, "actions"); !at.Equal(next) {
			t.Errorf("LastFiring after reopening = %v, want %v", at, next)
		}
	}
}

func testUsers(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	if users, err := db.Users(ctx); err != nil || len(users) != 0 {
		t.Fatalf("Users of a new database = %v, %v", users, err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"}, incidentbot.User{ID: "U2", Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U2", Name: "Bob B."}, incidentbot.User{ID: "U1", Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx); err != nil {
		t.Errorf("PutUsers() = %v", err)
	}
	users, err := db.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]incidentbot.User{"U1": {ID: "U1", Name: "ann"}, "U2": {ID: "U2", Name: "Bob B."}}
	if len(users) != len(want) {
		t.Fatalf("Users = %v, want %v", users, want)
	}
	for id, u := range want {
		if users[id] != u {
			t.Errorf("Users[%s] = %+v, want %+v", id, users[id], u)
		}
	}

	err = db.PutUsers(ctx, incidentbot.User{ID: "U3", Name: "cy"}, incidentbot.User{Name: "nobody"})
	if code(err) != incidentbot.EInvalid {
		t.Errorf("PutUsers with an empty ID = %v, want EInvalid", err)
	}
	if users, _ := db.Users(ctx); len(users) != 2 {
		t.Errorf("a refused PutUsers stored something: %v", users)
	}
}

func testContextDoneBeforeStart(t *testing.T, be Backend) {
	db := be.Open(t)
	inc := MustCreate(t, db, "ctx", "C1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	noop := func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) { return nil, nil }
	calls := map[string]error{}
	_, _, calls["CreateIncident"] = db.CreateIncident(ctx, NewIncident("x", ""), "")
	_, _, calls["UpdateIncident"] = db.UpdateIncident(ctx, inc.ID, "", noop)
	_, calls["AppendEvents"] = db.AppendEvents(ctx, Message(inc.ID, "", "1.0", "x"))
	_, calls["Incident"] = db.Incident(ctx, inc.ID)
	_, calls["IncidentByChannel"] = db.IncidentByChannel(ctx, "C1")
	_, calls["Incidents"] = db.Incidents(ctx, false)
	calls["Events"] = db.Events(ctx, inc.ID, func(*incidentbot.TimelineEvent) error { return nil })
	_, calls["EventCount"] = db.EventCount(ctx, inc.ID)
	_, calls["LastEventTS"] = db.LastEventTS(ctx, inc.ID)
	calls["PutUsers"] = db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"})
	_, calls["Users"] = db.Users(ctx)
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	if incs, _ := db.Incidents(context.Background(), false); len(incs) != 1 {
		t.Errorf("a cancelled CreateIncident wrote: %d incidents", len(incs))
	}
}

func testReopenFindsEverything(t *testing.T, be Backend) {
	if be.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	ctx := context.Background()
	db := be.Open(t)
	a, _, err := db.CreateIncident(ctx, NewIncident("first", "C1"), "cmd-1", Message(0, "", "", "opened"))
	if err != nil {
		t.Fatal(err)
	}
	b := MustCreate(t, db, "second", "C2")
	if _, err := db.AppendEvents(ctx, Message(a.ID, "ev-1", "1700000001.000100", "one"), Message(a.ID, "ev-2", "1700000002.000100", "two")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpdateIncident(ctx, b.ID, "upd-1", func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		inc.Status = incidentbot.StatusResolved
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"}); err != nil {
		t.Fatal(err)
	}

	db = be.Reopen(t, db, false)
	if all, err := db.Incidents(ctx, false); err != nil || len(all) != 2 {
		t.Fatalf("Incidents after reopen = %d, %v", len(all), err)
	}
	if open, err := db.Incidents(ctx, true); err != nil || len(open) != 1 || open[0].ID != a.ID {
		t.Fatalf("open Incidents after reopen = %v, %v", open, err)
	}
	if got, err := db.IncidentByChannel(ctx, "C2"); err != nil || got.ID != b.ID || !got.Resolved() {
		t.Fatalf("IncidentByChannel(C2) after reopen = %+v, %v", got, err)
	}
	if n, err := db.EventCount(ctx, a.ID); err != nil || n != 3 {
		t.Fatalf("EventCount after reopen = %d, %v; want 3", n, err)
	}
	if ts, err := db.LastEventTS(ctx, a.ID); err != nil || ts != "1700000002.000100" {
		t.Fatalf("LastEventTS after reopen = %q, %v", ts, err)
	}
	if users, err := db.Users(ctx); err != nil || users["U1"].Name != "ann" {
		t.Fatalf("Users after reopen = %v, %v", users, err)
	}
	// The dedup records survive too.
	if _, created, err := db.CreateIncident(ctx, NewIncident("first again", ""), "cmd-1"); err != nil || created {
		t.Errorf("CreateIncident with a committed key after reopen: created=%v, %v", created, err)
	}
	if n, err := db.AppendEvents(ctx, Message(a.ID, "ev-2", "1700000002.000100", "two")); err != nil || n != 0 {
		t.Errorf("AppendEvents of a stored key after reopen stored %d, %v", n, err)
	}
	calls := 0
	if _, applied, err := db.UpdateIncident(ctx, b.ID, "upd-1", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		calls++
		return nil, nil
	}); err != nil || applied || calls != 0 {
		t.Errorf("UpdateIncident with an applied key after reopen: applied=%v, fn calls %d, %v", applied, calls, err)
	}
	// The id sequence goes on.
	if c := MustCreate(t, db, "third", ""); c.ID != 3 {
		t.Errorf("next id after reopen = %d, want 3", c.ID)
	}
}

func testBackupDuringWrites(t *testing.T, be Backend) {
	if be.OpenBackup == nil {
		t.Skip("the backend cannot open a backup")
	}
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "backup", "C1")

	var (
		mu        sync.Mutex
		committed []string // dedup keys whose AppendEvents returned
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := db.AppendEvents(ctx, Message(inc.ID, key, "", strings.Repeat("x", 200))); err != nil {
					t.Errorf("AppendEvents: %v", err)
					return
				}
				mu.Lock()
				committed = append(committed, key)
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	before := append([]string(nil), committed...)
	mu.Unlock()

	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()

	if int64(buf.Len()) != n {
		t.Fatalf("Backup reported %d bytes, wrote %d", n, buf.Len())
	}
	if len(before) == 0 {
		t.Fatal("no event was committed before the backup started")
	}
	// The backend's cleanup may check the copy's consistency.
	cp := be.OpenBackup(t, buf.Bytes())
	got := map[string]bool{}
	for _, ev := range AllEvents(t, cp, inc.ID) {
		got[ev.DedupKey] = true
	}
	for _, key := range before {
		if !got[key] {
			t.Errorf("event %s, committed before the backup started, is missing from it", key)
		}
	}
	t.Logf("backup of %d bytes holds %d events; %d were committed before it started", n, len(got), len(before))
}

// testCreateIncidentConcurrentSequence creates incidents from many
// goroutines at once: the ids are 1..n, each handed out once, and a
// channel goes to one incident only.
func testCreateIncidentConcurrentSequence(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	const callers = 40
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		ids      = make([]int64, callers)
		conflict atomic.Int32
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			inc, created, err := db.CreateIncident(ctx, NewIncident(fmt.Sprint("incident ", i), fmt.Sprint("C", i)), "")
			if err != nil || !created {
				t.Errorf("CreateIncident %d = %v, %v", i, created, err)
				return
			}
			ids[i] = inc.ID
			// Everyone also tries the same channel: one wins.
			_, _, err = db.CreateIncident(ctx, NewIncident("contested", "C-shared"), "")
			if code(err) == incidentbot.EConflict {
				conflict.Add(1)
			} else if err != nil {
				t.Errorf("CreateIncident on the shared channel = %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	seen := map[int64]bool{}
	for i, id := range ids {
		if id < 1 || id > 2*callers || seen[id] {
			t.Errorf("caller %d got INC-%d: out of range or handed out twice", i, id)
		}
		seen[id] = true
	}
	if conflict.Load() != callers-1 {
		t.Errorf("%d callers were refused the shared channel, want %d", conflict.Load(), callers-1)
	}
	all, err := db.Incidents(ctx, false)
	if err != nil || len(all) != callers+1 {
		t.Fatalf("Incidents = %d, %v; want %d", len(all), err, callers+1)
	}
	for i, inc := range all {
		if inc.ID != int64(i+1) {
			t.Errorf("incident %d has id %d: ids are not 1..n in order", i, inc.ID)
		}
	}
	if next := MustCreate(t, db, "next", ""); next.ID != callers+2 {
		t.Errorf("next id = %d, want %d", next.ID, callers+2)
	}
}

// testUpdateIncidentFnErrorsConcurrent runs failing and succeeding updates
// at once: a failing fn changes nothing, and does not stop the others.
func testUpdateIncidentFnErrorsConcurrent(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "busy", "C1")
	const callers = 64
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	refused := errors.New("refused")
	for i := range callers {
		wg.Go(func() {
			<-start
			_, applied, err := db.UpdateIncident(ctx, inc.ID, fmt.Sprintf("cmd-%d", i), func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				if i%2 == 1 {
					c.Title = "must not be stored"
					return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, Text: "must not be stored"}}, refused
				}
				c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: fmt.Sprint(i)})
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventHypothesis, Text: fmt.Sprint(i)}}, nil
			})
			switch {
			case i%2 == 1 && (err != refused || applied):
				t.Errorf("caller %d: %v (applied=%v), want its fn's error", i, err, applied)
			case i%2 == 0 && (err != nil || !applied):
				t.Errorf("caller %d: %v (applied=%v), want applied", i, err, applied)
			}
		})
	}
	close(start)
	wg.Wait()
	got, _ := db.Incident(ctx, inc.ID)
	if got.Title != "busy" || len(got.Hypotheses) != callers/2 {
		t.Errorf("incident after the updates: title %q, %d hypotheses; want %q, %d", got.Title, len(got.Hypotheses), "busy", callers/2)
	}
	for _, ev := range AllEvents(t, db, inc.ID) {
		if ev.Kind != incidentbot.EventHypothesis {
			t.Errorf("stored event of a failed fn: %+v", ev)
		}
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != callers/2 {
		t.Errorf("EventCount = %d, want %d", n, callers/2)
	}
}

// testUpdateIncidentNoLostUpdate runs read-modify-write updates of one
// incident from many goroutines: each sees the result of the ones before,
// so none is lost.
func testUpdateIncidentNoLostUpdate(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "counter", "C1")
	const callers, each = 20, 5
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for j := range each {
				_, _, err := db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
					c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: fmt.Sprintf("%d-%d", i, j)})
					return nil, nil
				})
				if err != nil {
					t.Errorf("UpdateIncident: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got, err := db.Incident(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Hypotheses) != callers*each {
		t.Fatalf("%d hypotheses after %d updates: updates were lost", len(got.Hypotheses), callers*each)
	}
	texts := map[string]bool{}
	for i, h := range got.Hypotheses {
		if h.ID != i+1 {
			t.Errorf("hypothesis %d has ID %d: two updates saw the same state", i, h.ID)
		}
		texts[h.Text] = true
	}
	if len(texts) != callers*each {
		t.Errorf("%d distinct hypotheses, want %d", len(texts), callers*each)
	}
}

// testEventsArrivalOrder stores messages out of Slack ts order (a backfill
// after a reconnect, a late redelivery): Events gives them in the order
// they were stored, Seq 1..n, and LastEventTS the greatest ts.
func testEventsArrivalOrder(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "order", "C1")
	arrival := []string{"1700000300.000000", "1700000100.000000", "1700000200.000500", "999999999.000000", "1700000200.000100"}
	for _, ts := range arrival {
		if n, err := db.AppendEvents(ctx, Message(inc.ID, "msg:"+ts, ts, ts)); err != nil || n != 1 {
			t.Fatalf("AppendEvents(%s) = %d, %v", ts, n, err)
		}
	}
	evs := AllEvents(t, db, inc.ID)
	if len(evs) != len(arrival) {
		t.Fatalf("%d events, want %d", len(evs), len(arrival))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.TS != arrival[i] {
			t.Errorf("event %d = Seq %d, TS %s; want Seq %d, TS %s", i, ev.Seq, ev.TS, i+1, arrival[i])
		}
	}
	if ts, err := db.LastEventTS(ctx, inc.ID); err != nil || ts != "1700000300.000000" {
		t.Errorf("LastEventTS = %q, %v; want the greatest ts", ts, err)
	}
}

// testClosed checks that writes to a closed store fail with EUnavailable,
// and reads fail, rather than pretend to succeed.
func testClosed(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "closed", "C1")
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	writes := map[string]error{}
	_, _, writes["CreateIncident"] = db.CreateIncident(ctx, NewIncident("late", ""), "")
	_, _, writes["UpdateIncident"] = db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.Title = "late"
		return nil, nil
	})
	_, writes["AppendEvents"] = db.AppendEvents(ctx, Message(inc.ID, "late", "1.0", "late"))
	writes["PutUsers"] = db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"})
	for name, err := range writes {
		if code(err) != incidentbot.EUnavailable {
			t.Errorf("%s after Close = %v (code %q), want EUnavailable", name, err, code(err))
		}
	}
	if _, err := db.Incident(ctx, inc.ID); err == nil {
		t.Error("Incident after Close succeeded")
	}
}

// testReadOnly checks a read-only store (export and list open one while
// serve runs elsewhere): it reads everything, and every write fails with
// EUnavailable.
func testReadOnly(t *testing.T, be Backend) {
	if be.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	ctx := context.Background()
	db := be.Open(t)
	inc := MustCreate(t, db, "disk", "C1", Message(0, "m1", "1.0", "hi"))
	ro := be.Reopen(t, db, true)
	got, err := ro.Incident(ctx, inc.ID)
	if err != nil || got.Title != "disk" {
		t.Fatalf("read-only Incident = %+v, %v", got, err)
	}
	if evs := AllEvents(t, ro, inc.ID); len(evs) != 1 || evs[0].Text != "hi" {
		t.Errorf("read-only Events = %+v", evs)
	}
	writes := map[string]error{}
	_, writes["AppendEvents"] = ro.AppendEvents(ctx, Message(inc.ID, "m2", "2.0", "more"))
	_, _, writes["CreateIncident"] = ro.CreateIncident(ctx, NewIncident("new", ""), "")
	_, _, writes["UpdateIncident"] = ro.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		c.Title = "changed"
		return nil, nil
	})
	writes["PutUsers"] = ro.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "ann"})
	for name, err := range writes {
		if code(err) != incidentbot.EUnavailable {
			t.Errorf("%s on a read-only store = %v (code %q), want EUnavailable", name, err, code(err))
		}
	}
	if n, _ := ro.EventCount(ctx, inc.ID); n != 1 {
		t.Errorf("EventCount after refused writes = %d, want 1", n)
	}
}
