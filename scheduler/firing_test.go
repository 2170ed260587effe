package scheduler_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/store"
)

// TestCronFiringSurvivesRestart: with the store remembering the action
// cron's firings, a scheduler started after a firing it ran does not run
// it again, and one started after a firing that came while none ran (a
// restart or a lease changing hands across 09:00) runs it at once, once;
// several missed firings run once. Without the record, the missed firing
// waited for the next day.
func TestCronFiringSurvivesRestart(t *testing.T) {
	db := openStore(t)
	clk := newClock(time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC))
	o := &overdue{}
	run := func() func() { return startCron(t, db, clk, o) }
	settleRuns := func(want int32, what string) {
		t.Helper()
		eventually(t, what, func() bool { return o.runs.Load() >= want })
		time.Sleep(20 * time.Millisecond)
		if n := o.runs.Load(); n != want {
			t.Fatalf("%s: %d runs, want %d", what, n, want)
		}
	}

	stop := run()
	clk.Set(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	settleRuns(1, "the 09:00 firing")
	stop()

	clk.Set(time.Date(2026, 11, 23, 9, 5, 0, 0, time.UTC))
	stop = run() // restarted after the firing it ran: nothing to catch up
	settleRuns(1, "a restart after the firing")
	stop()

	clk.Set(time.Date(2026, 11, 24, 9, 10, 0, 0, time.UTC))
	stop = run() // nobody ran the scheduler at 09:00
	settleRuns(2, "the missed firing, caught up at start")
	stop()

	clk.Set(time.Date(2026, 11, 24, 9, 20, 0, 0, time.UTC))
	stop = run()
	settleRuns(2, "a restart after the caught-up firing")
	stop()

	clk.Set(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	stop = run() // three firings missed
	settleRuns(3, "three missed firings, run once")
	clk.Set(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	settleRuns(4, "the next day's firing")
	stop()
}

// TestCronFiringCutShortResumed: a firing whose run did not end (its
// holder died, or lost the lease, in the middle of it) is run again, for
// the same firing, when the scheduler next starts, and then recorded as
// done; one that ended is not. A store that never recorded an end (written
// before ends were recorded) has nothing to resume; a new store's first
// firing cut short is resumed.
func TestCronFiringCutShortResumed(t *testing.T) {
	ctx := context.Background()
	fired := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		done    time.Time // the last firing recorded as done
		resumed bool
	}{
		{"cut short", fired.Add(-24 * time.Hour), true},
		{"ended", fired, false},
		{"no end ever recorded", time.Time{}, false},
		{"a new store's first firing", time.Unix(0, 0), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openStore(t)
			if tt.done.Equal(time.Unix(0, 0)) {
				// A scheduler ran on the new store before the firing.
				startCron(t, db, newClock(fired.Add(-time.Hour)), &overdue{})()
				tt.done = time.Time{}
			}
			if err := db.RecordFiring(ctx, "action_reminders", fired); err != nil {
				t.Fatal(err)
			}
			if !tt.done.IsZero() {
				if err := db.RecordFiring(ctx, "action_reminders_done", tt.done); err != nil {
					t.Fatal(err)
				}
			}
			clk := newClock(fired.Add(5 * time.Minute))
			o := &overdue{}
			run := func() { startCron(t, db, clk, o)() }
			run()
			want := []time.Time{}
			if tt.resumed {
				want = []time.Time{fired}
			}
			if got := o.ran(); !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Fatalf("ran the firings %v, want %v", got, want)
			}
			if tt.resumed {
				if d, err := db.LastFiring(ctx, "action_reminders_done"); err != nil || !d.Equal(fired) {
					t.Errorf("done recorded at %v (%v), want %v", d, err, fired)
				}
			}
			run() // a restart: nothing more
			if got := o.ran(); len(got) != len(want) {
				t.Errorf("after a restart, ran the firings %v, want %v", got, want)
			}
		})
	}
}

// startCron starts a scheduler on db running the action cron at 09:00
// (o its overdue job, clk its clock), lets it run a moment, and returns
// its stop, which waits for Run to return.
func startCron(t *testing.T, db *store.DB, clk *clock, o *overdue) (stop func()) {
	t.Helper()
	s, err := scheduler.New(scheduler.Config{Now: clk.Now, Tick: time.Millisecond, ActionCron: "0 9 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	s.Schedule(scheduler.Jobs{Incidents: db, Overdue: o, Firings: db})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}
