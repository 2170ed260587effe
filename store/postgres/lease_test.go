package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/store/storetest"
)

func TestLease(t *testing.T) {
	u := schemaURL(t)
	a, b := openAt(t, u, Options{}), openAt(t, u, Options{})
	ctx := context.Background()
	la, lb := a.Lease(SchedulerLease), b.Lease(SchedulerLease)
	const ttl = 2 * time.Second

	epoch, ok, err := la.Acquire(ctx, "a", ttl)
	if err != nil || !ok || epoch != 1 {
		t.Fatalf("a's Acquire = %d, %v, %v; want 1, true", epoch, ok, err)
	}
	if _, ok, err := lb.Acquire(ctx, "b", ttl); err != nil || ok {
		t.Fatalf("b took a lease a holds: %v, %v", ok, err)
	}
	if ok, err := la.Renew(ctx, "a", epoch, ttl); err != nil || !ok {
		t.Fatalf("a's Renew = %v, %v", ok, err)
	}
	if ok, err := lb.Renew(ctx, "b", epoch, ttl); err != nil || ok {
		t.Fatalf("b renewed a's lease: %v, %v", ok, err)
	}

	// A write fenced by a's lease goes through; once a released it and b
	// took it, a write fenced by a's epoch is refused and changes nothing.
	inc := storetest.MustCreate(t, a, "fenced", "C1")
	fa := incidentbot.ContextWithFence(ctx, incidentbot.Fence{Name: SchedulerLease, Holder: "a", Epoch: epoch})
	remind := func(at time.Time) func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		return func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
			i.LastReminderAt = at
			return []incidentbot.TimelineEvent{{Kind: incidentbot.EventReminder, At: at}}, nil
		}
	}
	first := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if _, applied, err := a.UpdateIncident(fa, inc.ID, "", remind(first)); err != nil || !applied {
		t.Fatalf("fenced update by the holder = %v, %v", applied, err)
	}
	if err := la.Release(ctx, "a", epoch); err != nil {
		t.Fatal(err)
	}
	eb, ok, err := lb.Acquire(ctx, "b", ttl)
	if err != nil || !ok || eb != epoch+1 {
		t.Fatalf("b's Acquire after the release = %d, %v, %v; want %d, true", eb, ok, err, epoch+1)
	}
	_, applied, err := a.UpdateIncident(fa, inc.ID, "", remind(first.Add(time.Hour)))
	if incidentbot.ErrorCode(err) != incidentbot.EConflict || applied {
		t.Fatalf("fenced update after the lease moved = %v, %v; want EConflict", applied, err)
	}
	got, _ := a.Incident(ctx, inc.ID)
	if !got.LastReminderAt.Equal(first) {
		t.Errorf("LastReminderAt = %v after a stale replica's write; want %v", got.LastReminderAt, first)
	}
	if n, _ := a.EventCount(ctx, inc.ID); n != 1 {
		t.Errorf("%d events after one fenced reminder and one refused; want 1", n)
	}
	// A cron firing recorded by the stale holder is refused too, and the
	// new holder's stands.
	fb := incidentbot.ContextWithFence(ctx, incidentbot.Fence{Name: SchedulerLease, Holder: "b", Epoch: eb})
	if err := b.RecordFiring(fb, "actions", first); err != nil {
		t.Fatalf("the holder's RecordFiring: %v", err)
	}
	if err := a.RecordFiring(fa, "actions", first.Add(time.Hour)); incidentbot.ErrorCode(err) != incidentbot.EConflict {
		t.Errorf("a stale holder's RecordFiring = %v, want EConflict", err)
	}
	if at, _ := a.LastFiring(ctx, "actions"); !at.Equal(first) {
		t.Errorf("LastFiring = %v after a stale holder's firing; want %v", at, first)
	}

	// An expired lease is taken over without a release.
	if _, ok, err := la.Acquire(ctx, "a", ttl); err != nil || ok {
		t.Fatalf("a took b's live lease: %v, %v", ok, err)
	}
	if ok, err := lb.Renew(ctx, "b", eb, 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("b's short Renew = %v, %v", ok, err)
	}
	time.Sleep(300 * time.Millisecond)
	if ea, ok, err := la.Acquire(ctx, "a", ttl); err != nil || !ok || ea != eb+1 {
		t.Fatalf("a's Acquire of the expired lease = %d, %v, %v; want %d", ea, ok, err, eb+1)
	}
}

// TestRunWithLeaseTwoReplicas runs the scheduler's lease loop on two
// replicas of one database: exactly one runs the work at any time, and when
// it stops (its context cancelled, as on SIGTERM) the other takes over.
func TestRunWithLeaseTwoReplicas(t *testing.T) {
	u := schemaURL(t)
	dbs := []*DB{openAt(t, u, Options{}), openAt(t, u, Options{})}
	const ttl = time.Second
	var mu sync.Mutex
	running := map[string]bool{}
	var overlaps, starts int
	work := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			mu.Lock()
			running[name] = true
			starts++
			if len(running) > 1 {
				overlaps++
			}
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			delete(running, name)
			mu.Unlock()
		}
	}
	ctxs := make([]context.CancelFunc, 2)
	var wg sync.WaitGroup
	for i, name := range []string{"r0", "r1"} {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		wg.Go(func() {
			scheduler.RunWithLease(ctx, dbs[i].Lease(SchedulerLease), scheduler.LeaseConfig{Name: SchedulerLease, Holder: name, TTL: ttl}, work(name))
		})
	}
	holder := func() string {
		mu.Lock()
		defer mu.Unlock()
		for n := range running {
			return n
		}
		return ""
	}
	deadline := time.Now().Add(5 * time.Second)
	for holder() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no replica took the lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * ttl) // renewals keep it where it is
	first := holder()
	i := 0
	if first == "r1" {
		i = 1
	}
	ctxs[i]() // the holder stops and gives the lease up
	other := "r0"
	if first == "r0" {
		other = "r1"
	}
	deadline = time.Now().Add(5 * time.Second)
	for holder() != other {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not take over after %s stopped", other, first)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctxs[1-i]()
	wg.Wait()
	// Never two at once. More than two starts means a renewal came late
	// (a loaded machine, under the race detector): the holder stopped its
	// work before the lease could be taken, as it must, and one of the two
	// took it again.
	if overlaps != 0 || starts < 2 {
		t.Errorf("overlaps = %d, starts = %d; want 0 and at least 2", overlaps, starts)
	}
	if starts > 2 {
		t.Logf("%d starts: a renewal came late, the work stopped and started again without overlap", starts)
	}
}
