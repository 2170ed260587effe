package scheduler

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
)

// index keeps, for every incident with work due, the time it is due, so that
// a sweep costs a comparison per incident. due derives the time from the
// stored incident; act does the work of one incident.
//
// Work that failed in a way that says when to try again is held back:
// a rate limit for its Retry-After, a channel gone (or an action the
// workspace forbids) for the slow retry. A hold ends early when the
// incident is written again (observe), e.g. when its channel comes back.
type index struct {
	due  func(*incidentbot.Incident) (time.Time, bool)
	act  func(ctx context.Context, id int64) error
	now  func() time.Time
	slow time.Duration // the hold after EGone, EForbidden or EAuth

	mu   sync.Mutex
	at   map[int64]time.Time
	busy map[int64]bool
	hold map[int64]time.Time // id → not before
	seq  uint64              // observations so far
	seen map[int64]uint64    // id → seq of its last observation
	wg   sync.WaitGroup      // jobs started by start
}

func newIndex(due func(*incidentbot.Incident) (time.Time, bool), act func(context.Context, int64) error, now func() time.Time, slow time.Duration) *index {
	return &index{due: due, act: act, now: now, slow: slow, at: map[int64]time.Time{}, busy: map[int64]bool{},
		hold: map[int64]time.Time{}, seen: map[int64]uint64{}}
}

// observe updates the due time of inc and ends any hold on it.
func (x *index) observe(inc *incidentbot.Incident) {
	due, ok := x.due(inc)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	x.seen[inc.ID] = x.seq
	delete(x.hold, inc.ID)
	x.set(inc.ID, due, ok)
}

func (x *index) set(id int64, due time.Time, ok bool) {
	if ok {
		x.at[id] = due
	} else {
		delete(x.at, id)
	}
}

// mark returns the observation count, for load.
func (x *index) mark() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.seq
}

// load replaces the index with the due times of incs, read from the store
// after mark returned since; an incident observed since keeps its newer
// due time.
func (x *index) load(incs []*incidentbot.Incident, since uint64) {
	type entry struct {
		due time.Time
		ok  bool
	}
	fresh := make(map[int64]entry, len(incs))
	for _, inc := range incs {
		due, ok := x.due(inc)
		fresh[inc.ID] = entry{due, ok}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.at {
		if x.seen[id] <= since {
			delete(x.at, id)
		}
	}
	for id, e := range fresh {
		if x.seen[id] <= since {
			x.set(id, e.due, e.ok)
		}
	}
}

// merge updates the due times of incs, read from the store after mark
// returned since, leaving the other incidents as they are; an incident
// observed since keeps its newer due time. A hold ends when the due time
// changed (the incident was written in a way that matters, e.g. its
// channel came back): rereading an unchanged incident must not retry a
// gone channel or a rate limit early.
func (x *index) merge(incs []*incidentbot.Incident, since uint64) {
	type entry struct {
		id  int64
		due time.Time
		ok  bool
	}
	fresh := make([]entry, 0, len(incs))
	for _, inc := range incs {
		due, ok := x.due(inc)
		fresh = append(fresh, entry{inc.ID, due, ok})
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range fresh {
		if x.seen[e.id] > since {
			continue
		}
		old, had := x.at[e.id]
		if had != e.ok || !old.Equal(e.due) {
			delete(x.hold, e.id)
		}
		x.set(e.id, e.due, e.ok)
	}
}

// take returns the ids of incidents due at now, not held back and not
// already being handled, in id order, at most limit of them (all when limit
// is negative), and marks them as being handled.
func (x *index) take(now time.Time, limit int) []int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []int64
	for id, due := range x.at {
		if !now.Before(due) && !x.busy[id] && now.Compare(x.hold[id]) >= 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if limit >= 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	for _, id := range ids {
		x.busy[id] = true
	}
	return ids
}

// run does the work of incident id and records how it ended: no longer
// busy, and held back when the failure says for how long.
func (x *index) run(ctx context.Context, id int64) error {
	err := x.act(withScheduled(ctx), id)
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.busy, id)
	if err == nil {
		return nil
	}
	wait := incidentbot.RetryAfter(err)
	switch incidentbot.ErrorCode(err) {
	case incidentbot.EGone, incidentbot.EForbidden, incidentbot.EAuth:
		wait = x.slow
	}
	if wait > 0 {
		x.hold[id] = x.now().Add(wait)
	}
	return err
}

// sweep does the work due at now, at most parallel incidents at a time,
// waits for it, and returns for how many incidents it succeeded. Work that
// fails stays due (as its incident says), so a later sweep tries again.
func (x *index) sweep(ctx context.Context, now time.Time, parallel int) (int, error) {
	ids := x.take(now, -1)
	if len(ids) == 0 {
		return 0, nil
	}
	var (
		mu   sync.Mutex
		done int
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(parallel, 1))
	)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := x.run(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			done++
		})
	}
	wg.Wait()
	return done, errors.Join(errs...)
}

// start starts the work due at now, each incident on its own goroutine,
// while fewer than cap(slots) run, and returns without waiting: one slow
// or rate-limited incident delays only itself, and an incident still busy
// from an earlier tick is skipped. report gets each failure.
func (x *index) start(ctx context.Context, now time.Time, slots chan struct{}, report func(error)) {
	ids := x.take(now, cap(slots)-len(slots))
	for i, id := range ids {
		select {
		case slots <- struct{}{}:
		default:
			// Full after all: give the rest back for the next tick.
			x.mu.Lock()
			for _, rest := range ids[i:] {
				delete(x.busy, rest)
			}
			x.mu.Unlock()
			return
		}
		x.wg.Go(func() {
			defer func() { <-slots }()
			if err := x.run(ctx, id); err != nil {
				report(err)
			}
		})
	}
}

// scheduledKey marks the context of scheduled work.
type scheduledKey struct{}

func withScheduled(ctx context.Context) context.Context {
	return context.WithValue(ctx, scheduledKey{}, true)
}

// Scheduled reports whether ctx is that of work the scheduler runs. A Slack
// client should then not sleep through a rate limit's Retry-After but fail
// at once with it (incidentbot.Error.RetryAfter): the scheduler holds that
// incident's work back for as long, and the rest goes on.
func Scheduled(ctx context.Context) bool {
	v, _ := ctx.Value(scheduledKey{}).(bool)
	return v
}
