package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// benchWriters is how many goroutines write at once, as the bot does when it
// handles a burst of Slack envelopes concurrently.
const benchWriters = 256

// benchText makes an event about 300 bytes once encoded.
var benchText = strings.Repeat("the primary is failing over again, looking at replication lag ", 2)[:120]

// runWriters calls write(i) for i in [0, b.N) from benchWriters goroutines
// and reports the rate as events/s.
func runWriters(b *testing.B, write func(i int) error) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range benchWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := write(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkRawBatchPut is the baseline: one ~300-byte Put per db.Batch call
// on the same bbolt file and options as the store uses, no encoding, no
// dedup, no indexes.
func BenchmarkRawBatchPut(b *testing.B) {
	db := openTest(b)
	bucket := []byte("raw")
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("v", 300))
	runWriters(b, func(int) error {
		return db.bolt.Batch(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			seq, err := bk.NextSequence()
			if err != nil {
				return err
			}
			return bk.Put(itob(seq), value)
		})
	})
}

// BenchmarkAppendEvents stores b.N captured messages of about 300 bytes,
// each with its own dedup key, through AppendEvents, spread over a few open
// incidents. The keys are the message ts, as bot/ makes them, so they
// arrive roughly in order; BenchmarkAppendEventsRandomKeys shows the cost
// of keys that do not.
func BenchmarkAppendEvents(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	const incidents = 8
	for i := range incidents {
		mustCreate(b, db, fmt.Sprint("bench ", i), fmt.Sprint("C", i))
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	runWriters(b, func(i int) error {
		ts := fmt.Sprintf("%d.%06d", 1740830400+i/1000, i%1000)
		ev := incidentbot.TimelineEvent{
			IncidentID: int64(i%incidents + 1),
			Kind:       incidentbot.EventMessage,
			At:         at.Add(time.Duration(i) * time.Millisecond),
			Actor:      "U024BE7LH",
			Text:       benchText,
			TS:         ts,
			DedupKey:   incidentbot.MessageKey(ts), // as bot/ keys captured messages
		}
		n, err := db.AppendEvents(ctx, ev)
		if err == nil && n != 1 {
			err = fmt.Errorf("event %d stored %d times", i, n)
		}
		return err
	})
}

// BenchmarkAppendEventsRandomKeys is BenchmarkAppendEvents with dedup keys
// in no order (as Slack event ids would be): each commit then touches many
// leaf pages of the dedup buckets instead of the last few.
func BenchmarkAppendEventsRandomKeys(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	const incidents = 8
	for i := range incidents {
		mustCreate(b, db, fmt.Sprint("bench ", i), fmt.Sprint("C", i))
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	runWriters(b, func(i int) error {
		ev := incidentbot.TimelineEvent{
			IncidentID: int64(i%incidents + 1),
			Kind:       incidentbot.EventMessage,
			At:         at.Add(time.Duration(i) * time.Millisecond),
			Actor:      "U024BE7LH",
			Text:       benchText,
			TS:         fmt.Sprintf("%d.%06d", 1740830400+i/1000, i%1000),
			DedupKey:   fmt.Sprintf("Ev%016X", uint64(i)*0x9E3779B97F4A7C15),
		}
		n, err := db.AppendEvents(ctx, ev)
		if err == nil && n != 1 {
			err = fmt.Errorf("event %d stored %d times", i, n)
		}
		return err
	})
}
