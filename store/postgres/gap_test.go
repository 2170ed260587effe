package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for goose
	"github.com/pressly/goose/v3"
)

// TestTwoReplicasGaps records overlapping gaps of one channel through two
// DBs at once while a worker on one of them starts gaps (SaveGap): the
// gaps end up covering exactly the union of what was recorded, the ones
// not started neither touch each other nor overlap a started one (they
// were merged, not recorded twice), and no started gap grew or lost its
// progress.
func TestTwoReplicasGaps(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	replicas := []*DB{openAt(t, u, Options{}), openAt(t, u, Options{})}
	inc := storetest.MustCreate(t, replicas[0], "gaps", "C-gaps")
	other := storetest.MustCreate(t, replicas[1], "other", "C-other")
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }

	// The recordings, decided beforehand: spans of 1 to 20 s within
	// 10000 s, for the incident's channel and a few for another one.
	type rec struct {
		id       int64
		channel  string
		from, to int
	}
	const workers, each = 8, 30
	rng := rand.New(rand.NewPCG(1, 2))
	plan := make([][]rec, 2*workers)
	for w := range plan {
		for range each {
			r := rec{id: inc.ID, channel: "C-gaps"}
			if rng.IntN(10) == 0 {
				r = rec{id: other.ID, channel: "C-other"}
			}
			r.from = rng.IntN(10000)
			r.to = r.from + 1 + rng.IntN(20)
			plan[w] = append(plan[w], r)
		}
	}

	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		running atomic.Int32
		mu      sync.Mutex
		saved   = map[uint64]incidentbot.Gap{} // started by the worker
	)
	for w := range plan {
		running.Add(1)
		wg.Go(func() {
			defer running.Add(-1)
			<-start
			for _, r := range plan[w] {
				g := incidentbot.Gap{IncidentID: r.id, Channel: r.channel, From: at(r.from), To: at(r.to), Recorded: at(r.from)}
				if _, err := replicas[w%2].RecordGap(ctx, g); err != nil {
					t.Errorf("RecordGap: %v", err)
				}
			}
		})
	}
	// The backfill worker of replica 1 starts gaps meanwhile.
	wg.Go(func() {
		<-start
		for n := 0; running.Load() > 0; n++ {
			gs, err := replicas[1].PendingGaps(ctx)
			if err != nil {
				t.Errorf("PendingGaps: %v", err)
				return
			}
			for i, g := range gs {
				if g.Started() || g.Channel != "C-gaps" || i%7 != n%7 {
					continue
				}
				g.Upper = fmt.Sprintf("%d.000100", at(0).Unix()+int64(n))
				s, err := replicas[1].SaveGap(ctx, g)
				switch incidentbot.ErrorCode(err) {
				case "":
					mu.Lock()
					saved[s.ID] = s
					mu.Unlock()
				case incidentbot.EConflict, incidentbot.ENotFound:
					// Grown or folded since read: read again.
				default:
					t.Errorf("SaveGap: %v", err)
				}
			}
		}
	})
	close(start)
	wg.Wait()

	gs, err := replicas[0].PendingGaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) == 0 {
		t.Error("the worker started no gap: the test did not exercise SaveGap against RecordGap")
	}
	for _, ch := range []string{"C-gaps", "C-other"} {
		var want, got [][2]int
		for _, p := range plan {
			for _, r := range p {
				if r.channel == ch {
					want = append(want, [2]int{r.from, r.to})
				}
			}
		}
		var started, fresh []incidentbot.Gap
		for _, g := range gs {
			if g.Channel != ch {
				continue
			}
			got = append(got, [2]int{int(g.From.Sub(base) / time.Second), int(g.To.Sub(base) / time.Second)})
			if g.Started() {
				started = append(started, g)
			} else {
				fresh = append(fresh, g)
			}
		}
		if u, w := union(got), union(want); fmt.Sprint(u) != fmt.Sprint(w) {
			t.Errorf("%s: the gaps cover %v, want the union of the recordings %v", ch, u, w)
		}
		sort.Slice(fresh, func(i, j int) bool { return fresh[i].From.Before(fresh[j].From) })
		for i := 1; i < len(fresh); i++ {
			if !fresh[i-1].To.Before(fresh[i].From) {
				t.Errorf("%s: gaps %+v and %+v touch and are not started: recorded twice, not merged", ch, fresh[i-1], fresh[i])
			}
		}
		for _, f := range fresh {
			for _, s := range started {
				if f.From.Before(s.To) && s.From.Before(f.To) {
					t.Errorf("%s: gap %+v overlaps the started %+v", ch, f, s)
				}
			}
		}
		for _, s := range started {
			want, ok := saved[s.ID]
			if !ok || !s.From.Equal(want.From) || !s.To.Equal(want.To) || s.Upper != want.Upper || s.Rev != want.Rev {
				t.Errorf("%s: started gap %+v, was saved as %+v", ch, s, want)
			}
		}
	}
}

// union merges spans that overlap or touch, by start.
func union(spans [][2]int) [][2]int {
	s := append([][2]int(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i][0] < s[j][0] })
	var out [][2]int
	for _, p := range s {
		if n := len(out); n > 0 && p[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], p[1])
			continue
		}
		out = append(out, p)
	}
	return out
}

// TestBackupHoldsGaps: a backup holds the pending gaps with their
// progress, even one that grew up to a started gap after it.
func TestBackupHoldsGaps(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, schemaURL(t), Options{})
	a := storetest.MustCreate(t, db, "a", "C1")
	b := storetest.MustCreate(t, db, "b", "C2")
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	record := func(id int64, ch string, from, to int) incidentbot.Gap {
		t.Helper()
		got, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: id, Channel: ch, From: at(from), To: at(to), Recorded: at(from + 60)})
		if err != nil || len(got) != 1 {
			t.Fatalf("RecordGap = %+v, %v", got, err)
		}
		return got[0]
	}
	save := func(g incidentbot.Gap) {
		t.Helper()
		if _, err := db.SaveGap(ctx, g); err != nil {
			t.Fatalf("SaveGap: %v", err)
		}
	}
	record(a.ID, "C1", 0, 5)
	s := record(a.ID, "C1", 10, 20)
	s.Upper, s.Stored, s.Threads = "1740830700.000100", 3, []incidentbot.GapThread{{Parent: "1740830640.000100", After: "1740830650.000100"}}
	save(s)
	record(a.ID, "C1", 3, 15) // the first gap grows up to the started one
	f := record(a.ID, "C1", 30, 40)
	f.Failures, f.NextTry = 2, at(90)
	save(f)
	record(b.ID, "C2", 0, 5)

	show := func(gs []incidentbot.Gap) []string {
		var out []string
		for _, g := range gs {
			g.ID, g.Rev = 0, 0
			out = append(out, fmt.Sprintf("%+v", g))
		}
		sort.Strings(out)
		return out
	}
	want, err := db.PendingGaps(ctx)
	if err != nil || len(want) != 4 {
		t.Fatalf("PendingGaps = %+v, %v", want, err)
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	got, err := openBackup(t, buf.Bytes()).PendingGaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := show(got), show(want); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("the backup's gaps:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// TestMigrateToGaps: a database at schema version 1, with an incident,
// gets the gaps table from Open and keeps its data.
func TestMigrateToGaps(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	sqlDB, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := sqlDB.ExecContext(ctx, `INSERT INTO incidents (id, body, channel_id, open) VALUES (1, '{"title":"old"}', 'C1', true);
UPDATE counters SET value = 1 WHERE name = 'incident'`); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, u, Options{})
	if v, err := db.SchemaVersion(ctx); err != nil || v != KnownVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, KnownVersion())
	}
	if inc, err := db.Incident(ctx, 1); err != nil || inc.Title != "old" {
		t.Fatalf("Incident(1) after the migration = %+v, %v", inc, err)
	}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: 1, Channel: "C1", From: base, To: base.Add(time.Minute)}); err != nil {
		t.Fatalf("RecordGap after the migration: %v", err)
	}
	if gs, err := db.PendingGaps(ctx); err != nil || len(gs) != 1 {
		t.Errorf("PendingGaps = %+v, %v", gs, err)
	}
}
