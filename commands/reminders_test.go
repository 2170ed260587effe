package commands_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func newClock(t time.Time) *clock    { return &clock{now: t} }

// recorder is a Slack that records posts; with delay it takes that long per call.
type recorder struct {
	mu      sync.Mutex
	posts   []post
	channel int
	delay   time.Duration
	fail    bool
}

type post struct {
	channel, text string
	at            time.Time
}

func (r *recorder) CreateChannel(ctx context.Context, name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.channel++
	return fmt.Sprintf("C%06d", r.channel), nil
}
func (r *recorder) Invite(ctx context.Context, ch string, users ...string) error { return nil }
func (r *recorder) Post(ctx context.Context, ch, text string) (string, error) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return "", &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "Slack is rate limiting chat.postMessage"}
	}
	r.posts = append(r.posts, post{ch, text, time.Now()})
	return fmt.Sprintf("%d.000100", len(r.posts)), nil
}
func (r *recorder) Update(ctx context.Context, ch, ts, text string) error { return nil }
func (r *recorder) Pin(ctx context.Context, ch, ts string) error          { return nil }
func (r *recorder) UserByEmail(ctx context.Context, email string) (string, error) {
	return "", &incidentbot.Error{Code: incidentbot.ENotFound, Message: "no such user"}
}
func (r *recorder) Upload(ctx context.Context, ch, name, title string, content []byte, comment string) error {
	return nil
}

func (r *recorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.posts {
		if strings.Contains(p.text, substr) {
			n++
		}
	}
	return n
}

func openStore(t testing.TB) *store.DB {
	db, err := store.Open(filepath.Join(t.TempDir(), "test.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openIncidents opens n incidents through the service and runs their
// follow-ups (channel creation).
func openIncidents(t testing.TB, svc *commands.Service, n int) {
	ctx := context.Background()
	for i := range n {
		res, err := svc.Open(ctx, commands.OpenRequest{UserID: "U1", Title: fmt.Sprintf("incident %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Followup(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReminderDue(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	iv := 15 * time.Minute
	tests := []struct {
		name string
		inc  incidentbot.Incident
		want time.Time
		ok   bool
	}{
		{"fresh", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0}, t0.Add(iv), true},
		{"after a reminder", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, LastReminderAt: t0.Add(iv)}, t0.Add(2 * iv), true},
		{"update after reminder", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0.Add(20 * time.Minute), LastReminderAt: t0.Add(iv)}, t0.Add(35 * time.Minute), true},
		{"snoozed past due", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, SnoozedUntil: t0.Add(time.Hour)}, t0.Add(time.Hour), true},
		{"snooze ended before due", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, SnoozedUntil: t0.Add(time.Minute)}, t0.Add(iv), true},
		{"resolved", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, Status: incidentbot.StatusResolved}, time.Time{}, false},
		{"no channel yet", incidentbot.Incident{LastUpdateAt: t0}, time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := commands.ReminderDue(&tt.inc, iv)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: ReminderDue = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestReminderSweepFakeClock runs the 15-minute default on a fake clock:
// no reminder before the interval, one at it, none repeated within it, one
// per interval after, and a Slack failure leaves it due and unrecorded.
func TestReminderSweepFakeClock(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	db := openStore(t)
	slack := &recorder{}
	svc := commands.New(db, slack, commands.Config{Now: clk.Now})
	openIncidents(t, svc, 2)
	rem := svc.Reminders()

	sweep := func() int {
		n, err := rem.Sweep(ctx, clk.Now(), 4)
		if err != nil && !slack.fail {
			t.Fatal(err)
		}
		return n
	}
	clk.Add(14*time.Minute + 59*time.Second)
	if n := sweep(); n != 0 {
		t.Fatalf("%d reminders before 15m", n)
	}
	clk.Add(time.Second)
	if n := sweep(); n != 2 {
		t.Fatalf("%d reminders at 15m, want 2", n)
	}
	clk.Add(10 * time.Minute)
	if n := sweep(); n != 0 {
		t.Fatalf("%d reminders 10m after the last", n)
	}
	slack.fail = true
	clk.Add(5 * time.Minute)
	if n := sweep(); n != 0 {
		t.Fatalf("%d reminders recorded while Slack fails", n)
	}
	slack.fail = false
	if n := sweep(); n != 2 {
		t.Fatalf("%d reminders after Slack recovered, want 2", n)
	}
	inc, _ := db.Incident(ctx, 1)
	if !inc.LastReminderAt.Equal(clk.Now().UTC()) {
		t.Errorf("LastReminderAt = %v", inc.LastReminderAt)
	}
	var reminders int
	db.Events(ctx, 1, func(e *incidentbot.TimelineEvent) error {
		if e.Kind == incidentbot.EventReminder {
			reminders++
		}
		return nil
	})
	if reminders != 2 {
		t.Errorf("%d reminder events for INC-1, want 2 (the failed one is not recorded)", reminders)
	}
	// A restart (a new service on the same store) after an hour down sends one.
	clk.Add(time.Hour)
	svc2 := commands.New(db, slack, commands.Config{Now: clk.Now})
	if err := svc2.Reminders().Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc2.Reminders().Sweep(ctx, clk.Now(), 4); n != 2 {
		t.Errorf("after an hour down: %d reminders, want one per incident", n)
	}
	if n, _ := svc2.Reminders().Sweep(ctx, clk.Now(), 4); n != 0 {
		t.Errorf("second sweep at the same time: %d reminders", n)
	}
}

// BenchmarkReminderSweep: 1,000 open incidents, none due: the CPU cost of
// one tick (target < 5 ms).
func BenchmarkReminderSweep(b *testing.B) {
	ctx := context.Background()
	clk := newClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	db := openStore(b)
	svc := commands.New(db, &recorder{}, commands.Config{Now: clk.Now})
	openIncidents(b, svc, 1000)
	rem := svc.Reminders()
	b.ResetTimer()
	for range b.N {
		if n, _ := rem.Sweep(ctx, clk.Now(), 32); n != 0 {
			b.Fatal("reminders sent")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/tick")
}

// BenchmarkRemindersDue: 1,000 open incidents all due at once, Slack taking
// 2 ms per post: how late the last reminder is posted after its due time
// (target < 1 s), and that every incident got exactly one.
func BenchmarkRemindersDue(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		start := time.Now().UTC()
		clk := newClock(start)
		db := openStore(b)
		slack := &recorder{}
		svc := commands.New(db, slack, commands.Config{Now: clk.Now, UpdateInterval: time.Minute})
		openIncidents(b, svc, 1000)
		slack.delay = 2 * time.Millisecond
		before := slack.count(":alarm_clock:")
		clk.Set(start.Add(time.Minute))
		b.StartTimer()
		due := time.Now()
		n, err := svc.Reminders().Sweep(ctx, clk.Now(), 32)
		late := time.Since(due)
		b.StopTimer()
		if err != nil || n != 1000 || slack.count(":alarm_clock:")-before != 1000 {
			b.Fatalf("sent %d (%v)", n, err)
		}
		b.ReportMetric(float64(late.Milliseconds()), "ms-last-late")
	}
}
