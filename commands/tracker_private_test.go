package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

// refusingTracker fails the test on any call: nothing may reach it.
type refusingTracker struct{ t *testing.T }

func (r refusingTracker) Name() string { return incidentbot.TrackerGitHub }
func (r refusingTracker) Create(context.Context, incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	r.t.Error("a private incident's item reached the tracker")
	return incidentbot.TrackerIssue{}, nil
}
func (r refusingTracker) Update(context.Context, string, incidentbot.TrackerItem) error { return nil }
func (r refusingTracker) SetDone(context.Context, string, bool) error                   { return nil }
func (r refusingTracker) Find(context.Context, incidentbot.TrackerItem, time.Time) (incidentbot.TrackerIssue, bool, error) {
	r.t.Error("a private incident's item was looked for in the tracker")
	return incidentbot.TrackerIssue{}, false, nil
}

// TestPrivateItemsNotMirrored: an action item of a private incident is not
// queued for the tracker (whose issues people outside the channel can read),
// and the reply does not promise an issue.
func TestPrivateItemsNotMirrored(t *testing.T) {
	ctx := context.Background()
	w := newFuzzWorld(t, t.TempDir(), 0)
	defer w.close()
	w.db.UpdateIncident(ctx, 1, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.Private = true
		return nil, nil
	})
	deps := commands.SlackDeps(w.slack)
	deps.Tracker = refusingTracker{t}
	svc := commands.New(w.db, commands.Config{}, deps)
	res, err := svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: "C1", UserID: "U1", Text: "action Rotate the leaked key <@U2> due:+1d"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Followup != nil {
		res.Followup(ctx)
	}
	inc, _ := w.db.Incident(ctx, 1)
	if len(inc.Tracker) != 0 || len(inc.Actions) != 1 {
		t.Errorf("tracker outbox %v, %d items; want none queued and the item recorded", inc.Tracker, len(inc.Actions))
	}
	if err := svc.DeliverTracker(ctx, 1, func(int) time.Duration { return 0 }); err != nil {
		t.Errorf("DeliverTracker: %v", err)
	}
}
