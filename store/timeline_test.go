package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

func TestTSLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", false},
		{"", "1.0", true},
		{"1.0", "", false},
		{"1700000000.000100", "1700000000.000200", true},
		{"1700000000.000200", "1700000000.000100", false},
		{"1700000000.000100", "1700000000.000100", false},
		{"1700000000.999999", "1700000001.000000", true},
		{"999999999.999999", "1000000000.000000", true},
		{"1000000000.000000", "999999999.999999", false},
		{"1700000000.1", "1700000000.000200", false},
		{"1700000000", "1700000000.000001", true},
		{"0001.5", "2.0", true},
	}
	for _, tt := range tests {
		if got := tsLess(tt.a, tt.b); got != tt.want {
			t.Errorf("tsLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestEventEncoding checks that the bytes stored for an event are exactly
// encoding/json's encoding of it with its Seq, however its text looks: the
// store encodes before the transaction and splices Seq in.
func TestEventEncoding(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "json", "C1")
	texts := []string{
		`plain`,
		`,"seq":0,`,
		`{"incident_id":1,"seq":0,"kind":"message"}`,
		"quotes \" and \\ and \u2028 and <b>&amp;</b>",
		``,
	}
	var events []incidentbot.TimelineEvent
	for i, text := range texts {
		ev := msg(inc.ID, fmt.Sprint("k", i), fmt.Sprintf("1.%06d", i), text)
		ev.Seq = 12345 // ignored
		ev.Files = []incidentbot.File{{Name: `,"seq":0,`, URL: "https://example.invalid/f"}}
		events = append(events, ev)
	}
	if _, err := db.AppendEvents(ctx, events...); err != nil {
		t.Fatal(err)
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		tl := openTimeline(tx, inc.ID)
		for i, ev := range events {
			ev.Seq = uint64(i + 1)
			want, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if got := tl.events.Get(itob(ev.Seq)); !bytes.Equal(got, want) {
				t.Errorf("event %d stored as\n%s\nwant\n%s", i, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range allEvents(t, db, inc.ID) {
		if ev.Text != texts[i] || ev.Seq != uint64(i+1) || ev.Files[0].Name != `,"seq":0,` {
			t.Errorf("event %d read back as %+v", i, ev)
		}
	}
}
