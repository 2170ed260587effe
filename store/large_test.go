package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestOpenLargeFile builds a database of 10,000 incidents and 1,000,000
// events and checks that opening it, as `incidentbot serve` starts, takes
// under a second. Building the file takes a few minutes (about 2 on a CI machine), so the test runs
// only when INCIDENTBOT_STORE_LARGE is set (to keep the file: a path).
func TestOpenLargeFile(t *testing.T) {
	keep := os.Getenv("INCIDENTBOT_STORE_LARGE")
	if keep == "" {
		t.Skip("set INCIDENTBOT_STORE_LARGE=1 (or to a file path to keep) to build a 1,000,000-event database")
	}
	const incidents, events, perCall = 10_000, 1_000_000, 2_000
	path := filepath.Join(t.TempDir(), "large.db")
	if keep != "1" {
		path = keep
	}
	ctx := context.Background()
	if _, err := os.Stat(path); err != nil {
		build := time.Now()
		db, err := Open(path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range incidents {
			inc := newIncident(fmt.Sprint("incident ", i), fmt.Sprint("C", i))
			if i%100 != 0 {
				inc.Status = incidentbot.StatusResolved
			}
			if _, _, err := db.CreateIncident(ctx, inc, ""); err != nil {
				t.Fatal(err)
			}
		}
		batch := make([]incidentbot.TimelineEvent, 0, perCall)
		for i := range events {
			ts := fmt.Sprintf("%d.%06d", 1740830400+i/1000, i%1000)
			batch = append(batch, msg(int64(i/(events/incidents)+1), incidentbot.MessageKey(ts), ts, benchText))
			if len(batch) == perCall {
				if _, err := db.AppendEvents(ctx, batch...); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		t.Logf("built %s: %d MiB in %v", path, fi.Size()>>20, time.Since(build).Round(time.Millisecond))
	}

	start := time.Now()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	open, err := db.Incidents(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	listed := time.Since(start)
	n, err := db.EventCount(ctx, incidents)
	if err != nil || n != events/incidents {
		t.Errorf("EventCount(%d) = %d, %v", incidents, n, err)
	}
	ts, err := db.LastEventTS(ctx, incidents)
	if err != nil || ts == "" {
		t.Errorf("LastEventTS = %q, %v", ts, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Open %v; Open and list the %d open incidents %v", opened, len(open), listed)
	if listed > time.Second {
		t.Errorf("start-up took %v, want under 1s", listed)
	}
}
