package scheduler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/store"
)

// reviewRuns is the command service's PostReviews, counting the firings
// that ran it to the end.
type reviewRuns struct {
	svc  *commands.Service
	runs atomic.Int32
}

func (r *reviewRuns) PostReviews(ctx context.Context) (int, error) {
	defer r.runs.Add(1)
	return r.svc.PostReviews(ctx)
}

// TestFollowUpReviewOnFakeClock: the follow-up review is posted at the
// first firing of the action cron on or after resolution + 14 days, once:
// not at the firing 13 days 23 hours after, not again at the next firing,
// not again after a restart; an incident whose channel is gone is skipped.
func TestFollowUpReviewOnFakeClock(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	slack := &recorder{}
	resolved := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := newClock(resolved)

	// start runs a scheduler with its own command service on db, as a
	// (re)started bot does; the returned stop waits for Run to return.
	start := func() (*commands.Service, *reviewRuns, func()) {
		sched, err := scheduler.New(scheduler.Config{Now: clk.Now, Tick: time.Millisecond, ActionCron: "0 9 * * *"})
		if err != nil {
			t.Fatal(err)
		}
		svc := commands.New(db, commands.Config{}, commands.Deps{Poster: slack, Channels: slack, Now: clk.Now, Observer: sched})
		r := &reviewRuns{svc: svc}
		sched.Schedule(scheduler.Jobs{Incidents: db, Reviews: r})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sched.Run(runCtx) }()
		return svc, r, func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	svc, runs, stop := start()
	for _, title := range []string{"Checkout errors", "Search slow"} {
		res, err := svc.Open(ctx, commands.OpenRequest{TeamID: "T1", UserID: "U1", Title: title})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Followup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range []struct{ channel, text string }{
		{"C000001", "action Alert on checkout 5xx <@U2> due:+30d"},
		{"C000001", "action Write the runbook <@U3> due:+3d"},
		{"C000001", "action done A2"},
		{"C000001", "action Decide who owns the SDK"},
		{"C000001", "role commander <@U4>"},
		{"C000001", "resolve rolled back"},
		{"C000002", "action Cache the index <@U2>"},
		{"C000002", "resolve"},
	} {
		if _, err := svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: cmd.channel, UserID: "U1", Text: cmd.text}); err != nil {
			t.Fatalf("/incident %s: %v", cmd.text, err)
		}
	}
	if _, _, err := db.UpdateIncident(ctx, 2, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.ChannelGone, i.ChannelGoneAt = "is_archived", clk.Now()
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	const mark = ":mag:"

	firing := func(r *reviewRuns, at time.Time, n int32) {
		t.Helper()
		clk.Set(at)
		eventually(t, "the firing at "+at.String(), func() bool { return r.runs.Load() == n })
	}
	firing(runs, resolved.Add(14*24*time.Hour-time.Hour), 1) // 13 days 23 h
	if n := slack.count(mark); n != 0 {
		t.Fatalf("%d reviews at 13 days 23 h", n)
	}
	firing(runs, resolved.Add(15*24*time.Hour-time.Hour), 2) // the first firing after 14 days
	if n := slack.count(mark); n != 1 {
		t.Fatalf("%d reviews at the first firing after 14 days, want 1", n)
	}
	var review post
	slack.mu.Lock()
	for _, p := range slack.posts {
		if strings.Contains(p.text, mark) {
			review = p
		}
	}
	slack.mu.Unlock()
	if review.channel != "C000001" {
		t.Errorf("review posted in %q, want the incident channel", review.channel)
	}
	for _, want := range []string{"Follow-up review of INC-1", "<@U4> <@U2>", "*A1* [open] Alert on checkout 5xx", "*A2* [done] Write the runbook", "*A3* [open] Decide who owns the SDK", "2 of 3 action items open"} {
		if !strings.Contains(review.text, want) {
			t.Errorf("review lacks %q:\n%s", want, review.text)
		}
	}
	if strings.Contains(review.text, "<@U3>") || strings.Contains(review.text, "<@U1>") {
		t.Errorf("review mentions the owner of a done item or the declarer who is not the commander:\n%s", review.text)
	}
	if !strings.Contains(review.text, "Write the runbook — owner U3,") {
		t.Errorf("review does not name the owner of the done item without mentioning them:\n%s", review.text)
	}
	firing(runs, resolved.Add(16*24*time.Hour-time.Hour), 3) // the next firing
	stop()

	// A restart. Its Run reads the clock when its goroutine starts, so the
	// clock moves an hour at a time until a firing has run.
	_, runs, stop = start()
	eventually(t, "a firing after the restart", func() bool {
		if runs.runs.Load() == 0 {
			clk.Add(time.Hour)
		}
		return runs.runs.Load() > 0
	})
	stop()
	if n := slack.count(mark); n != 1 {
		t.Errorf("%d reviews after the next firing and a restart, want 1", n)
	}

	for id, want := range map[int64]int{1: 1, 2: 0} {
		inc, err := db.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if posted := !inc.ReviewPostedAt.IsZero(); posted != (want == 1) {
			t.Errorf("INC-%d ReviewPostedAt = %v", id, inc.ReviewPostedAt)
		}
		if n := countEvents(t, db, id, incidentbot.EventReview); n != want {
			t.Errorf("INC-%d has %d review events, want %d", id, n, want)
		}
	}
}

func countEvents(t *testing.T, db *store.DB, id int64, kind incidentbot.EventKind) int {
	t.Helper()
	n := 0
	if err := db.Events(context.Background(), id, func(e *incidentbot.TimelineEvent) error {
		if e.Kind == kind {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
