package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
	"github.com/jackc/pgx/v5"
)

// BenchmarkCapture measures AppendEvents under a burst: inflight
// goroutines each append one message at a time (as the bot captures
// envelopes), so group commit decides how many share a transaction.
// BenchmarkRawBatchedInsert, in the same run, is the baseline.
func BenchmarkCapture(b *testing.B) {
	type shape struct{ inflight, replicas int }
	for _, s := range []shape{{1, 1}, {10, 1}, {100, 1}, {1000, 1}, {1000, 3}} {
		b.Run(fmt.Sprintf("inflight=%d/replicas=%d", s.inflight, s.replicas), func(b *testing.B) {
			ctx := context.Background()
			u := schemaURL(b)
			dbs := make([]*DB, s.replicas)
			for i := range dbs {
				dbs[i] = openAt(b, u, Options{MaxConns: 4})
			}
			inc := storetest.MustCreate(b, dbs[0], "bench", "C1")
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := range s.inflight {
				db := dbs[g%len(dbs)]
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
			var grouped, groups int64
			for _, db := range dbs {
				grouped, groups = grouped+db.commit.grouped.Load(), groups+db.commit.groups.Load()
			}
			b.ReportMetric(float64(grouped)/float64(groups), "calls/group")
		})
	}
}

// BenchmarkRawBatchedInsert is BenchmarkCapture's baseline: batches of
// rows inserted by the store's statement, one transaction each, by conns
// connections at once (3: the concurrency of 3 replicas, the load tool's
// baseline), with nothing else: no lock, no dedup read, no caller waiting.
func BenchmarkRawBatchedInsert(b *testing.B) {
	type shape struct{ batch, conns int }
	for _, s := range []shape{{100, 1}, {1000, 1}, {1000, 3}} {
		b.Run(fmt.Sprintf("batch=%d/conns=%d", s.batch, s.conns), func(b *testing.B) {
			ctx := context.Background()
			db := openAt(b, schemaURL(b), Options{MaxConns: 4})
			inc := storetest.MustCreate(b, db, "bench", "C1")
			var next atomic.Int64 // the last seq handed out
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range s.conns {
				wg.Go(func() {
					for {
						last := next.Add(int64(s.batch))
						first := last - int64(s.batch) + 1
						if first > int64(b.N) {
							return
						}
						rows := &eventRows{}
						for seq := first; seq <= min(last, int64(b.N)); seq++ {
							ts := fmt.Sprintf("1700000000.%06d", seq)
							ev := storetest.Message(inc.ID, "msg:"+ts, ts, "a captured message of some length, as people write in an incident channel")
							body, err := encodeEvent(&ev, inc.ID)
							if err != nil {
								b.Error(err)
								return
							}
							rows.ids = append(rows.ids, inc.ID)
							rows.seqs = append(rows.seqs, seq)
							rows.keys = append(rows.keys, ev.DedupKey)
							rows.bodies = append(rows.bodies, body)
						}
						err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
							_, err := tx.Exec(ctx, insertEvents, rows.ids, rows.seqs, rows.keys, rows.bodies)
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkUpdateIncident measures UpdateIncident on ONE incident (as the
// bot's slash commands update the incident of their channel) with
// inflight goroutines, each doing one update at a time (a status change,
// its event and its command's dedup key), spread over replicas DBs on one
// schema: each update in a transaction of its own (single, the store
// before group commit) against the group commit (grouped), in the same
// run. It reports each call's latency (p50, p99) and the updates per
// second.
func BenchmarkUpdateIncident(b *testing.B) {
	type shape struct{ inflight, replicas int }
	for _, s := range []shape{{1, 1}, {10, 1}, {100, 1}, {100, 3}} {
		for _, mode := range []string{"single", "grouped"} {
			b.Run(fmt.Sprintf("inflight=%d/replicas=%d/%s", s.inflight, s.replicas, mode), func(b *testing.B) {
				ctx := context.Background()
				u := schemaURL(b)
				dbs := make([]*DB, s.replicas)
				for i := range dbs {
					dbs[i] = openAt(b, u, Options{})
					dbs[i].singleUpdates = mode == "single"
				}
				inc := storetest.MustCreate(b, dbs[0], "bench", "C1")
				var (
					next atomic.Int64
					wg   sync.WaitGroup
					mu   sync.Mutex
					lat  = make([]time.Duration, 0, b.N)
				)
				b.ResetTimer()
				start := time.Now()
				for g := range s.inflight {
					db := dbs[g%len(dbs)]
					wg.Go(func() {
						var mine []time.Duration
						defer func() {
							mu.Lock()
							lat = append(lat, mine...)
							mu.Unlock()
						}()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							t0 := time.Now()
							_, applied, err := db.UpdateIncident(ctx, inc.ID, fmt.Sprint("cmd:", i), func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
								to := incidentbot.StatusIdentified
								if c.Status == to {
									to = incidentbot.StatusMonitoring
								}
								c.Status = to
								return []incidentbot.TimelineEvent{{Kind: incidentbot.EventStatus, To: string(to), Actor: "U1", Text: "status update"}}, nil
							})
							if err != nil || !applied {
								b.Errorf("UpdateIncident = %v, %v", applied, err)
								return
							}
							mine = append(mine, time.Since(t0))
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				slices.Sort(lat)
				pct := func(p float64) float64 {
					if len(lat) == 0 {
						return 0
					}
					return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
				}
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
				var groups, grouped int64
				for _, db := range dbs {
					groups += db.update.groups.Load()
					grouped += db.update.grouped.Load()
				}
				if groups > 0 {
					b.ReportMetric(float64(grouped)/float64(groups), "calls/group")
				}
				if n, err := dbs[0].EventCount(ctx, inc.ID); err != nil || n != b.N {
					b.Errorf("EventCount = %d, %v; want %d", n, err, b.N)
				}
			})
		}
	}
}
