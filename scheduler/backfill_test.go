package scheduler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/scheduler"
)

// backfill is a scheduler.Backfill that counts its runs.
type backfill struct {
	runs  atomic.Int32
	retry atomic.Int64 // nanoseconds
	wake  chan struct{}
}

func (b *backfill) Backfill(ctx context.Context) (time.Duration, error) {
	b.runs.Add(1)
	return time.Duration(b.retry.Load()), nil
}

func (b *backfill) BackfillWake() <-chan struct{} { return b.wake }

// TestBackfillRunsWhenWokenAndWhenDue: the backfill runs when Run starts
// (gaps left by a previous process), each time gaps are recorded, and when
// a failed gap is due again; it runs beside the other work and stops with
// Run.
func TestBackfillRunsWhenWokenAndWhenDue(t *testing.T) {
	s, err := scheduler.New(scheduler.Config{Tick: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b := &backfill{wake: make(chan struct{}, 1)}
	s.Schedule(scheduler.Jobs{Incidents: openStore(t), Backfill: b})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, "the run at start", func() bool { return b.runs.Load() == 1 })
	time.Sleep(20 * time.Millisecond)
	if n := b.runs.Load(); n != 1 {
		t.Fatalf("%d runs with nothing to do, want 1", n)
	}
	b.retry.Store(int64(30 * time.Millisecond)) // the next run leaves a gap due in 30ms
	b.wake <- struct{}{}
	eventually(t, "the run when woken", func() bool { return b.runs.Load() == 2 })
	eventually(t, "the run when the failed gap is due", func() bool { return b.runs.Load() >= 3 })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return")
	}
}
