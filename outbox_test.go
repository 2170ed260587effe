package incidentbot

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// TestOutboxJSONUnchanged decodes an incident as stored before PagerAction
// and TrackerAction shared OutboxState (testdata/incident_outbox.json was
// written by that code) and checks that it encodes back to the same bytes,
// so that existing bbolt and PostgreSQL records keep their shape.
func TestOutboxJSONUnchanged(t *testing.T) {
	want, err := os.ReadFile("testdata/incident_outbox.json")
	if err != nil {
		t.Fatal(err)
	}
	var inc Incident
	if err := json.Unmarshal(want, &inc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if p := inc.PagerAction(2); p == nil || p.State != PagerPending || p.Attempts != 1 || !p.NextAttempt.Equal(at.Add(time.Minute)) || p.LastError != "PagerDuty is unavailable" {
		t.Fatalf("pager action 2 decoded as %+v", p)
	}
	if tr := inc.TrackerAction(1); tr == nil || tr.State != PagerDone || tr.RequestedBy != "U1" || !tr.DoneAt.Equal(at.Add(2*time.Second)) {
		t.Fatalf("tracker action 1 decoded as %+v", tr)
	}
	got, err := json.Marshal(&inc)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if got = append(got, '\n'); !bytes.Equal(got, want) {
		t.Fatalf("re-encoded incident differs:\n got %s\nwant %s", got, want)
	}
}

func TestOutboxStateDue(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		o    OutboxState
		want time.Time
	}{
		{"not tried yet", OutboxState{RequestedAt: at}, at},
		{"retry scheduled", OutboxState{RequestedAt: at, NextAttempt: at.Add(time.Minute)}, at.Add(time.Minute)},
	}
	for _, tt := range tests {
		if got := tt.o.Due(); !got.Equal(tt.want) {
			t.Errorf("%s: Due() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTrackerCreateDue: a create that may have reached the tracker is not
// attempted again before TrackerSettle after that attempt; other kinds,
// and a create never tried, keep the outbox's due time.
func TestTrackerCreateDue(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := TrackerAction{Kind: TrackCreate, OutboxState: OutboxState{RequestedAt: t0}}
	if !a.Due().Equal(t0) {
		t.Errorf("never tried: due %v", a.Due())
	}
	a.Tried, a.NextAttempt = t0, t0.Add(time.Second)
	if want := t0.Add(TrackerSettle); !a.Due().Equal(want) {
		t.Errorf("tried: due %v, want %v", a.Due(), want)
	}
	a.NextAttempt = t0.Add(time.Hour)
	if !a.Due().Equal(a.NextAttempt) {
		t.Errorf("backoff longer than the settle: due %v", a.Due())
	}
	a.Kind, a.NextAttempt = TrackClose, time.Time{}
	if !a.Due().Equal(t0) {
		t.Errorf("close: due %v", a.Due())
	}
}

func TestTrackerItemMarker(t *testing.T) {
	it := TrackerItem{TeamID: "T0001", Incident: "INC-7", Item: "A2"}
	if got := it.Marker(); got != "incidentbot: T0001 INC-7 A2" {
		t.Errorf("Marker = %q", got)
	}
	it.TeamID = ""
	if got := it.Marker(); got != "incidentbot: INC-7 A2" {
		t.Errorf("Marker without a team = %q", got)
	}
}
