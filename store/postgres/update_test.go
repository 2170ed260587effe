package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// updateFn is UpdateIncident's fn.
type updateFn = func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)

// updateResult is what one UpdateIncident call returned.
type updateResult struct {
	inc      *incidentbot.Incident
	applied  bool
	err      error
	panicked bool
}

// groupOf makes db's updater commit the calls as one group: a first call
// holds the updater in its fn until the calls are queued behind it, then
// lets it go. It returns their results, in the order given.
func groupOf(t *testing.T, db *DB, holdID int64, calls []func() (*incidentbot.Incident, bool, error)) []updateResult {
	t.Helper()
	ctx := context.Background()
	release, holding := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _, err := db.UpdateIncident(ctx, holdID, "", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			select {
			case <-holding:
			default:
				close(holding)
			}
			<-release
			return nil, nil
		})
		if err != nil {
			t.Errorf("the holding update: %v", err)
		}
	})
	<-holding
	groups := db.update.groups.Load()
	out := make([]updateResult, len(calls))
	for i, call := range calls {
		wg.Go(func() {
			defer func() {
				if recover() != nil {
					out[i].panicked = true
				}
			}()
			out[i].inc, out[i].applied, out[i].err = call()
		})
		// One at a time, so that they queue in this order.
		for deadline := time.Now().Add(5 * time.Second); len(db.update.calls) != i+1; {
			if time.Now().After(deadline) {
				t.Fatalf("call %d did not queue", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	wg.Wait()
	if n := db.update.groups.Load() - groups; n != 2 {
		t.Errorf("the holding call and the %d queued took %d groups, want 2", len(calls), n)
	}
	return out
}

// TestUpdateGroup commits calls of two incidents in one group: each
// call's failure is its own (a command key already applied, earlier in
// the group or stored; fn's error, its change unseen by the next call; a
// lost fence; a taken channel; a missing incident; a panic, raised in its
// caller), the others are written together, their events in call order
// with the duplicates skipped.
func TestUpdateGroup(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	db := openAt(t, u, Options{})
	a := storetest.MustCreate(t, db, "a", "CA")
	b := storetest.MustCreate(t, db, "b", "CB")
	if _, applied, err := db.UpdateIncident(ctx, a.ID, "stored-key", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, Text: "before", DedupKey: "ev-0"}}, nil
	}); err != nil || !applied {
		t.Fatalf("first update = %v, %v", applied, err)
	}
	lease := db.Lease(SchedulerLease)
	epoch, ok, err := lease.Acquire(ctx, "me", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	stale := incidentbot.ContextWithFence(ctx, incidentbot.Fence{Name: SchedulerLease, Holder: "me", Epoch: epoch - 1})
	current := incidentbot.ContextWithFence(ctx, incidentbot.Fence{Name: SchedulerLease, Holder: "me", Epoch: epoch})

	refused := errors.New("refused")
	hypothesis := func(text string, evs ...incidentbot.TimelineEvent) updateFn {
		return func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: text})
			return evs, nil
		}
	}
	upd := func(ctx context.Context, id int64, key string, fn updateFn) func() (*incidentbot.Incident, bool, error) {
		return func() (*incidentbot.Incident, bool, error) { return db.UpdateIncident(ctx, id, key, fn) }
	}
	ev := func(text, key string) incidentbot.TimelineEvent {
		return incidentbot.TimelineEvent{Kind: incidentbot.EventHypothesis, Text: text, DedupKey: key}
	}
	res := groupOf(t, db, b.ID, []func() (*incidentbot.Incident, bool, error){
		0: upd(ctx, a.ID, "k1", hypothesis("one", ev("one", "ev-1"))),
		1: upd(ctx, a.ID, "k1", hypothesis("one again")),
		2: upd(ctx, a.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			c.Title = "must not be stored"
			return []incidentbot.TimelineEvent{ev("refused", "")}, refused
		}),
		3: upd(ctx, a.ID, "k2", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			if c.Title != "a" {
				t.Errorf("call 3 saw title %q: a failed call's change", c.Title)
			}
			return hypothesis("two", ev("dup", "ev-1"), ev("dup stored", "ev-0"), ev("two", "ev-2"))(c)
		}),
		4: upd(ctx, a.ID, "stored-key", hypothesis("stored key")),
		5: upd(stale, a.ID, "", hypothesis("stale fence")),
		6: upd(current, a.ID, "", hypothesis("fenced", ev("fenced", ""))),
		7: upd(ctx, b.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			c.ChannelID = "CA"
			return nil, nil
		}),
		8: upd(ctx, 999, "", hypothesis("missing")),
		9: upd(ctx, b.ID, "", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) { panic("boom") }),
		10: upd(ctx, b.ID, "kb", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			c.ChannelID = "CB2"
			return []incidentbot.TimelineEvent{{Kind: incidentbot.EventChannel, Ref: "CB2"}}, nil
		}),
	})
	hyps := func(r updateResult) int {
		if r.inc == nil {
			return -1
		}
		return len(r.inc.Hypotheses)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"0 applied, one hypothesis", res[0].err == nil && res[0].applied && hyps(res[0]) == 1},
		{"1 its key applied earlier in the group", res[1].err == nil && !res[1].applied && hyps(res[1]) == 1},
		{"2 fn's error unchanged", res[2].err == refused && !res[2].applied},
		{"3 applied on 0's result", res[3].err == nil && res[3].applied && hyps(res[3]) == 2},
		{"4 its key stored before", res[4].err == nil && !res[4].applied && hyps(res[4]) == 2},
		{"5 stale fence: EConflict", incidentbot.ErrorCode(res[5].err) == incidentbot.EConflict && strings.Contains(res[5].err.Error(), "lease")},
		{"6 current fence applied", res[6].err == nil && res[6].applied && hyps(res[6]) == 3},
		{"7 channel of another: EConflict", incidentbot.ErrorCode(res[7].err) == incidentbot.EConflict && strings.Contains(res[7].err.Error(), "CA")},
		{"8 missing: ENotFound", incidentbot.ErrorCode(res[8].err) == incidentbot.ENotFound && incidentbot.ErrorMessage(res[8].err) == "INC-999 does not exist"},
		{"9 panicked in its caller", res[9].panicked},
		{"10 applied", res[10].err == nil && res[10].applied && res[10].inc.ChannelID == "CB2"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so", c.name)
		}
	}
	if t.Failed() {
		for i, r := range res {
			t.Logf("call %d: applied=%v err=%v panicked=%v hypotheses=%d", i, r.applied, r.err, r.panicked, hyps(r))
		}
	}
	if n := db.update.alone.Load(); n != 1 {
		t.Errorf("%d calls ran alone, want 1 (the panic)", n)
	}

	got, err := db.Incident(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, h := range got.Hypotheses {
		texts = append(texts, h.Text)
	}
	if got.Title != "a" || strings.Join(texts, ",") != "one,two,fenced" {
		t.Errorf("stored %s: title %q, hypotheses %v; want a, [one two fenced]", a.Key(), got.Title, texts)
	}
	var evs []string
	for _, e := range storetest.AllEvents(t, db, a.ID) {
		evs = append(evs, e.Text)
	}
	if strings.Join(evs, ",") != "before,one,two,fenced" {
		t.Errorf("events of %s = %v; want [before one two fenced] in Seq order", a.Key(), evs)
	}
	if byCh, err := db.IncidentByChannel(ctx, "CB2"); err != nil || byCh.ID != b.ID {
		t.Errorf("IncidentByChannel(CB2) = %v, %v", byCh, err)
	}
	for _, key := range []string{"k1", "k2", "kb"} {
		id := a.ID
		if key == "kb" {
			id = b.ID
		}
		if _, applied, err := db.UpdateIncident(ctx, id, key, hypothesis("again")); err != nil || applied {
			t.Errorf("%s again: applied=%v, %v; want its key stored", key, applied, err)
		}
	}
}

// TestUpdateGroupFailsAlone gives a group a call whose write the database
// refuses (a NUL character, which jsonb cannot hold): the transaction
// fails, every call runs again alone, and only that one fails.
func TestUpdateGroupFailsAlone(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, schemaURL(t), Options{})
	inc := storetest.MustCreate(t, db, "nul", "C1")
	note := func(text string) func() (*incidentbot.Incident, bool, error) {
		return func() (*incidentbot.Incident, bool, error) {
			return db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, Text: text}}, nil
			})
		}
	}
	res := groupOf(t, db, inc.ID, []func() (*incidentbot.Incident, bool, error){note("first"), note("bad\x00"), note("last")})
	if res[0].err != nil || res[2].err != nil || !res[0].applied || !res[2].applied {
		t.Errorf("the good calls: %v, %v; want both applied", res[0].err, res[2].err)
	}
	if res[1].err == nil || res[1].applied {
		t.Errorf("the NUL call: applied=%v, %v; want it refused", res[1].applied, res[1].err)
	}
	if n := db.update.alone.Load(); n != 3 {
		t.Errorf("%d calls ran alone, want the 3 of the failed group", n)
	}
	var texts []string
	for _, e := range storetest.AllEvents(t, db, inc.ID) {
		texts = append(texts, e.Text)
	}
	if len(texts) != 2 || !strings.Contains(strings.Join(texts, ","), "first") || !strings.Contains(strings.Join(texts, ","), "last") {
		t.Errorf("events = %q; want first and last", texts)
	}
}

// TestConformanceSingleUpdates runs the conformance suite with every
// UpdateIncident in a transaction of its own: the path a call of a failed
// group takes.
func TestConformanceSingleUpdates(t *testing.T) {
	baseURL(t)
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storetest.Store {
			db := openAt(t, schemaURL(t), Options{})
			db.singleUpdates = true
			return db
		},
	})
}
