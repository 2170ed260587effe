package store

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup is the most write functions one group commit runs, as bbolt's
// default MaxBatchSize.
const maxGroup = 1000

// committer is adaptive group commit over bolt.DB.Update. A write that
// finds no commit running commits at once, alone; writes that arrive while
// a commit runs (mostly waiting for its fsync) queue, and the first of them
// commits them all together as soon as that commit ends. A lone write thus
// costs one transaction and one fsync, without bbolt Batch's fixed wait,
// and a burst still shares fsyncs: the more writers, the larger the groups.
//
// Like bolt.DB.Batch, functions of a group share one transaction, so each
// may run more than once: if one fails, the transaction is rolled back, the
// others run again without it, and the failed one runs again alone in its
// caller's goroutine, whose error is then its own.
type committer struct {
	db *bolt.DB
	// before, if set, runs first in every transaction; its error fails the
	// whole group as a commit failure would (the size cap of Options).
	before func(*bolt.Tx) error

	mu    sync.Mutex
	busy  bool    // a group is being committed
	queue []*call // writes waiting for the next group
}

// call is one write waiting in a group.
type call struct {
	fn   func(*bolt.Tx) error
	err  error
	solo bool          // fn failed in a group: run it again alone
	lead bool          // this caller commits the next group
	done chan struct{} // closed when err, solo or lead are set
}

// run commits fn, alone or with the writes that queued behind another
// commit, and returns fn's error or the commit's.
func (c *committer) run(fn func(*bolt.Tx) error) error {
	me := &call{fn: fn}
	c.mu.Lock()
	if c.busy {
		me.done = make(chan struct{})
		c.queue = append(c.queue, me)
		c.mu.Unlock()
		<-me.done
		if me.lead {
			// Under load only: let the writers just woken by the
			// previous commit, who write again at once, queue and
			// join this group, before taking it (larger groups at
			// 1000 writers in flight, for a few microseconds).
			runtime.Gosched()
			c.commitGroup(me, c.take())
		}
	} else {
		c.busy = true
		c.mu.Unlock()
		c.commitGroup(me, []*call{me})
	}
	if me.solo {
		return c.update(fn)
	}
	return me.err
}

// take removes the next group from the queue: the writes queued so far, up
// to maxGroup. The first of them is the writer that leads the group. The
// leader takes its group when it starts, not when it is chosen, so that
// writers woken by the previous commit who write again at once still join.
func (c *committer) take() []*call {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return group
}

// commitGroup commits group (which includes self, the calling writer),
// hands the lead to the first writer queued meanwhile, if any, and tells
// the others in group how theirs went.
func (c *committer) commitGroup(self *call, group []*call) {
	c.commit(group)

	c.mu.Lock()
	var leader *call
	if len(c.queue) > 0 {
		leader = c.queue[0]
	} else {
		c.busy = false
	}
	c.mu.Unlock()

	// Hand over first: the next group's transaction starts while this
	// group's callers wake up.
	if leader != nil {
		leader.lead = true
		close(leader.done)
	}
	for _, cl := range group {
		if cl != self {
			close(cl.done)
		}
	}
}

// commit runs the functions of group in one transaction. When one fails,
// the transaction is rolled back and the rest run again without it; the
// failed ones are marked to run alone. Any other error (the commit, the
// fsync, a closed database) goes to every call left in the group.
func (c *committer) commit(group []*call) {
	calls := append([]*call(nil), group...)
	for len(calls) > 0 {
		failed := -1
		err := updateCaught(c.db, func(tx *bolt.Tx) error {
			if c.before != nil {
				if err := c.before(tx); err != nil {
					return err
				}
			}
			for i, cl := range calls {
				if err := safely(cl.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].solo = true
			calls = append(calls[:failed], calls[failed+1:]...)
			continue
		}
		for _, cl := range calls {
			cl.err = err
		}
		return
	}
}

// update runs fn alone in its own transaction, with c.before.
func (c *committer) update(fn func(*bolt.Tx) error) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		if c.before != nil {
			if err := c.before(tx); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// errPanicked is the error of a write function that panicked in a group;
// it panics again when its caller runs it alone.
var errPanicked = errors.New("store: write function panicked")

// safely calls fn, turning a panic into an error so that one writer's bug
// does not take the other writers' goroutine down.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanicked, p)
		}
	}()
	return fn(tx)
}
