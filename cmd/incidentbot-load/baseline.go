package main

import (
	"cmp"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot/store"
)

// boltBaseline is the raw bbolt configuration that message capture is
// compared with: count puts of size bytes, one per DB.Batch call, by writers
// goroutines, on a fresh file with fsync on, with bbolt's MaxBatchDelay set
// to batchDelay. It is what the store would do for the same writes with no
// bot around it, so the ratio says what the bot costs on top of its store.
//
// When the store's commit policy changes, change captureBaseline to match,
// so that the comparison stays like for like.
type boltBaseline struct {
	writers, size int
	batchDelay    time.Duration
}

// captureBaseline is the baseline of the headline ratio: bbolt's own
// DB.Batch with a 4 ms MaxBatchDelay (store.DefaultBatchDelay: the fixed
// delay the store used before its commits became adaptive, and the fastest
// fixed setting measured on these machines — bbolt's default 10 ms is
// slower), 256 writers, 300-byte values (about one stored message).
func captureBaseline() boltBaseline {
	return boltBaseline{writers: 256, size: 300, batchDelay: store.DefaultBatchDelay}
}

// String describes the configuration for BENCHMARKS.md.
func (bl boltBaseline) String() string {
	return fmt.Sprintf("raw bbolt: %d writers, one %d-byte Put per DB.Batch, MaxBatchDelay %v, fsync on",
		bl.writers, bl.size, bl.batchDelay)
}

// rate runs the baseline with n puts on a new file at path and returns the
// writes per second. It fails when the file cannot be opened or a write
// fails.
func (bl boltBaseline) rate(path string, n int) (float64, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return 0, fmt.Errorf("baseline: %w", err)
	}
	defer db.Close()
	db.MaxBatchDelay = bl.batchDelay
	val := []byte(strings.Repeat("v", bl.size))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range bl.writers {
		wg.Go(func() {
			for i := range jobs {
				key := []byte(fmt.Sprintf("%016d", i))
				if err := db.Batch(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("raw"))
					if err != nil {
						return err
					}
					return bk.Put(key, val)
				}); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("baseline: %w", firstErr)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
