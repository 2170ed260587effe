package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// blockedCommitter returns a committer over a new file whose first write is
// running and blocked until release is called, so that the writes started
// next queue behind it; queued waits until n writes are queued.
func blockedCommitter(t *testing.T) (c *committer, queued func(n int), release func()) {
	t.Helper()
	db := openTest(t)
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("t"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c = db.commit
	gate := make(chan struct{})
	first := make(chan error, 1)
	running := make(chan struct{})
	go func() {
		first <- c.run(func(tx *bolt.Tx) error {
			close(running)
			<-gate
			return tx.Bucket([]byte("t")).Put([]byte("first"), []byte("1"))
		})
	}()
	<-running
	queued = func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			got := len(c.queue)
			c.mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	release = func() {
		close(gate)
		if err := <-first; err != nil {
			t.Errorf("first write: %v", err)
		}
	}
	return c, queued, release
}

// put returns a write function storing key, that records the id of each
// transaction it runs in.
func put(key string, txs *[]int, mu *sync.Mutex) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		mu.Lock()
		*txs = append(*txs, tx.ID())
		mu.Unlock()
		return tx.Bucket([]byte("t")).Put([]byte(key), []byte("v"))
	}
}

func TestCommitterGroupsWritesQueuedDuringACommit(t *testing.T) {
	c, queued, release := blockedCommitter(t)
	const writers = 10
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		txs []int
	)
	for i := range writers {
		wg.Go(func() {
			if err := c.run(put(fmt.Sprint("k", i), &txs, &mu)); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	queued(writers)
	release()
	wg.Wait()
	if len(txs) != writers {
		t.Fatalf("write functions ran %d times, want %d", len(txs), writers)
	}
	for _, id := range txs {
		if id != txs[0] {
			t.Fatalf("queued writes ran in transactions %v, want one shared transaction", txs)
		}
	}
	// Nothing is running now: the next write commits at once, alone.
	if err := c.run(put("alone", &txs, &mu)); err != nil {
		t.Fatal(err)
	}
	if c.busy || len(c.queue) != 0 {
		t.Errorf("committer still busy (%v) or queued (%d) after the last write", c.busy, len(c.queue))
	}
}

// TestCommitterFailingFunction: as with bbolt's Batch, a function that
// fails in a group is taken out, the others commit without it, and it runs
// again alone, its error its own.
func TestCommitterFailingFunction(t *testing.T) {
	c, queued, release := blockedCommitter(t)
	const writers = 8
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		txs        []int
		badRuns    atomic.Int32
		errStorage = errors.New("storage failure")
		errs       = make([]error, writers)
	)
	for i := range writers {
		wg.Go(func() {
			if i == 3 {
				errs[i] = c.run(func(tx *bolt.Tx) error {
					badRuns.Add(1)
					if err := tx.Bucket([]byte("t")).Put([]byte("bad"), []byte("v")); err != nil {
						return err
					}
					return errStorage
				})
				return
			}
			errs[i] = c.run(put(fmt.Sprint("k", i), &txs, &mu))
		})
	}
	queued(writers)
	release()
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 3 && err != errStorage:
			t.Errorf("failing write returned %v, want its own error", err)
		case i != 3 && err != nil:
			t.Errorf("write %d failed with %v, a failure of another write in its group", i, err)
		}
	}
	if n := badRuns.Load(); n != 2 {
		t.Errorf("the failing function ran %d times, want 2 (in the group, then alone)", n)
	}
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("t"))
		if b.Get([]byte("bad")) != nil {
			t.Error("the failing function's write was committed")
		}
		for i := range writers {
			if i != 3 && b.Get([]byte(fmt.Sprint("k", i))) == nil {
				t.Errorf("write %d was not committed", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommitterPanic: a function that panics in a group panics again in
// its own caller's goroutine, alone; the others commit.
func TestCommitterPanic(t *testing.T) {
	c, queued, release := blockedCommitter(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		txs      []int
		panicked atomic.Value
		errs     [4]error
	)
	for i := range 4 {
		wg.Go(func() {
			if i == 1 {
				defer func() { panicked.Store(fmt.Sprint(recover())) }()
				c.run(func(*bolt.Tx) error { panic("bug in a write") })
				return
			}
			errs[i] = c.run(put(fmt.Sprint("k", i), &txs, &mu))
		})
	}
	queued(4)
	release()
	wg.Wait()
	if got := panicked.Load(); got != "bug in a write" {
		t.Errorf("the panicking caller recovered %v, want its own panic", got)
	}
	for i, err := range errs {
		if i != 1 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
}

// TestMaxSizeOption: Options.MaxSize makes writes fail as on a full disk,
// with EUnavailable, and succeed again once it is lifted, in both commit
// modes.
func TestMaxSizeOption(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"adaptive", Options{}},
		{"fixed-delay", Options{BatchDelay: time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var limit atomic.Int64
			opts := tt.opts
			opts.MaxSize = func() int { return int(limit.Load()) }
			db := openAt(t, filepath.Join(t.TempDir(), "capped.db"), opts)
			inc := mustCreate(t, db, "capped", "C1")

			limit.Store(1) // far below the file's size: the disk is full
			n, err := db.AppendEvents(ctx, msg(inc.ID, "k1", "1.0", "lost?"))
			if code(err) != incidentbot.EUnavailable || n != 0 {
				t.Fatalf("AppendEvents over the size limit = %d, %v (code %s); want EUnavailable", n, err, code(err))
			}
			if _, _, err := db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				c.Title = "changed"
				return nil, nil
			}); code(err) != incidentbot.EUnavailable {
				t.Fatalf("UpdateIncident over the size limit = %v, want EUnavailable", err)
			}
			if got, _ := db.Incident(ctx, inc.ID); got.Title != "capped" {
				t.Errorf("a refused update was stored: %q", got.Title)
			}

			limit.Store(0) // the disk recovers: the same write succeeds, once
			if n, err := db.AppendEvents(ctx, msg(inc.ID, "k1", "1.0", "stored")); err != nil || n != 1 {
				t.Fatalf("AppendEvents after the limit was lifted = %d, %v", n, err)
			}
			if n, _ := db.EventCount(ctx, inc.ID); n != 1 {
				t.Errorf("EventCount = %d, want 1", n)
			}
		})
	}
}
