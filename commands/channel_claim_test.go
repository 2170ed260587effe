package commands_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store"
)

// slowChannels is a fuzzSlack whose channel creation takes a while, as
// Slack's can under load.
type slowChannels struct {
	fuzzSlack
	delay time.Duration
}

func (s *slowChannels) CreateChannel(ctx context.Context, name string, private bool) (string, error) {
	time.Sleep(s.delay)
	return s.fuzzSlack.CreateChannel(ctx, name, private)
}

// TestChannelCreatedOnce: two processes sharing a store (two Services, as
// two replicas would be) repair the same incident's missing channel at once,
// while its creation is slow: the channel is created once, and the incident
// records that one.
func TestChannelCreatedOnce(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "claim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
	inc, _, err := db.CreateIncident(ctx, &incidentbot.Incident{Title: "left without a channel", Severity: incidentbot.Sev2,
		Status: incidentbot.StatusInvestigating, Declarer: "U1", OpenedAt: now.Add(-time.Hour), LastUpdateAt: now.Add(-time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	slack := &slowChannels{delay: 200 * time.Millisecond}
	var wg sync.WaitGroup
	for range 2 {
		deps := commands.SlackDeps(slack)
		deps.Now = func() time.Time { return now }
		svc := commands.New(db, commands.Config{}, deps)
		wg.Go(func() {
			if err := svc.ResumeChannels(ctx, now); err != nil {
				t.Errorf("ResumeChannels: %v", err)
			}
		})
	}
	wg.Wait()
	if slack.channels != 1 {
		t.Errorf("%d channels created for one incident, want 1", slack.channels)
	}
	got, _ := db.Incident(ctx, inc.ID)
	if got.ChannelID != "C1" || !got.ChannelClaimUntil.IsZero() {
		t.Errorf("channel %q, claim until %v; want C1 and no claim left", got.ChannelID, got.ChannelClaimUntil)
	}

	// A claim left by a process that died is taken over once it expired.
	inc2, _, _ := db.CreateIncident(ctx, &incidentbot.Incident{Title: "its replica died", Severity: incidentbot.Sev2,
		Status: incidentbot.StatusInvestigating, Declarer: "U1", OpenedAt: now.Add(-time.Hour), LastUpdateAt: now.Add(-time.Hour)}, "")
	db.UpdateIncident(ctx, inc2.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.ChannelClaimUntil = now.Add(time.Minute)
		return nil, nil
	})
	later := now
	deps := commands.SlackDeps(slack)
	deps.Now = func() time.Time { return later }
	svc := commands.New(db, commands.Config{}, deps)
	if err := svc.ResumeChannels(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Incident(ctx, inc2.ID); got.ChannelID != "" {
		t.Fatalf("channel created under another process's live claim: %q", got.ChannelID)
	}
	later = now.Add(2 * time.Minute)
	if err := svc.ResumeChannels(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Incident(ctx, inc2.ID); got.ChannelID == "" {
		t.Fatal("no channel after the claim expired")
	}
}
