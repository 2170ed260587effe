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
