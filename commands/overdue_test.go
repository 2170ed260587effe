package commands_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// dmSlack records the DMs posted; the post after the first takeAndDie
// ones is taken by Slack, then its poster dies (a holder killed between
// Slack taking a DM and its record).
type dmSlack struct {
	fuzzSlack
	mu         sync.Mutex
	dms        []string // owners, in order
	takeAndDie int      // posts before the one that kills its poster; <0: none
}

func (s *dmSlack) Post(ctx context.Context, ch, text string) (string, error) {
	s.mu.Lock()
	s.dms = append(s.dms, ch)
	die := s.takeAndDie == 0
	s.takeAndDie--
	s.mu.Unlock()
	if die {
		runtime.Goexit()
	}
	return "1700000000.000100", nil
}

func (s *dmSlack) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dms)
}

// TestRemindOverdueActionsResumed: each owner's overdue DM of a firing is
// recorded once Slack took it, so that a run of the same firing cut short
// (its holder died) and run again messages only the owners not reached —
// the one whose DM Slack took as its holder died gets it twice, no one
// none — and a run of that firing once more messages no one; the next
// firing messages everyone again.
func TestRemindOverdueActionsResumed(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	inc := storetest.MustCreate(t, db, "Disk full", "C1")
	if _, _, err := db.UpdateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		for n, owner := range []string{"U1", "U2", "U3"} {
			i.Actions = append(i.Actions, incidentbot.ActionItem{ID: n + 1, Text: "Fix it", Owner: owner, Due: "2026-11-20",
				Status: incidentbot.ActionOpen, CreatedBy: "U1", CreatedAt: now.Add(-72 * time.Hour)})
		}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	run := func(slack *dmSlack, firing time.Time) (int, error) {
		deps := commands.SlackDeps(slack)
		deps.Now = func() time.Time { return now }
		svc := commands.New(db, commands.Config{}, deps)
		var n int
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			n, err = svc.RemindOverdueActions(ctx, firing)
		}()
		<-done
		return n, err
	}

	first := &dmSlack{takeAndDie: 1}
	run(first, now)
	if got := first.sent(); strings.Join(got, " ") != "U1 U2" {
		t.Fatalf("the run cut short messaged %v, want U1, then U2 as it died", got)
	}
	again := &dmSlack{takeAndDie: -1}
	if n, err := run(again, now); n != 2 || err != nil {
		t.Fatalf("the firing run again: %d messaged, %v; want 2", n, err)
	}
	if got := again.sent(); strings.Join(got, " ") != "U2 U3" {
		t.Errorf("the firing run again messaged %v, want U2 (taken as its holder died) and U3", got)
	}
	once := &dmSlack{takeAndDie: -1}
	if n, err := run(once, now); n != 0 || err != nil || len(once.sent()) != 0 {
		t.Errorf("the firing run once more: %d messaged (%v), %v; want none", n, once.sent(), err)
	}
	next := &dmSlack{takeAndDie: -1}
	if n, err := run(next, now.Add(24*time.Hour)); n != 3 || err != nil {
		t.Errorf("the next firing: %d messaged (%v), %v; want 3", n, next.sent(), err)
	}
}
