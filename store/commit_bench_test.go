package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkGroupCommit measures, in one run, the latency of one durable
// write at 1, 10, 100 and 1000 writers in flight, each writer writing again
// as soon as its previous write returns, for:
//
//   - bbolt-update: one plain bbolt DB.Update per write, a ~300-byte Put
//     (what a naive bot does; the floor for a lone write);
//   - adaptive-raw: the same Put through the store's adaptive group commit
//     (the cost of the commit path alone);
//   - adaptive: the store's AppendEvents of one ~300-byte message, with
//     the adaptive group commit (the default);
//   - fixed-4ms: the same through bbolt's DB.Batch with the 4ms delay the
//     store used before (Options.BatchDelay = DefaultBatchDelay).
//
// It reports the median and 99th percentile latency of a write (p50-ms,
// p99-ms), the throughput (writes/s) and how many writes shared a commit
// (writes/commit). b.N should be well above the writers in flight: run it
// with -benchtime=3000x or more, e.g.
//
//	go test -run '^$' -bench GroupCommit -benchtime 5000x ./store/
func BenchmarkGroupCommit(b *testing.B) {
	for _, inflight := range []int{1, 10, 100, 1000} {
		for _, mode := range []struct {
			name  string
			opts  Options
			plain bool
		}{
			{name: "bbolt-update", plain: true},
			{name: "adaptive-raw", plain: true},
			{name: "adaptive"},
			{name: "fixed-4ms", opts: Options{BatchDelay: DefaultBatchDelay}},
		} {
			b.Run(fmt.Sprintf("inflight=%d/%s", inflight, mode.name), func(b *testing.B) {
				db := openAt(b, b.TempDir()+"/bench.db", mode.opts)
				var write func(i int) error
				switch {
				case mode.name == "bbolt-update":
					write = plainUpdate(b, db.bolt.Update)
				case mode.plain:
					write = plainUpdate(b, func(fn func(*bolt.Tx) error) error { return db.write("bench", fn) })
				default:
					write = appendOne(b, db)
				}
				runLatency(b, db.bolt, inflight, write)
			})
		}
	}
}

// plainUpdate returns a write of one ~300-byte value under the next
// sequence number, through update: bbolt's DB.Update or the store's group
// commit.
func plainUpdate(b *testing.B, update func(func(*bolt.Tx) error) error) func(int) error {
	bucket := []byte("raw")
	if err := update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("v", 300))
	return func(int) error {
		return update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			seq, err := bk.NextSequence()
			if err != nil {
				return err
			}
			return bk.Put(itob(seq), value)
		})
	}
}

// appendOne returns a write of one captured message through AppendEvents,
// as the bot stores a Slack message.
func appendOne(b *testing.B, db *DB) func(int) error {
	ctx := context.Background()
	inc := mustCreate(b, db, "bench", "C1")
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return func(i int) error {
		ts := fmt.Sprintf("%d.%06d", 1740830400+i/1000, i%1000)
		n, err := db.AppendEvents(ctx, incidentbot.TimelineEvent{
			IncidentID: inc.ID,
			Kind:       incidentbot.EventMessage,
			At:         at,
			Actor:      "U024BE7LH",
			Text:       benchText,
			TS:         ts,
			DedupKey:   "msg:" + ts,
		})
		if err == nil && n != 1 {
			err = fmt.Errorf("event %d stored %d times", i, n)
		}
		return err
	}
}

// runLatency calls write(i) for i in [0, b.N) from inflight goroutines and
// reports the latency percentiles, the rate and the writes per commit.
func runLatency(b *testing.B, bdb *bolt.DB, inflight int, write func(int) error) {
	b.Helper()
	txBefore := lastTxID(b, bdb)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		lats = make([][]time.Duration, inflight)
	)
	b.ResetTimer()
	start := time.Now()
	for g := range inflight {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := write(i); err != nil {
					b.Error(err)
					return
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	if commits := lastTxID(b, bdb) - txBefore; commits > 0 {
		b.ReportMetric(float64(len(all))/float64(commits), "writes/commit")
	}
}

// lastTxID returns the id of the last committed write transaction.
func lastTxID(b *testing.B, bdb *bolt.DB) int {
	var id int
	if err := bdb.View(func(tx *bolt.Tx) error {
		id = tx.ID()
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return id
}
