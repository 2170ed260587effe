package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/incidentbot/incidentbot"
)

func TestCreateIncident(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)

	in := newIncident("database down", "C1")
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
	evs := allEvents(t, db, 1)
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
		if got := mustCreate(t, db, fmt.Sprintf("incident %d", want), ""); got.ID != want {
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

func TestCreateIncidentChannelTaken(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustCreate(t, db, "one", "C1")
	_, _, err := db.CreateIncident(ctx, newIncident("two", "C1"), "", msg(0, "", "", "x"))
	if code(err) != incidentbot.EConflict {
		t.Fatalf("CreateIncident on a taken channel = %v, want EConflict", err)
	}
	if incs, _ := db.Incidents(ctx, false); len(incs) != 1 {
		t.Errorf("a refused CreateIncident wrote: %d incidents", len(incs))
	}
	if got := mustCreate(t, db, "three", "C3"); got.ID != 2 {
		t.Errorf("a refused CreateIncident used up an id: next is %d, want 2", got.ID)
	}
}

func TestCreateIncidentDedup(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	first, created, err := db.CreateIncident(ctx, newIncident("api errors", "C1"), "trigger-1", msg(0, "", "", "opened"))
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
	again, created, err := db.CreateIncident(ctx, newIncident("api errors", "C2"), "trigger-1", msg(0, "", "", "opened"))
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
	if next := mustCreate(t, db, "next", ""); next.ID != 2 {
		t.Errorf("next id = %d, want 2", next.ID)
	}
}

func TestCreateIncidentConcurrentDedup(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
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
			inc, ok, err := db.CreateIncident(ctx, newIncident(key, ""), key, msg(0, "", "", key))
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

func TestUpdateIncident(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "latency", "")

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
	evs := allEvents(t, db, inc.ID)
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
	other := mustCreate(t, db, "other", "C9")
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

func TestUpdateIncidentEventDedup(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "dup", "C1")
	if _, err := db.AppendEvents(ctx, msg(inc.ID, "ev-1", "1.0", "captured")); err != nil {
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
	if n, _ := db.AppendEvents(ctx, msg(inc.ID, "ev-2", "1.0", "again")); n != 0 {
		t.Errorf("AppendEvents of a key stored by UpdateIncident stored %d", n)
	}
}

func TestUpdateIncidentFnErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "bad input", "C1")
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

// TestUpdateIncidentFnErrorLeavesBatchAlone runs failing and succeeding
// updates at once, so that they share batches. bbolt re-runs every function
// of a batch in which one returns an error; the store must not let a
// user's error get that far, so each fn runs exactly once.
func TestUpdateIncidentFnErrorLeavesBatchAlone(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "busy", "C1")
	const callers = 64
	var (
		wg    sync.WaitGroup
		calls atomic.Int32
		start = make(chan struct{})
	)
	refused := errors.New("refused")
	for i := range callers {
		wg.Go(func() {
			<-start
			_, applied, err := db.UpdateIncident(ctx, inc.ID, fmt.Sprintf("cmd-%d", i), func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				calls.Add(1)
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
	if n := calls.Load(); n != callers {
		t.Errorf("fns were called %d times for %d callers: batches were re-run", n, callers)
	}
	got, _ := db.Incident(ctx, inc.ID)
	if got.Title != "busy" || len(got.Hypotheses) != callers/2 {
		t.Errorf("incident after the updates: title %q, %d hypotheses; want %q, %d", got.Title, len(got.Hypotheses), "busy", callers/2)
	}
	for _, ev := range allEvents(t, db, inc.ID) {
		if ev.Kind != incidentbot.EventHypothesis {
			t.Errorf("stored event of a failed fn: %+v", ev)
		}
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != callers/2 {
		t.Errorf("EventCount = %d, want %d", n, callers/2)
	}
}

func TestUpdateIncidentConcurrentDedup(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "redelivered", "C1")
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
