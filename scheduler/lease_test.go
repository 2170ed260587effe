package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// memLease is a lease row kept in memory, judged by the real clock as a
// database would judge it by its own. fail makes every call fail, as an
// unreachable database would.
type memLease struct {
	mu      sync.Mutex
	holder  string
	epoch   int64
	expires time.Time
	fail    bool
	renewed int
}

func (m *memLease) Acquire(_ context.Context, holder string, ttl time.Duration) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return 0, false, errors.New("database unreachable")
	}
	now := time.Now()
	if m.holder != "" && m.holder != holder && now.Before(m.expires) {
		return 0, false, nil
	}
	m.holder, m.epoch, m.expires = holder, m.epoch+1, now.Add(ttl)
	return m.epoch, true, nil
}

func (m *memLease) Renew(_ context.Context, holder string, epoch int64, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return false, errors.New("database unreachable")
	}
	if m.holder != holder || m.epoch != epoch || !time.Now().Before(m.expires) {
		return false, nil
	}
	m.expires = time.Now().Add(ttl)
	m.renewed++
	return true, nil
}

func (m *memLease) Release(_ context.Context, holder string, epoch int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder == holder && m.epoch == epoch {
		m.holder = ""
	}
	return nil
}

func (m *memLease) state() (string, int64, time.Time, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder, m.epoch, m.expires, m.renewed
}

// runs records the runs of the scheduled work: their fences, and when each
// ended.
type runs struct {
	mu     sync.Mutex
	fences []incidentbot.Fence
	ended  []time.Time
	active int
}

func (r *runs) run(ctx context.Context) {
	f, _ := incidentbot.FenceFrom(ctx)
	r.mu.Lock()
	r.fences = append(r.fences, f)
	r.active++
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.active--
	r.ended = append(r.ended, time.Now())
	r.mu.Unlock()
}

func (r *runs) snapshot() (fences []incidentbot.Fence, ended []time.Time, active int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]incidentbot.Fence(nil), r.fences...), append([]time.Time(nil), r.ended...), r.active
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunWithLeaseRunsOnlyWhileHeld(t *testing.T) {
	const ttl = 300 * time.Millisecond
	l := &memLease{}
	a, b := &runs{}, &runs{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { RunWithLease(ctx, l, LeaseConfig{Name: "scheduler", Holder: "a", TTL: ttl}, a.run) })
	waitUntil(t, "replica a to hold the lease", time.Second, func() bool { _, _, n := a.snapshot(); return n == 1 })
	wg.Go(func() { RunWithLease(ctx, l, LeaseConfig{Name: "scheduler", Holder: "b", TTL: ttl}, b.run) })

	// a keeps renewing: b never runs.
	waitUntil(t, "renewals", 2*time.Second, func() bool { _, _, _, n := l.state(); return n >= 4 })
	if fences, _, active := b.snapshot(); len(fences) != 0 || active != 0 {
		t.Fatalf("replica b ran while a held the lease: %v", fences)
	}
	fa, _, _ := a.snapshot()
	if fa[0] != (incidentbot.Fence{Name: "scheduler", Holder: "a", Epoch: 1}) {
		t.Errorf("a's fence = %+v", fa[0])
	}

	// a is cut off from the database: it stops before the lease expires,
	// and b takes over with a new epoch after it expired.
	l.mu.Lock()
	l.fail = true
	l.mu.Unlock()
	waitUntil(t, "a to stop", 2*time.Second, func() bool { _, e, _ := a.snapshot(); return len(e) == 1 })
	_, ended, _ := a.snapshot()
	_, _, expires, _ := l.state()
	if !ended[0].Before(expires) {
		t.Fatalf("a stopped at %v, after its lease expired at %v: no fencing margin", ended[0], expires)
	}
	l.mu.Lock()
	l.fail = false
	l.mu.Unlock()
	waitUntil(t, "a replica to take over", 2*time.Second, func() bool {
		_, _, na := a.snapshot()
		_, _, nb := b.snapshot()
		return na+nb == 1
	})
	holder, epoch, _, _ := l.state()
	if epoch != 2 {
		t.Errorf("epoch after the takeover = %d (holder %s), want 2", epoch, holder)
	}
	// Never two at once.
	_, _, na := a.snapshot()
	_, _, nb := b.snapshot()
	if na+nb != 1 {
		t.Errorf("%d replicas run the scheduled work", na+nb)
	}
	cancel()
	wg.Wait()
	if h, _, _, _ := l.state(); h != "" {
		t.Errorf("lease still held by %q after both stopped", h)
	}
}

func TestRunWithLeaseStopsWhenTaken(t *testing.T) {
	const ttl = 300 * time.Millisecond
	l := &memLease{}
	a := &runs{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWithLease(ctx, l, LeaseConfig{Name: "scheduler", Holder: "a", TTL: ttl}, a.run)
	}()
	waitUntil(t, "a to hold the lease", time.Second, func() bool { _, _, n := a.snapshot(); return n == 1 })
	// Someone else holds it now (an operator, or a clock gone wrong): a's
	// next renewal fails and its work stops at once.
	l.mu.Lock()
	l.holder, l.epoch, l.expires = "z", l.epoch+1, time.Now().Add(time.Hour)
	l.mu.Unlock()
	waitUntil(t, "a to stop", time.Second, func() bool { _, e, _ := a.snapshot(); return len(e) == 1 })
	cancel()
	<-done
}
