package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// importFixture is an incident with n events numbered 1..n (every third
// without a dedup key) and one started backfill gap.
func importFixture(id int64, title string, n int) (*incidentbot.Incident, []incidentbot.TimelineEvent, []incidentbot.Gap) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	inc := &incidentbot.Incident{ID: id, Title: title, Severity: 2, Status: incidentbot.StatusInvestigating,
		ChannelID: fmt.Sprintf("C-%d", id), Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0}
	var evs []incidentbot.TimelineEvent
	for i := 1; i <= n; i++ {
		ev := incidentbot.TimelineEvent{IncidentID: id, Seq: uint64(i), Kind: incidentbot.EventMessage,
			At: t0.Add(time.Duration(i) * time.Second), Actor: "U2", Text: fmt.Sprintf("message %d", i),
			TS: fmt.Sprintf("%d.%06d", 1740830400+i, i)}
		if i%3 != 0 {
			ev.DedupKey = fmt.Sprintf("ev-%d-%d", id, i)
		}
		evs = append(evs, ev)
	}
	gaps := []incidentbot.Gap{{IncidentID: id, Channel: inc.ChannelID, From: t0, To: t0.Add(time.Minute), Recorded: t0,
		Upper: "1740830430.000000", Stored: 2}}
	return inc, evs, gaps
}

// readTimeline reads incident id's events from db.
func readTimeline(t *testing.T, db *DB, id int64) []incidentbot.TimelineEvent {
	t.Helper()
	var out []incidentbot.TimelineEvent
	if err := db.Events(context.Background(), id, func(e *incidentbot.TimelineEvent) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameJSON fails the test unless got and want encode alike.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestImport imports incidents under their own ids (not from 1), again
// (nothing written), grown (completed), and in conflicting forms (not
// touched); CreateIncident then continues after the highest id.
func TestImport(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, schemaURL(t), Options{})

	inc3, evs3, gaps3 := importFixture(3, "Login failures", 7)
	res, err := db.Import(ctx, inc3, evs3[:4], gaps3)
	if err != nil {
		t.Fatal(err)
	}
	if res != (ImportResult{Outcome: ImportCreated, Added: 4, Gaps: 1}) {
		t.Errorf("first import = %+v", res)
	}
	inc5, evs5, _ := importFixture(5, "Payments down", 2)
	inc5.Status, inc5.ResolvedAt = incidentbot.StatusResolved, inc5.OpenedAt.Add(time.Hour)
	if res, err := db.Import(ctx, inc5, evs5, nil); err != nil || res.Outcome != ImportCreated {
		t.Fatalf("import INC-5 = %+v, %v", res, err)
	}

	// Again, the same: nothing written.
	if res, err := db.Import(ctx, inc3, evs3[:4], gaps3); err != nil || res != (ImportResult{Outcome: ImportUnchanged, Before: 4}) {
		t.Errorf("import again = %+v, %v", res, err)
	}
	// The file went on (an earlier copy was migrated): completed, the gap
	// not doubled.
	inc3.Status = incidentbot.StatusIdentified
	if res, err := db.Import(ctx, inc3, evs3, gaps3); err != nil || res != (ImportResult{Outcome: ImportCompleted, Before: 4, Added: 3}) {
		t.Errorf("import grown = %+v, %v", res, err)
	}

	for _, tt := range []struct {
		inc  *incidentbot.Incident
		evs  []incidentbot.TimelineEvent
		want string
	}{
		{inc3, evs3[:5], "more than the 5 in the file"},
		{&incidentbot.Incident{ID: 3, Title: "Something else"}, evs3, `titled "Login failures", in the file "Something else"`},
		{inc5, append(evs5[:1:1], evs3[2:4]...), "event 2 differs"},
		{&incidentbot.Incident{ID: 9, Title: "Channel thief", ChannelID: "C-3"}, nil, "channel C-3 already belongs to INC-3"},
	} {
		_, err := db.Import(ctx, tt.inc, renumber(tt.inc.ID, tt.evs), nil)
		if incidentbot.ErrorCode(err) != incidentbot.EConflict || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "not touched") {
			t.Errorf("import %s with %d events: %v, want EConflict %q", tt.inc.Key(), len(tt.evs), err, tt.want)
		}
	}
	bad := renumber(7, evs3[:2])
	bad[1].Seq = 3
	dup := renumber(7, evs3[:2])
	dup[1].DedupKey = dup[0].DedupKey
	for _, evs := range [][]incidentbot.TimelineEvent{bad, dup} {
		if _, err := db.Import(ctx, &incidentbot.Incident{ID: 7, Title: "x"}, evs, nil); incidentbot.ErrorCode(err) != incidentbot.EInvalid {
			t.Errorf("import of a bad timeline: %v, want EInvalid", err)
		}
	}
	if _, err := db.Incident(ctx, 9); incidentbot.ErrorCode(err) != incidentbot.ENotFound {
		t.Errorf("a conflicting import wrote INC-9: %v", err)
	}

	// Read back: the records, the timelines with their Seq and dedup keys,
	// the gap, the heads.
	for _, want := range []struct {
		inc *incidentbot.Incident
		evs []incidentbot.TimelineEvent
	}{{inc3, evs3}, {inc5, evs5}} {
		got, err := db.Incident(ctx, want.inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, want.inc.Key(), got, want.inc)
		sameJSON(t, want.inc.Key()+" events", readTimeline(t, db, want.inc.ID), want.evs)
		if ts, _ := db.LastEventTS(ctx, want.inc.ID); ts != want.evs[len(want.evs)-1].TS {
			t.Errorf("%s last ts %q", want.inc.Key(), ts)
		}
	}
	open, _ := db.Incidents(ctx, true)
	if len(open) != 1 || open[0].ID != 3 {
		t.Errorf("open incidents %v, want INC-3 only", open)
	}
	gs, err := db.PendingGaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || gs[0].IncidentID != 3 || gs[0].Upper != gaps3[0].Upper || gs[0].Stored != 2 || !gs[0].To.Equal(gaps3[0].To) {
		t.Errorf("gaps %+v, want %+v", gs, gaps3)
	}
	// A repeated dedup key is still refused by the imported timeline.
	if n, err := db.AppendEvents(ctx, evs3[0]); err != nil || n != 0 {
		t.Errorf("append of an imported key = %d, %v", n, err)
	}

	// New incidents continue the sequence.
	created, _, err := db.CreateIncident(ctx, &incidentbot.Incident{Title: "after the move"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != 6 {
		t.Errorf("next incident INC-%d, want INC-6", created.ID)
	}
}

// renumber returns copies of evs numbered 1..n for incident id.
func renumber(id int64, evs []incidentbot.TimelineEvent) []incidentbot.TimelineEvent {
	out := make([]incidentbot.TimelineEvent, len(evs))
	for i, e := range evs {
		e.IncidentID, e.Seq = id, uint64(i)+1
		out[i] = e
	}
	return out
}

// TestImportReadOnly: a read-only store refuses to import.
func TestImportReadOnly(t *testing.T) {
	u := schemaURL(t)
	openAt(t, u, Options{}).Close()
	db := openAt(t, u, Options{ReadOnly: true})
	inc, evs, _ := importFixture(1, "x", 1)
	if _, err := db.Import(context.Background(), inc, evs, nil); incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Errorf("read-only import: %v, want EUnavailable", err)
	}
}
