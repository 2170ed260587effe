package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

// TestKnownChannelChangedElsewhere: a process that knows an incident's
// channel (it handled a command there) takes the next command typed there
// without reading the incident first; what another process (replica)
// changed meanwhile still decides the outcome, under the incident's lock:
// once the other resolved it, a status update is refused with the same
// answer as when the incident is read first, and nothing is recorded;
// what stays allowed after resolution (a hypothesis, an action) works.
func TestKnownChannelChangedElsewhere(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	inc, _, err := db.CreateIncident(ctx, &incidentbot.Incident{Title: "Search down", Severity: incidentbot.Sev2, Status: incidentbot.StatusInvestigating,
		ChannelID: "C1", Declarer: "U1", OpenedAt: now, LastUpdateAt: now}, "")
	if err != nil {
		t.Fatal(err)
	}
	a, b := newService(db, now, commands.Config{}), newService(db, now, commands.Config{}) // two replicas on one store
	n := 0
	run := func(svc *commands.Service, channel, text string) (commands.Result, error) {
		n++
		return svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: channel, UserID: "U1", Text: text, DedupKey: "trigger-" + strings.Repeat("x", n)})
	}
	if _, err := run(a, "C1", "status identified the index is rebuilding"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(b, "CELSEWHERE", "resolve INC-1 rebuilt"); err != nil {
		t.Fatal(err)
	}
	before, _ := db.EventCount(ctx, inc.ID)
	for _, text := range []string{"status monitoring still slow", "severity sev1", "role commander me", "snooze 30m"} {
		_, err := run(a, "C1", text)
		if msg := incidentbot.ErrorMessage(err); !strings.Contains(msg, "INC-1 is resolved; after resolution only `action`") {
			t.Errorf("%q after another replica resolved INC-1: %v; want the resolved answer", text, err)
		}
	}
	if after, _ := db.EventCount(ctx, inc.ID); after != before {
		t.Errorf("refused commands recorded %d events", after-before)
	}
	for _, text := range []string{"hypothesis the rebuild was throttled", "action Alert on rebuild time"} {
		if res, err := run(a, "C1", text); err != nil {
			t.Errorf("%q after resolution: %v", text, err)
		} else if res.Reply == "" {
			t.Errorf("%q: no reply", text)
		}
	}
	// Naming another incident in a known channel is still refused.
	if _, err := run(a, "C1", "status INC-9 identified x"); incidentbot.ErrorCode(err) != incidentbot.EInvalid {
		t.Errorf("another incident named in INC-1's channel: %v, want EInvalid", err)
	}
}
