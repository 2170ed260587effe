package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/store/storetest"
	"github.com/jackc/pgx/v5"
)

// BenchmarkCapture measures AppendEvents under a burst: inflight
// goroutines each append one message at a time (as the bot captures
// envelopes), so group commit decides how many share a transaction.
// BenchmarkRawBatchedInsert, in the same run, is the baseline: the same
// rows inserted by the same statement in batches, one transaction each,
// with nothing else (no lock, no dedup read, no caller waiting).
func BenchmarkCapture(b *testing.B) {
	for _, inflight := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			ctx := context.Background()
			db := openAt(b, schemaURL(b), Options{MaxConns: 4})
			inc := storetest.MustCreate(b, db, "bench", "C1")
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range inflight {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						ts := fmt.Sprintf("1700000000.%06d", i)
						if _, err := db.AppendEvents(ctx, storetest.Message(inc.ID, "msg:"+ts, ts, "a captured message of some length, as people write in an incident channel")); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64(db.commit.grouped.Load())/float64(db.commit.groups.Load()), "calls/group")
		})
	}
}

// BenchmarkRawBatchedInsert is BenchmarkCapture's baseline (see there).
func BenchmarkRawBatchedInsert(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			db := openAt(b, schemaURL(b), Options{MaxConns: 4})
			inc := storetest.MustCreate(b, db, "bench", "C1")
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				rows := &eventRows{}
				for i := range n {
					ts := fmt.Sprintf("1700000000.%06d", done+i+1)
					ev := storetest.Message(inc.ID, "msg:"+ts, ts, "a captured message of some length, as people write in an incident channel")
					body, err := encodeEvent(&ev, inc.ID)
					if err != nil {
						b.Fatal(err)
					}
					rows.ids = append(rows.ids, inc.ID)
					rows.seqs = append(rows.seqs, int64(done+i+1))
					rows.keys = append(rows.keys, ev.DedupKey)
					rows.bodies = append(rows.bodies, body)
				}
				err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, insertEvents, rows.ids, rows.seqs, rows.keys, rows.bodies)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				done += n
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
