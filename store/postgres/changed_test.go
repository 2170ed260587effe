package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestIncidentsChangedSince: the incidents created or updated since a time
// of the database's clock, and that clock's time, which excludes what was
// written before it and includes what is written after.
func TestIncidentsChangedSince(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, schemaURL(t), Options{})
	for _, title := range []string{"one", "two"} {
		inc := &incidentbot.Incident{Title: title, Severity: incidentbot.Sev3, Status: incidentbot.StatusInvestigating, OpenedAt: time.Now().UTC()}
		if _, _, err := db.CreateIncident(ctx, inc, "", incidentbot.TimelineEvent{Kind: incidentbot.EventOpened, At: inc.OpenedAt}); err != nil {
			t.Fatal(err)
		}
	}
	all, now, err := db.IncidentsChangedSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != 1 || all[1].Title != "two" || now.IsZero() {
		t.Fatalf("since the beginning: %d incidents, now %v", len(all), now)
	}
	if none, _, err := db.IncidentsChangedSince(ctx, now.Add(time.Microsecond)); err != nil || len(none) != 0 {
		t.Fatalf("since after the writes: %d incidents, %v", len(none), err)
	}
	if _, _, err := db.UpdateIncident(ctx, 2, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.Title = "two, renamed"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, later, err := db.IncidentsChangedSince(ctx, now.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != 2 || got[0].Title != "two, renamed" || !later.After(now) {
		t.Fatalf("since before the update: %+v, now %v after %v", got, later, now)
	}
}
