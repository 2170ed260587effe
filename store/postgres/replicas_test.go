package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// TestTwoReplicas runs creates, updates and captures through two DBs on
// one database (two pools, as two replicas have): dedupe, the id
// sequence, the channel index and the absence of lost updates come from
// the database, not from one process's locks.
func TestTwoReplicas(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	replicas := []*DB{openAt(t, u, Options{}), openAt(t, u, Options{})}
	const callers = 16

	t.Run("CreateDedupAndSequence", func(t *testing.T) {
		var (
			wg      sync.WaitGroup
			created atomic.Int32
			start   = make(chan struct{})
			ids     [2 * callers]int64
		)
		for i := range 2 * callers {
			wg.Go(func() {
				<-start
				db := replicas[i%2]
				// The same command, delivered to both replicas.
				_, ok, err := db.CreateIncident(ctx, storetest.NewIncident("redelivered", ""), "trigger-1", storetest.Message(0, "", "", "opened"))
				if err != nil {
					t.Errorf("CreateIncident: %v", err)
					return
				}
				if ok {
					created.Add(1)
				}
				// And a distinct incident each.
				other, ok, err := db.CreateIncident(ctx, storetest.NewIncident(fmt.Sprint("own ", i), fmt.Sprint("C", i)), "")
				if err != nil || !ok {
					t.Errorf("CreateIncident: %v, %v", ok, err)
					return
				}
				ids[i] = other.ID
			})
		}
		close(start)
		wg.Wait()
		if created.Load() != 1 {
			t.Errorf("the redelivered command created %d incidents, want 1", created.Load())
		}
		all, err := replicas[0].Incidents(ctx, false)
		if err != nil || len(all) != 2*callers+1 {
			t.Fatalf("Incidents = %d, %v; want %d", len(all), err, 2*callers+1)
		}
		for i, inc := range all {
			if inc.ID != int64(i+1) {
				t.Errorf("incident %d has id %d: ids are not 1..n", i, inc.ID)
			}
		}
	})

	t.Run("UpdatesNotLost", func(t *testing.T) {
		inc := storetest.MustCreate(t, replicas[0], "counter", "C-counter")
		const each = 10
		var wg sync.WaitGroup
		var applied atomic.Int32
		for i := range callers {
			wg.Go(func() {
				db := replicas[i%2]
				for j := range each {
					_, _, err := db.UpdateIncident(ctx, inc.ID, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
						c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: fmt.Sprint(i, "-", j)})
						return []incidentbot.TimelineEvent{{Kind: incidentbot.EventHypothesis, Text: fmt.Sprint(i, "-", j)}}, nil
					})
					if err != nil {
						t.Errorf("UpdateIncident: %v", err)
					}
				}
				// One command redelivered to both replicas.
				_, ok, err := db.UpdateIncident(ctx, inc.ID, "cmd-once", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
					c.Severity = incidentbot.Sev1
					return []incidentbot.TimelineEvent{{Kind: incidentbot.EventSeverity, DedupKey: "sev-once"}}, nil
				})
				if err != nil {
					t.Errorf("UpdateIncident: %v", err)
				}
				if ok {
					applied.Add(1)
				}
			})
		}
		wg.Wait()
		got, err := replicas[1].Incident(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Hypotheses) != callers*each {
			t.Errorf("%d hypotheses after %d updates: updates were lost", len(got.Hypotheses), callers*each)
		}
		for i, h := range got.Hypotheses {
			if h.ID != i+1 {
				t.Errorf("hypothesis %d has ID %d: two updates saw the same state", i, h.ID)
			}
		}
		if applied.Load() != 1 {
			t.Errorf("the redelivered command was applied %d times", applied.Load())
		}
		checkSeq(t, replicas[0], inc.ID, callers*each+1)
	})

	t.Run("CaptureDedup", func(t *testing.T) {
		inc := storetest.MustCreate(t, replicas[0], "capture", "C-capture")
		const keys = 200
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			total atomic.Int64
		)
		// Every envelope reaches both replicas (a redelivery to another
		// connection), several in flight at once on each.
		for r := range 2 {
			for w := range 8 {
				wg.Go(func() {
					<-start
					for k := w; k < keys; k += 8 {
						ts := fmt.Sprintf("1700000000.%06d", k)
						n, err := replicas[r].AppendEvents(ctx, storetest.Message(inc.ID, "msg:"+ts, ts, "hello"))
						if err != nil {
							t.Errorf("AppendEvents: %v", err)
						}
						total.Add(int64(n))
					}
				})
			}
		}
		close(start)
		wg.Wait()
		if total.Load() != keys {
			t.Errorf("the replicas report %d events stored, want %d", total.Load(), keys)
		}
		checkSeq(t, replicas[1], inc.ID, keys)
		if ts, err := replicas[0].LastEventTS(ctx, inc.ID); err != nil || ts != fmt.Sprintf("1700000000.%06d", keys-1) {
			t.Errorf("LastEventTS = %q, %v", ts, err)
		}
	})

	t.Run("ChannelTakenAcrossReplicas", func(t *testing.T) {
		a := storetest.MustCreate(t, replicas[0], "a", "")
		b := storetest.MustCreate(t, replicas[1], "b", "")
		var wg sync.WaitGroup
		var conflicts atomic.Int32
		for i, id := range []int64{a.ID, b.ID} {
			wg.Go(func() {
				_, _, err := replicas[i].UpdateIncident(ctx, id, "", func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
					c.ChannelID = "C-contested"
					return nil, nil
				})
				switch incidentbot.ErrorCode(err) {
				case "":
				case incidentbot.EConflict:
					conflicts.Add(1)
				default:
					t.Errorf("UpdateIncident: %v", err)
				}
			})
		}
		wg.Wait()
		if conflicts.Load() != 1 {
			t.Errorf("%d replicas were refused the channel, want 1", conflicts.Load())
		}
	})
}

// checkSeq checks that incident id has n events, Seq 1..n.
func checkSeq(t *testing.T, db *DB, id int64, n int) {
	t.Helper()
	evs := storetest.AllEvents(t, db, id)
	if len(evs) != n {
		t.Errorf("INC-%d has %d events, want %d", id, len(evs), n)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has Seq %d", i, ev.Seq)
			return
		}
	}
	if c, err := db.EventCount(context.Background(), id); err != nil || c != n {
		t.Errorf("EventCount = %d, %v; want %d", c, err, n)
	}
}
