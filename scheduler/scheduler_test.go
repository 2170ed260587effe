package scheduler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/scheduler"
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

// recorder is the Slack of these tests: it posts (recording the posts) and
// creates channels; with delay it takes that long per post.
type recorder struct {
	mu      sync.Mutex
	posts   []post
	channel int
	delay   time.Duration
	fail    atomic.Bool
	// before, if set, runs first in every Post; an error it returns is
	// the answer (the post is not recorded).
	before func(ctx context.Context, ch string) error
}

type post struct {
	channel, text string
}

func (r *recorder) CreateChannel(ctx context.Context, name string, private bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.channel++
	return fmt.Sprintf("C%06d", r.channel), nil
}
func (r *recorder) Invite(ctx context.Context, ch string, users ...string) error { return nil }
func (r *recorder) Pin(ctx context.Context, ch, ts string) error                 { return nil }
func (r *recorder) Update(ctx context.Context, ch, ts, text string) error        { return nil }
func (r *recorder) Post(ctx context.Context, ch, text string) (string, error) {
	if r.before != nil {
		if err := r.before(ctx, ch); err != nil {
			return "", err
		}
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if r.fail.Load() {
		return "", &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "Slack is rate limiting chat.postMessage"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts = append(r.posts, post{ch, text})
	return fmt.Sprintf("%d.000100", len(r.posts)), nil
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

// countTo counts the posts to channel that contain substr.
func (r *recorder) countTo(channel, substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.posts {
		if p.channel == channel && strings.Contains(p.text, substr) {
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

// world is a command service and its scheduler on a real store, a recorder
// for Slack and a fake clock.
type world struct {
	db    *store.DB
	slack *recorder
	clk   *clock
	svc   *commands.Service
	sched *scheduler.Scheduler
}

// newWorld wires a world as the bot does; setup may change the parts.
func newWorld(t testing.TB, cfg commands.Config, scfg scheduler.Config, setup func(*commands.Deps)) *world {
	w := &world{db: openStore(t), slack: &recorder{}, clk: newClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	scfg.Now = w.clk.Now
	sched, err := scheduler.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	w.sched = sched
	deps := commands.Deps{Poster: w.slack, Channels: w.slack, Now: w.clk.Now, Observer: sched}
	if setup != nil {
		setup(&deps)
	}
	w.svc = commands.New(w.db, cfg, deps)
	sched.Schedule(scheduler.Jobs{Incidents: w.db, Reminders: w.svc, Outbox: w.svc, Overdue: w.svc, Channels: w.svc})
	return w
}

// open opens n incidents through the service and runs their follow-ups
// (channel creation).
func (w *world) open(t testing.TB, n int, sev incidentbot.Severity) {
	ctx := context.Background()
	for i := range n {
		res, err := w.svc.Open(ctx, commands.OpenRequest{TeamID: "T1", UserID: "U1", Title: fmt.Sprintf("incident %d", i), Severity: sev})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Followup(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually waits up to 10s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestReminderSweepFakeClock runs the 15-minute default on a fake clock:
// no reminder before the interval, one at it, none repeated within it, one
// per interval after, and a Slack failure leaves it due and unrecorded.
func TestReminderSweepFakeClock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, commands.Config{}, scheduler.Config{Parallel: 4}, nil)
	w.open(t, 2, incidentbot.Sev3)
	clk, slack, db := w.clk, w.slack, w.db

	sweep := func() int {
		n, err := w.sched.SweepReminders(ctx, clk.Now())
		if err != nil && !slack.fail.Load() {
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
	slack.fail.Store(true)
	clk.Add(5 * time.Minute)
	if n := sweep(); n != 0 {
		t.Fatalf("%d reminders recorded while Slack fails", n)
	}
	slack.fail.Store(false)
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
	// A restart (a new service and scheduler on the same store) after an
	// hour down sends one.
	clk.Add(time.Hour)
	sched2, err := scheduler.New(scheduler.Config{Now: clk.Now, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	svc2 := commands.New(db, commands.Config{}, commands.Deps{Poster: slack, Channels: slack, Now: clk.Now, Observer: sched2})
	sched2.Schedule(scheduler.Jobs{Incidents: db, Reminders: svc2})
	if err := sched2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := sched2.SweepReminders(ctx, clk.Now()); n != 2 {
		t.Errorf("after an hour down: %d reminders, want one per incident", n)
	}
	if n, _ := sched2.SweepReminders(ctx, clk.Now()); n != 0 {
		t.Errorf("second sweep at the same time: %d reminders", n)
	}
}

// TestRunOnFakeClock: Run sweeps on its ticks at the injected clock's time:
// nothing while the clock stands before the due time, the reminder once it
// passes it, and it stops when ctx ends.
func TestRunOnFakeClock(t *testing.T) {
	w := newWorld(t, commands.Config{UpdateInterval: time.Minute}, scheduler.Config{Tick: time.Millisecond}, nil)
	w.open(t, 1, incidentbot.Sev3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.sched.Run(ctx) }()
	w.clk.Add(59 * time.Second)
	time.Sleep(20 * time.Millisecond) // many ticks; can only hide a bug, not flake
	if n := w.slack.count(":alarm_clock:"); n != 0 {
		t.Fatalf("%d reminders before the interval", n)
	}
	w.clk.Add(time.Second)
	eventually(t, "the reminder", func() bool { return w.slack.count(":alarm_clock:") == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

// overdue counts the firings of the action reminder cron, and keeps the
// firing times it was run for.
type overdue struct {
	runs    atomic.Int32
	mu      sync.Mutex
	firings []time.Time
}

func (o *overdue) RemindOverdueActions(ctx context.Context, firing time.Time) (int, error) {
	o.mu.Lock()
	o.firings = append(o.firings, firing)
	o.mu.Unlock()
	o.runs.Add(1)
	return 0, nil
}

// ran returns the firings run so far.
func (o *overdue) ran() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.firings)
}

// TestCronOnFakeClock: the action reminder cron fires on the injected
// clock, once per firing time passed, not once per tick.
func TestCronOnFakeClock(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC))
	s, err := scheduler.New(scheduler.Config{Now: clk.Now, Tick: time.Millisecond, ActionCron: "0 9 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	o := &overdue{}
	s.Schedule(scheduler.Jobs{Incidents: openStore(t), Overdue: o})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	time.Sleep(20 * time.Millisecond)
	if n := o.runs.Load(); n != 0 {
		t.Fatalf("%d runs before 09:00", n)
	}
	clk.Set(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	eventually(t, "the 09:00 run", func() bool { return o.runs.Load() == 1 })
	time.Sleep(20 * time.Millisecond)
	clk.Add(12 * time.Hour)
	time.Sleep(20 * time.Millisecond)
	if n := o.runs.Load(); n != 1 {
		t.Errorf("%d runs by 21:00, want 1", n)
	}
	clk.Add(12 * time.Hour)
	eventually(t, "the next day's run", func() bool { return o.runs.Load() == 2 })
}

func TestBadCron(t *testing.T) {
	_, err := scheduler.New(scheduler.Config{ActionCron: "every morning"})
	if incidentbot.ErrorCode(err) != incidentbot.EInvalid {
		t.Errorf("New with a bad cron spec: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	b := scheduler.OutboxBackoff()
	tests := []struct {
		attempt int
		max     time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {1000, 5 * time.Minute}}
	for _, tt := range tests {
		for range 100 {
			if d := b.Delay(tt.attempt); d < tt.max/2 || d > tt.max {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.max/2, tt.max)
			}
		}
	}
	if d := (scheduler.Backoff{}).Delay(3); d != 0 {
		t.Errorf("zero Backoff waits %v", d)
	}
}

// pager answers every call with err.
type pager struct{ err error }

func (p pager) Trigger(ctx context.Context, a incidentbot.Alert) error { return p.err }
func (p pager) Resolve(ctx context.Context, key string) error          { return p.err }

// TestOutboxRetriesWithBackoff: a page PagerDuty cannot take now stays
// pending, retried after the backoff (on the injected clock), and goes
// through once PagerDuty answers.
func TestOutboxRetriesWithBackoff(t *testing.T) {
	ctx := context.Background()
	p := &pager{err: &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "PagerDuty could not take the page now (HTTP 503)"}}
	w := newWorld(t, commands.Config{}, scheduler.Config{OutboxBackoff: scheduler.Backoff{First: time.Minute, Max: time.Minute}},
		func(d *commands.Deps) { d.Pager = p })
	w.open(t, 1, incidentbot.Sev2)
	if n, err := w.sched.SweepOutbox(ctx, w.clk.Now()); n != 0 || incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Fatalf("sweep while PagerDuty fails: %d, %v", n, err)
	}
	inc, _ := w.db.Incident(ctx, 1)
	a := inc.Pager[0]
	if a.State != incidentbot.PagerPending || a.Attempts != 1 || a.NextAttempt.Before(w.clk.Now().Add(30*time.Second)) || a.NextAttempt.After(w.clk.Now().Add(time.Minute)) {
		t.Fatalf("after one failure: %+v", a)
	}
	p.err = nil
	w.clk.Add(29 * time.Second)
	if n, err := w.sched.SweepOutbox(ctx, w.clk.Now()); n != 0 || err != nil {
		t.Fatalf("sweep before the backoff ended: %d, %v", n, err)
	}
	w.clk.Add(31 * time.Second)
	if n, err := w.sched.SweepOutbox(ctx, w.clk.Now()); n != 1 || err != nil {
		t.Fatalf("sweep after the backoff: %d, %v", n, err)
	}
	if w.slack.count("delivered after 2 attempts") != 1 {
		t.Errorf("the channel was not told of the late delivery: %+v", w.slack.posts)
	}
}

// TestOutboxRefusalLogged: a refusal that retrying cannot mend (a revoked
// routing key) is told in the channel, marked failed, and logged at error
// level, not retried.
func TestOutboxRefusalLogged(t *testing.T) {
	refused := &incidentbot.Error{Code: incidentbot.EUnauthorized, Message: "PagerDuty refused the credentials for the page (HTTP 401); check PAGERDUTY_ROUTING_KEY"}
	log, hook := logtest.NewNullLogger()
	w := newWorld(t, commands.Config{}, scheduler.Config{Tick: time.Millisecond, Logger: log},
		func(d *commands.Deps) { d.Pager = pager{err: refused} })
	w.open(t, 1, incidentbot.Sev2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.sched.Run(ctx)
	eventually(t, "the error log", func() bool {
		for _, e := range hook.AllEntries() {
			if e.Level == logrus.ErrorLevel && strings.Contains(fmt.Sprint(e.Data[logrus.ErrorKey]), "HTTP 401") {
				return true
			}
		}
		return false
	})
	if n := w.slack.count(":x: PagerDuty refused the page"); n != 1 {
		t.Errorf("the channel was told %d times", n)
	}
	inc, _ := w.db.Incident(ctx, 1)
	if a := inc.Pager[0]; a.State != incidentbot.PagerFailed || a.Attempts != 1 {
		t.Errorf("pager action = %+v", a)
	}
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			t.Errorf("a refusal logged as a retry: %s %v", e.Message, e.Data)
		}
	}
}

// directory knows one person.
type directory struct{ user incidentbot.User }

func (d directory) UserByEmail(ctx context.Context, email string) (incidentbot.User, error) {
	if email == "carol@example.com" {
		return d.user, nil
	}
	return incidentbot.User{}, &incidentbot.Error{Code: incidentbot.ENotFound, Message: "no Slack account has the email " + email}
}

// onCall is a PagerDuty with Carol on call.
type onCall struct{}

func (onCall) OnCallNow(ctx context.Context) ([]incidentbot.OnCall, error) {
	return []incidentbot.OnCall{{UserID: "PU1", Name: "Carol C. (PagerDuty)", Email: "carol@example.com", Level: 1}}, nil
}

// TestOnCallCommanderNamed: the on-call person the bot makes commander gets
// their Slack name stored, so that `incidentbot list` shows a name, not a
// user ID.
func TestOnCallCommanderNamed(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, commands.Config{}, scheduler.Config{}, func(d *commands.Deps) {
		d.Pager, d.OnCall, d.Directory = pager{}, onCall{}, directory{incidentbot.User{ID: "U0CAROL", Name: "Carol Clark"}}
	})
	w.open(t, 1, incidentbot.Sev2)
	if n, err := w.sched.SweepOutbox(ctx, w.clk.Now()); n != 1 || err != nil {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	inc, _ := w.db.Incident(ctx, 1)
	if c := inc.Roles[incidentbot.RoleCommander]; c != "U0CAROL" {
		t.Fatalf("commander = %q", c)
	}
	users, err := w.db.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := users["U0CAROL"]; u.Name != "Carol Clark" {
		t.Errorf("stored user = %+v, want Carol's Slack name", u)
	}
}

// BenchmarkReminderSweep: 1,000 open incidents, none due: the CPU cost of
// one tick (target < 5 ms).
func BenchmarkReminderSweep(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, commands.Config{}, scheduler.Config{}, nil)
	w.open(b, 1000, incidentbot.Sev3)
	b.ResetTimer()
	for range b.N {
		if n, _ := w.sched.SweepReminders(ctx, w.clk.Now()); n != 0 {
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
		w := newWorld(b, commands.Config{UpdateInterval: time.Minute}, scheduler.Config{}, nil)
		w.open(b, 1000, incidentbot.Sev3)
		w.slack.delay = 2 * time.Millisecond
		before := w.slack.count(":alarm_clock:")
		w.clk.Add(time.Minute)
		b.StartTimer()
		due := time.Now()
		n, err := w.sched.SweepReminders(ctx, w.clk.Now())
		late := time.Since(due)
		b.StopTimer()
		if err != nil || n != 1000 || w.slack.count(":alarm_clock:")-before != 1000 {
			b.Fatalf("sent %d (%v)", n, err)
		}
		b.ReportMetric(float64(late.Milliseconds()), "ms-last-late")
	}
}

// changes is a store shared with another replica: every refresh returns
// every incident.
type changes struct{ *store.DB }

func (c changes) IncidentsChangedSince(ctx context.Context, since time.Time) ([]*incidentbot.Incident, time.Time, error) {
	incs, err := c.Incidents(ctx, false)
	return incs, time.Now(), err
}

// TestSharedRefresh: with a shared store, the replica running the
// scheduler reminds and pages for an incident another replica opened
// after it started (its Observe is not this one's); without the refresh
// it would wait for the next holder of the lease.
func TestSharedRefresh(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("refresh=%v", shared), func(t *testing.T) {
			const interval = time.Minute
			w := newWorld(t, commands.Config{UpdateInterval: interval}, scheduler.Config{Tick: time.Millisecond}, nil)
			sched, err := scheduler.New(scheduler.Config{Now: w.clk.Now, Tick: time.Millisecond, Shared: true, Refresh: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var pages atomic.Int32
			deps := commands.Deps{Poster: w.slack, Channels: w.slack, Now: w.clk.Now, Observer: sched, Pager: countPager{&pages}}
			holder := commands.New(w.db, commands.Config{UpdateInterval: interval}, deps)
			var jobs scheduler.Incidents = w.db
			if shared {
				jobs = changes{w.db}
			}
			sched.Schedule(scheduler.Jobs{Incidents: jobs, Reminders: holder, Outbox: holder})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sched.Run(ctx) }()
			defer func() { cancel(); <-done }()

			// An incident the holder opens itself: once it is paged, Run
			// has loaded the due times.
			mine, err := holder.Open(ctx, commands.OpenRequest{TeamID: "T1", UserID: "U1", Title: "here", Severity: incidentbot.Sev1})
			if err != nil {
				t.Fatal(err)
			}
			if err := mine.Followup(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the page of the holder's own incident", func() bool { return pages.Load() == 1 })

			// The other replica: the same store, its own (idle) scheduler.
			other, err := scheduler.New(scheduler.Config{Now: w.clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			odeps := deps
			odeps.Observer = other
			replica := commands.New(w.db, commands.Config{UpdateInterval: interval}, odeps)
			res, err := replica.Open(ctx, commands.OpenRequest{TeamID: "T1", UserID: "U1", Title: "elsewhere", Severity: incidentbot.Sev1})
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Followup(ctx); err != nil {
				t.Fatal(err)
			}
			w.clk.Add(interval)
			if !shared {
				eventually(t, "the holder's own reminder", func() bool { return w.slack.count(":alarm_clock:") == 1 })
				time.Sleep(50 * time.Millisecond) // many ticks; can only hide a bug, not flake
				if n := w.slack.count(":alarm_clock:"); n != 1 || pages.Load() != 1 {
					t.Fatalf("%d reminders, %d pages without a refresh, want only the holder's own: the test does not show what the refresh does", n, pages.Load())
				}
				return
			}
			eventually(t, "both reminders", func() bool { return w.slack.count(":alarm_clock:") == 2 })
			eventually(t, "both pages", func() bool { return pages.Load() == 2 })
		})
	}
}

// countPager counts triggers.
type countPager struct{ n *atomic.Int32 }

func (p countPager) Trigger(ctx context.Context, a incidentbot.Alert) error { p.n.Add(1); return nil }
func (p countPager) Resolve(ctx context.Context, key string) error          { return nil }
