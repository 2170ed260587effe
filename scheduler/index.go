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
type index struct {
	due func(*incidentbot.Incident) (time.Time, bool)
	act func(ctx context.Context, id int64) error

	mu   sync.Mutex
	at   map[int64]time.Time
	busy map[int64]bool
	seq  uint64           // observations so far
	seen map[int64]uint64 // id → seq of its last observation
}

func newIndex(due func(*incidentbot.Incident) (time.Time, bool), act func(context.Context, int64) error) *index {
	return &index{due: due, act: act, at: map[int64]time.Time{}, busy: map[int64]bool{}, seen: map[int64]uint64{}}
}

// observe updates the due time of inc.
func (x *index) observe(inc *incidentbot.Incident) {
	due, ok := x.due(inc)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	x.seen[inc.ID] = x.seq
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

// take returns the ids of incidents due at now and not already being
// handled, in id order, and marks them as being handled.
func (x *index) take(now time.Time) []int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []int64
	for id, due := range x.at {
		if !now.Before(due) && !x.busy[id] {
			ids = append(ids, id)
			x.busy[id] = true
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// sweep does the work due at now, at most parallel incidents at a time, and
// returns for how many incidents it succeeded. Work that fails stays due
// (as its incident says), so a later sweep tries again.
func (x *index) sweep(ctx context.Context, now time.Time, parallel int) (int, error) {
	ids := x.take(now)
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
			err := x.act(ctx, id)
			x.mu.Lock()
			delete(x.busy, id)
			x.mu.Unlock()
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
