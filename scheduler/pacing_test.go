package scheduler_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/scheduler"
)

// attempts counts Post calls per channel, before the answer.
type attempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attempts) add(ch string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[ch]++
}

func (a *attempts) get(ch string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[ch]
}

// TestRunDoesNotWaitForSlowIncident: Run starts each incident's reminder on
// its own goroutine and does not wait for it: while the post to incident 1's
// channel hangs, incident 2 gets a reminder every interval, and incident 1,
// still busy, is not started twice.
func TestRunDoesNotWaitForSlowIncident(t *testing.T) {
	w := newWorld(t, commands.Config{UpdateInterval: time.Minute}, scheduler.Config{Tick: time.Millisecond}, nil)
	w.open(t, 2, incidentbot.Sev3)
	inc1, _ := w.db.Incident(context.Background(), 1)
	release := make(chan struct{})
	var tries attempts
	w.slack.before = func(ctx context.Context, ch string) error {
		tries.add(ch)
		if ch == inc1.ChannelID {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.sched.Run(ctx) }()
	for i := 1; i <= 3; i++ {
		w.clk.Add(time.Minute)
		eventually(t, "incident 2's reminder", func() bool { return w.slack.count(":alarm_clock:") == i })
	}
	if n := tries.get(inc1.ChannelID); n != 1 {
		t.Errorf("incident 1 was started %d times while busy, want 1", n)
	}
	close(release)
	// Its post went through three intervals late (the fake clock ran on
	// while it hung): the reminder counts from when it was found due, so
	// one more may follow at once; what matters is that it went out.
	eventually(t, "incident 1's reminder", func() bool { return w.slack.countTo(inc1.ChannelID, ":alarm_clock:") >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRetryAfterHoldsOnlyThatIncident: a reminder answered with a rate limit
// (EUnavailable, Retry-After 30s) is not tried again before 30s have passed
// on the scheduler's clock, while another incident's reminders go on.
func TestRetryAfterHoldsOnlyThatIncident(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, commands.Config{UpdateInterval: 10 * time.Second}, scheduler.Config{}, nil)
	w.open(t, 2, incidentbot.Sev3)
	inc1, _ := w.db.Incident(ctx, 1)
	var limited atomic.Bool
	limited.Store(true)
	var tries attempts
	w.slack.before = func(ctx context.Context, ch string) error {
		tries.add(ch)
		if ch == inc1.ChannelID && limited.Load() {
			return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "Slack is rate limiting chat.postMessage", RetryAfter: 30 * time.Second}
		}
		return nil
	}
	w.clk.Add(10 * time.Second)
	if n, err := w.sched.SweepReminders(ctx, w.clk.Now()); n != 1 || incidentbot.RetryAfter(err) != 30*time.Second {
		t.Fatalf("first sweep: %d, %v", n, err)
	}
	for range 29 {
		w.clk.Add(time.Second)
		w.sched.SweepReminders(ctx, w.clk.Now())
	}
	if n := tries.get(inc1.ChannelID); n != 1 {
		t.Errorf("incident 1 tried %d times within its Retry-After, want 1", n)
	}
	if n := w.slack.count(":alarm_clock:"); n != 3 {
		t.Errorf("%d reminders in 39s, want 3 (incident 2 at 10s, 20s, 30s)", n)
	}
	limited.Store(false)
	w.clk.Add(time.Second)
	if n, err := w.sched.SweepReminders(ctx, w.clk.Now()); n < 1 || err != nil {
		t.Fatalf("sweep after Retry-After: %d, %v", n, err)
	}
	if n := tries.get(inc1.ChannelID); n != 2 {
		t.Errorf("incident 1 tried %d times, want 2", n)
	}
}

// TestGoneChannelRetriedSlowly: a reminder answered EGone (the channel is
// archived) records the channel as gone once, tells a human once, and is
// tried again only after SlowRetry; when it goes through, the channel is
// recorded as back and reminders resume at their interval.
func TestGoneChannelRetriedSlowly(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, commands.Config{UpdateInterval: time.Minute, ChannelRetry: time.Hour}, scheduler.Config{SlowRetry: time.Hour}, nil)
	w.open(t, 1, incidentbot.Sev3)
	inc, _ := w.db.Incident(ctx, 1)
	var gone atomic.Bool
	gone.Store(true)
	var tries attempts
	w.slack.before = func(ctx context.Context, ch string) error {
		tries.add(ch)
		if ch == inc.ChannelID && gone.Load() {
			return &incidentbot.Error{Code: incidentbot.EGone, Message: "the channel is archived (Slack: is_archived)"}
		}
		return nil
	}
	for range 120 { // two hours, a sweep a minute
		w.clk.Add(time.Minute)
		w.sched.SweepReminders(ctx, w.clk.Now())
	}
	if n := tries.get(inc.ChannelID); n < 2 || n > 3 {
		t.Errorf("%d posts to the gone channel in two hours, want 2 or 3", n)
	}
	if n := w.slack.count("paused"); n != 1 {
		t.Errorf("a human was told %d times, want once", n)
	}
	inc, _ = w.db.Incident(ctx, 1)
	if inc.ChannelGone != "gone" || inc.ChannelGoneAt.IsZero() {
		t.Errorf("ChannelGone = %q at %v", inc.ChannelGone, inc.ChannelGoneAt)
	}
	gone.Store(false)
	w.clk.Add(time.Hour)
	if n, err := w.sched.SweepReminders(ctx, w.clk.Now()); n != 1 || err != nil {
		t.Fatalf("the slow retry after the channel came back: %d, %v", n, err)
	}
	w.clk.Add(time.Minute)
	if n, err := w.sched.SweepReminders(ctx, w.clk.Now()); n != 1 || err != nil {
		t.Fatalf("the next reminder an interval later: %d, %v", n, err)
	}
	var goneEvents, backEvents int
	w.db.Events(ctx, 1, func(e *incidentbot.TimelineEvent) error {
		switch e.Kind {
		case incidentbot.EventChannelGone:
			goneEvents++
		case incidentbot.EventChannelBack:
			backEvents++
		}
		return nil
	})
	if goneEvents != 1 || backEvents != 1 {
		t.Errorf("timeline: %d gone, %d back events, want 1 and 1", goneEvents, backEvents)
	}
}
