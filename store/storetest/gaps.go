package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// Gaps is what the backfill asks of the store: the gaps in what was
// captured, recorded on every (re)connection and worked off until done,
// and what was captured in a stretch of a channel.
type Gaps interface {
	// RecordGap records a gap, merging it with the channel's gaps.
	RecordGap(ctx context.Context, g incidentbot.Gap) ([]incidentbot.Gap, error)
	// PendingGaps returns the gaps not closed, by ID.
	PendingGaps(ctx context.Context) ([]incidentbot.Gap, error)
	// SaveGap stores a gap's progress, if its revision is the one read.
	SaveGap(ctx context.Context, g incidentbot.Gap) (incidentbot.Gap, error)
	// CloseGap removes a gap, if its revision is the one read.
	CloseGap(ctx context.Context, g incidentbot.Gap) error
	// EventsInRange calls fn with the events whose Slack ts is in [from, to].
	EventsInRange(ctx context.Context, id int64, from, to string, fn func(*incidentbot.TimelineEvent) error) error
}

// gapCases are the conformance cases of Gaps, run by Run.
var gapCases = []struct {
	name string
	fn   func(*testing.T, Backend)
}{
	{"GapRecord", testGapRecord},
	{"GapMerge", testGapMerge},
	{"GapStartedNotReread", testGapStartedNotReread},
	{"GapSaveAndClose", testGapSaveAndClose},
	{"GapsSurviveReopen", testGapsSurviveReopen},
	{"GapsReadOnlyWithoutAny", testGapsReadOnlyWithoutAny},
	{"EventsInRange", testEventsInRange},
}

// at returns 12:mm on the suite's day.
func at(min int) time.Time { return time.Date(2025, 3, 1, 12, min, 0, 0, time.UTC) }

// pending returns the gaps, or fails the test.
func pending(t *testing.T, db Store) []incidentbot.Gap {
	t.Helper()
	gs, err := db.PendingGaps(context.Background())
	if err != nil {
		t.Fatalf("PendingGaps: %v", err)
	}
	return gs
}

// spans returns the [From, To] of gaps as minutes past 12:00.
func spans(gs []incidentbot.Gap) [][2]int {
	var out [][2]int
	for _, g := range gs {
		out = append(out, [2]int{g.From.Minute(), g.To.Minute()})
	}
	return out
}

func sameSpans(a, b [][2]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testGapRecord(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	if gs := pending(t, db); len(gs) != 0 {
		t.Fatalf("a new store has gaps: %+v", gs)
	}
	inc := MustCreate(t, db, "a", "C1")
	rec := at(30)
	got, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: inc.ID, Channel: "C1", From: at(1), To: at(5), Recorded: rec, Stored: 7, Upper: "9.9"})
	if err != nil || len(got) != 1 {
		t.Fatalf("RecordGap = %+v, %v", got, err)
	}
	gs := pending(t, db)
	if len(gs) != 1 {
		t.Fatalf("PendingGaps = %+v, want one", gs)
	}
	g := gs[0]
	if g.ID == 0 || g.ID != got[0].ID || g.Rev == 0 || g.Rev != got[0].Rev || g.IncidentID != inc.ID || g.Channel != "C1" ||
		!g.From.Equal(at(1)) || !g.To.Equal(at(5)) || !g.Recorded.Equal(rec) {
		t.Errorf("recorded gap = %+v (RecordGap said %+v)", g, got[0])
	}
	if g.Started() || g.Stored != 0 || g.Upper != "" {
		t.Errorf("RecordGap kept progress it was given: %+v", g)
	}
	for name, bad := range map[string]incidentbot.Gap{
		"no channel":     {IncidentID: inc.ID, From: at(1), To: at(2)},
		"empty":          {IncidentID: inc.ID, Channel: "C1", From: at(2), To: at(2)},
		"backwards":      {IncidentID: inc.ID, Channel: "C1", From: at(3), To: at(2)},
		"unknown (code)": {IncidentID: 99, Channel: "C9", From: at(1), To: at(2)},
	} {
		_, err := db.RecordGap(ctx, bad)
		want := incidentbot.EInvalid
		if bad.IncidentID == 99 {
			want = incidentbot.ENotFound
		}
		if code(err) != want {
			t.Errorf("RecordGap(%s) = %v, want %s", name, err, want)
		}
	}
	if gs := pending(t, db); len(gs) != 1 {
		t.Errorf("refused gaps were recorded: %+v", gs)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.RecordGap(cctx, incidentbot.Gap{IncidentID: inc.ID, Channel: "C1", From: at(1), To: at(2)}); err == nil {
		t.Error("RecordGap with a done context succeeded")
	}
}

// testGapMerge: gaps of a channel that are not started and overlap or touch
// become one, the earliest Recorded kept; others stay apart.
func testGapMerge(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	b := MustCreate(t, db, "b", "C2")
	record := func(id int64, ch string, from, to, rec int) {
		t.Helper()
		if _, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: id, Channel: ch, From: at(from), To: at(to), Recorded: at(rec)}); err != nil {
			t.Fatalf("RecordGap(%s %d-%d): %v", ch, from, to, err)
		}
	}
	record(a.ID, "C1", 10, 20, 40)
	record(a.ID, "C1", 15, 25, 41) // overlaps
	record(a.ID, "C1", 25, 30, 42) // touches
	record(a.ID, "C1", 12, 14, 43) // inside
	record(a.ID, "C1", 40, 45, 44) // apart
	record(b.ID, "C2", 10, 20, 45) // another channel
	gs := pending(t, db)
	if want := [][2]int{{10, 30}, {40, 45}, {10, 20}}; !sameSpans(spans(gs), want) {
		t.Fatalf("gaps = %v, want %v", spans(gs), want)
	}
	if !gs[0].Recorded.Equal(at(40)) {
		t.Errorf("merged gap recorded %v, want the earliest", gs[0].Recorded)
	}
	// A gap bridging two gaps folds them into one.
	record(a.ID, "C1", 28, 41, 46)
	gs = pending(t, db)
	if want := [][2]int{{10, 45}, {10, 20}}; !sameSpans(spans(gs), want) {
		t.Fatalf("after a bridging gap: gaps = %v, want %v", spans(gs), want)
	}
	if gs[0].IncidentID != a.ID || gs[1].IncidentID != b.ID || !gs[0].Recorded.Equal(at(40)) {
		t.Errorf("gaps = %+v", gs)
	}
}

// testGapStartedNotReread: a gap whose work has started no longer grows;
// what it covers is not recorded again, the rest is.
func testGapStartedNotReread(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	got, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(10), To: at(20)})
	if err != nil {
		t.Fatal(err)
	}
	g := got[0]
	g.Upper = "1740830700.000100"
	if g, err = db.SaveGap(ctx, g); err != nil {
		t.Fatalf("SaveGap: %v", err)
	}
	if _, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(5), To: at(25)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(12), To: at(18)}); err != nil {
		t.Fatal(err)
	}
	gs := pending(t, db)
	if want := [][2]int{{10, 20}, {5, 10}, {20, 25}}; !sameSpans(spans(gs), want) {
		t.Fatalf("gaps = %v, want %v (the started one unchanged, the rest around it)", spans(gs), want)
	}
	if gs[0].Upper != g.Upper || gs[0].Rev != g.Rev {
		t.Errorf("the started gap changed: %+v", gs[0])
	}
}

// testGapSaveAndClose: progress is saved only on the revision read, and a
// gap closed only if nothing was added since it was read.
func testGapSaveAndClose(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	got, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(10), To: at(20)})
	if err != nil {
		t.Fatal(err)
	}
	read := got[0]
	// The gap grows while a worker reads it.
	if _, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(18), To: at(22)}); err != nil {
		t.Fatal(err)
	}
	stale := read
	stale.Upper, stale.Stored = "1.0", 3
	if _, err := db.SaveGap(ctx, stale); code(err) != incidentbot.EConflict {
		t.Errorf("SaveGap on a stale revision = %v, want EConflict", err)
	}
	if err := db.CloseGap(ctx, read); code(err) != incidentbot.EConflict {
		t.Errorf("CloseGap on a stale revision = %v, want EConflict", err)
	}
	gs := pending(t, db)
	if len(gs) != 1 || !gs[0].To.Equal(at(22)) || gs[0].Started() {
		t.Fatalf("after refused writes: %+v", gs)
	}
	g := gs[0]
	g.Upper, g.Stored, g.Failures, g.NextTry = "1740830700.000100", 4, 2, at(50)
	g.Threads = []incidentbot.GapThread{{Parent: "1740830640.000100", After: "1740830650.000100"}, {Parent: "1740830660.000100"}}
	g.Channel, g.IncidentID = "other", 42 // not the worker's to change
	saved, err := db.SaveGap(ctx, g)
	if err != nil || saved.Rev <= g.Rev {
		t.Fatalf("SaveGap = %+v, %v", saved, err)
	}
	gs = pending(t, db)
	if len(gs) != 1 {
		t.Fatalf("gaps = %+v", gs)
	}
	s := gs[0]
	if s.Upper != g.Upper || s.Stored != 4 || s.Failures != 2 || !s.NextTry.Equal(at(50)) || len(s.Threads) != 2 ||
		s.Threads[0] != g.Threads[0] || s.Threads[1] != g.Threads[1] || s.Rev != saved.Rev || s.Channel != "C1" || s.IncidentID != a.ID {
		t.Errorf("saved gap = %+v, want the progress of %+v", s, g)
	}
	if err := db.CloseGap(ctx, g); code(err) != incidentbot.EConflict {
		t.Errorf("CloseGap with the revision before the save = %v, want EConflict", err)
	}
	if err := db.CloseGap(ctx, saved); err != nil {
		t.Fatalf("CloseGap: %v", err)
	}
	if gs := pending(t, db); len(gs) != 0 {
		t.Errorf("gaps after close = %+v", gs)
	}
	if err := db.CloseGap(ctx, saved); code(err) != incidentbot.ENotFound {
		t.Errorf("CloseGap twice = %v, want ENotFound", err)
	}
	if _, err := db.SaveGap(ctx, saved); code(err) != incidentbot.ENotFound {
		t.Errorf("SaveGap of a closed gap = %v, want ENotFound", err)
	}
	// A gap recorded after one is closed is new, even over the same time.
	got, err = db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(10), To: at(20)})
	if err != nil || len(got) != 1 || got[0].ID == saved.ID || got[0].Started() {
		t.Errorf("RecordGap after close = %+v, %v", got, err)
	}
}

func testGapsSurviveReopen(t *testing.T, be Backend) {
	if be.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	got, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(10), To: at(20)})
	if err != nil {
		t.Fatal(err)
	}
	g := got[0]
	g.Upper, g.Stored = "1740830700.000100", 9
	if g, err = db.SaveGap(ctx, g); err != nil {
		t.Fatal(err)
	}
	db = be.Reopen(t, db, false)
	gs := pending(t, db)
	if len(gs) != 1 || gs[0].ID != g.ID || gs[0].Rev != g.Rev || gs[0].Upper != g.Upper || gs[0].Stored != 9 || !gs[0].To.Equal(at(20)) {
		t.Fatalf("after reopen: %+v, want %+v", gs, g)
	}
	// IDs are not handed out again.
	got, err = db.RecordGap(ctx, incidentbot.Gap{IncidentID: a.ID, Channel: "C1", From: at(30), To: at(40)})
	if err != nil || got[0].ID <= g.ID {
		t.Errorf("RecordGap after reopen = %+v, %v", got, err)
	}
}

// testGapsReadOnlyWithoutAny: a store that never recorded a gap (a file
// written before gaps existed) reads as having none, read-only too.
func testGapsReadOnlyWithoutAny(t *testing.T, be Backend) {
	if be.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	db := be.Open(t)
	MustCreate(t, db, "a", "C1")
	ro := be.Reopen(t, db, true)
	if gs := pending(t, ro); len(gs) != 0 {
		t.Errorf("gaps = %+v", gs)
	}
	if _, err := ro.RecordGap(context.Background(), incidentbot.Gap{IncidentID: 1, Channel: "C1", From: at(1), To: at(2)}); code(err) != incidentbot.EUnavailable {
		t.Errorf("RecordGap on a read-only store = %v, want EUnavailable", err)
	}
}

// testEventsInRange: the events about messages in a stretch of ts, in Seq
// order, ts compared as numbers.
func testEventsInRange(t *testing.T, be Backend) {
	ctx := context.Background()
	db := be.Open(t)
	a := MustCreate(t, db, "a", "C1")
	b := MustCreate(t, db, "b", "C2")
	edit := Message(a.ID, "e", "1000.000200", "edited")
	edit.Kind = incidentbot.EventEdited
	status := incidentbot.TimelineEvent{IncidentID: a.ID, Kind: incidentbot.EventNotice, Text: "no ts"}
	if _, err := db.AppendEvents(ctx,
		Message(a.ID, "m1", "999.999999", "before"),
		Message(a.ID, "m2", "1000.000200", "first"),
		Message(a.ID, "m3", "1000.9", "second"),
		status,
		edit,
		Message(a.ID, "m4", "10000.000001", "after"),
		Message(a.ID, "m5", "1001.000000", "last, inclusive"),
		Message(b.ID, "m2", "1000.5", "other incident"),
	); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := db.EventsInRange(ctx, a.ID, "1000.0002", "1001", func(ev *incidentbot.TimelineEvent) error {
		got = append(got, ev.Text)
		return nil
	})
	want := []string{"first", "second", "edited", "last, inclusive"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("EventsInRange = %q, %v; want %q", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("EventsInRange = %q, want %q", got, want)
			break
		}
	}
	if err := db.EventsInRange(ctx, 99, "1", "2", func(*incidentbot.TimelineEvent) error { return nil }); code(err) != incidentbot.ENotFound {
		t.Errorf("EventsInRange of an unknown incident = %v, want ENotFound", err)
	}
}
