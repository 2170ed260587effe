package commands_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store"
)

// markedSlack is an in-process Slack that keeps the bot's marked posts as
// Slack's history would (stamped with the test's clock) and finds them
// again. Its next post can be made to fail in the ways a real one does.
type markedSlack struct {
	fuzzSlack
	now func() time.Time

	mu    sync.Mutex
	posts []markedPost
	finds int
	// What the next PostMarked does; each is used once.
	dieAfter  bool  // Slack takes the post, then the poster dies (runtime.Goexit)
	dieBefore bool  // the poster dies before the post reaches Slack
	lost      bool  // Slack takes the post, its answer is lost (a timeout)
	refuse    error // Slack refuses the post with this error
	// findErr, while set, is FindMarked's error.
	findErr error
	// afterPost, when set, is called once Slack took a post (a shutdown
	// beginning then).
	afterPost func()
}

type markedPost struct {
	channel, text string
	marker        commands.Marker
	at            time.Time
}

var _ commands.Marked = (*markedSlack)(nil)

func (s *markedSlack) PostMarked(ctx context.Context, channel, text string, m commands.Marker) (string, error) {
	s.mu.Lock()
	dieAfter, dieBefore, lost, refuse := s.dieAfter, s.dieBefore, s.lost, s.refuse
	s.dieAfter, s.dieBefore, s.lost, s.refuse = false, false, false, nil
	s.mu.Unlock()
	switch {
	case dieBefore:
		runtime.Goexit()
	case refuse != nil:
		return "", refuse
	}
	s.mu.Lock()
	s.posts = append(s.posts, markedPost{channel: channel, text: text, marker: m, at: s.now()})
	afterPost := s.afterPost
	s.mu.Unlock()
	if afterPost != nil {
		afterPost()
	}
	switch {
	case dieAfter:
		runtime.Goexit()
	case lost:
		return "", &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "Slack is not answering chat.postMessage right now"}
	}
	return "1700000000.000001", nil
}

func (s *markedSlack) FindMarked(ctx context.Context, channel string, m commands.Marker, from, to time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finds++
	if s.findErr != nil {
		return false, s.findErr
	}
	for _, p := range s.posts {
		if p.channel != channel || p.marker.Kind != m.Kind || p.at.Before(from) || p.at.After(to) || len(p.marker.Fields) != len(m.Fields) {
			continue
		}
		same := true
		for k, v := range m.Fields {
			same = same && p.marker.Fields[k] == v
		}
		if same {
			return true, nil
		}
	}
	return false, nil
}

func (s *markedSlack) counts() (posts, finds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts), s.finds
}

// remindWorld is an incident in channel C1 on a real store, its reminders
// due every 15 minutes from remindStart, and a Slack that keeps marked posts.
type remindWorld struct {
	t         *testing.T
	db        *store.DB
	slack     *markedSlack
	clk       time.Time
	reminders int // OnReminder calls
	id        int64
}

const (
	remindInterval = 15 * time.Minute
	remindSettle   = 10 * time.Second
)

var remindStart = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newRemindWorld(t *testing.T) *remindWorld {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "remind.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &remindWorld{t: t, db: db, clk: remindStart}
	w.slack = &markedSlack{now: func() time.Time { return w.clk }}
	inc, _, err := db.CreateIncident(context.Background(), &incidentbot.Incident{Title: "Checkout down", Severity: incidentbot.Sev2,
		Status: incidentbot.StatusInvestigating, Declarer: "U1", ChannelID: "C1", OpenedAt: remindStart, LastUpdateAt: remindStart}, "")
	if err != nil {
		t.Fatal(err)
	}
	w.id = inc.ID
	return w
}

// service is one process's Service (a new one after a crash: it knows
// only what the store holds).
func (w *remindWorld) service() *commands.Service {
	deps := commands.SlackDeps(w.slack)
	deps.Now = func() time.Time { return w.clk }
	deps.OnReminder = func() { w.reminders++ }
	return commands.New(w.db, commands.Config{UpdateInterval: remindInterval, ReminderSettle: remindSettle}, deps)
}

// remind runs Remind as the scheduler does (on its own goroutine) and
// reports whether it returned (false: the process died in it), and its error.
func (w *remindWorld) remind(svc *commands.Service) (returned bool, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = svc.Remind(context.Background(), w.id)
		returned = true
	}()
	<-done
	return returned, err
}

// crashed runs Remind at at with its poster dying after Slack took the
// post (posted) or before it reached Slack, and returns a Service of the
// next process, with the clock at the attempt's settling.
func (w *remindWorld) crashed(at time.Time, posted bool) *commands.Service {
	w.t.Helper()
	w.clk = at
	w.slack.dieAfter, w.slack.dieBefore = posted, !posted
	if returned, _ := w.remind(w.service()); returned {
		w.t.Fatal("Remind returned; the process was to die in it")
	}
	w.clk = at.Add(remindSettle)
	return w.service()
}

// mustRemind runs Remind and fails the test on an error.
func (w *remindWorld) mustRemind(svc *commands.Service) {
	w.t.Helper()
	if ok, err := w.remind(svc); !ok || err != nil {
		w.t.Fatalf("Remind: returned %v, %v", ok, err)
	}
}

func (w *remindWorld) incident() *incidentbot.Incident {
	w.t.Helper()
	inc, err := w.db.Incident(context.Background(), w.id)
	if err != nil {
		w.t.Fatal(err)
	}
	return inc
}

// reminderEvents returns the times of the reminder events in the timeline.
func (w *remindWorld) reminderEvents() []time.Time {
	w.t.Helper()
	var out []time.Time
	if err := w.db.Events(context.Background(), w.id, func(e *incidentbot.TimelineEvent) error {
		if e.Kind == incidentbot.EventReminder {
			out = append(out, e.At)
		}
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// check compares the posts, history reads, reminder events and counted
// reminders with what is expected.
func (w *remindWorld) check(what string, posts, finds int, events ...time.Time) {
	w.t.Helper()
	p, f := w.slack.counts()
	got := w.reminderEvents()
	if p != posts || f != finds {
		w.t.Errorf("%s: %d posts and %d history reads, want %d and %d", what, p, f, posts, finds)
	}
	if len(got) != len(events) {
		w.t.Fatalf("%s: reminder events at %v, want at %v", what, got, events)
	}
	for i := range got {
		if !got[i].Equal(events[i]) {
			w.t.Errorf("%s: reminder event %d at %v, want %v", what, i+1, got[i], events[i])
		}
	}
	if w.reminders != len(events) {
		w.t.Errorf("%s: %d reminders counted, want %d", what, w.reminders, len(events))
	}
}

// TestRemindMarked: a reminder is recorded as an attempt, posted with the
// attempt's marker, and recorded as sent, which ends the attempt.
func TestRemindMarked(t *testing.T) {
	w := newRemindWorld(t)
	svc := w.service()
	w.clk = remindStart.Add(remindInterval)
	if due, _ := svc.ReminderDue(w.incident()); !due.Equal(w.clk) {
		t.Fatalf("due at %v, want %v", due, w.clk)
	}
	w.mustRemind(svc)
	w.check("a reminder", 1, 0, w.clk)
	p := w.slack.posts[0]
	if p.channel != "C1" || !strings.Contains(p.text, ":alarm_clock:") || p.marker.Kind != "incidentbot_reminder" ||
		p.marker.Fields["incident"] != "INC-1" || p.marker.Fields["attempt"] != w.clk.Format(time.RFC3339Nano) {
		t.Errorf("posted %+v", p)
	}
	inc := w.incident()
	if !inc.LastReminderAt.Equal(w.clk) || !inc.ReminderAttempt.IsZero() {
		t.Errorf("LastReminderAt %v, ReminderAttempt %v; want %v and none", inc.LastReminderAt, inc.ReminderAttempt, w.clk)
	}
	if due, _ := svc.ReminderDue(inc); !due.Equal(w.clk.Add(remindInterval)) {
		t.Errorf("next due at %v, want an interval later", due)
	}
}

// TestRemindAfterCrash: the process posting a reminder dies at each point
// of the attempt, and another (a new Service on the same store, as the next
// lease holder or the restarted bot is) takes over: each due time gets
// exactly one reminder in the channel, recorded once, and the next comes an
// interval after the one posted.
func TestRemindAfterCrash(t *testing.T) {
	due := remindStart.Add(remindInterval)

	t.Run("after Slack took the post", func(t *testing.T) {
		w := newRemindWorld(t)
		w.clk = due
		w.slack.dieAfter = true
		if returned, _ := w.remind(w.service()); returned {
			t.Fatal("Remind returned; the process was to die in it")
		}
		inc := w.incident()
		if !inc.ReminderAttempt.Equal(due) || !inc.LastReminderAt.IsZero() {
			t.Fatalf("after the crash: attempt %v, last reminder %v", inc.ReminderAttempt, inc.LastReminderAt)
		}
		w.check("after the crash", 1, 0)

		next := w.service()
		// Slack may still be carrying out the post: not looked for yet.
		if d, _ := next.ReminderDue(inc); !d.Equal(due.Add(remindSettle)) {
			t.Errorf("due at %v, want the attempt settled at %v", d, due.Add(remindSettle))
		}
		w.clk = due.Add(time.Second)
		w.mustRemind(next)
		w.check("before the attempt settled", 1, 0)

		w.clk = due.Add(remindSettle)
		w.mustRemind(next)
		w.check("settled: found, not posted again", 1, 1, due)
		inc = w.incident()
		if !inc.LastReminderAt.Equal(due) || !inc.ReminderAttempt.IsZero() {
			t.Errorf("LastReminderAt %v, ReminderAttempt %v; want %v and none", inc.LastReminderAt, inc.ReminderAttempt, due)
		}
		w.clk = due.Add(remindInterval - time.Second)
		w.mustRemind(next)
		w.check("within the interval", 1, 1, due)
		w.clk = due.Add(remindInterval)
		w.mustRemind(next)
		w.check("the next due time", 2, 1, due, w.clk)
	})

	t.Run("before the post reached Slack", func(t *testing.T) {
		w := newRemindWorld(t)
		next := w.crashed(due, false)
		w.check("after the crash", 0, 0)
		w.mustRemind(next)
		// Not found: posted now, under an attempt of its own.
		w.check("settled: not found, posted", 1, 1, w.clk)
		if a := w.slack.posts[0].marker.Fields["attempt"]; a != w.clk.Format(time.RFC3339Nano) {
			t.Errorf("posted with the attempt %s, want a new one at %v", a, w.clk)
		}
		if inc := w.incident(); !inc.LastReminderAt.Equal(w.clk) || !inc.ReminderAttempt.IsZero() {
			t.Errorf("LastReminderAt %v, ReminderAttempt %v", inc.LastReminderAt, inc.ReminderAttempt)
		}
	})

	t.Run("Slack's answer lost", func(t *testing.T) {
		w := newRemindWorld(t)
		svc := w.service()
		w.clk = due
		w.slack.lost = true
		if _, err := w.remind(svc); incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
			t.Fatalf("Remind = %v, want EUnavailable", err)
		}
		if inc := w.incident(); !inc.ReminderAttempt.Equal(due) {
			t.Fatalf("attempt %v after a lost answer, want it kept", inc.ReminderAttempt)
		}
		w.clk = due.Add(remindSettle)
		w.mustRemind(svc)
		w.check("settled", 1, 1, due)
	})

	t.Run("the history cannot be read", func(t *testing.T) {
		w := newRemindWorld(t)
		next := w.crashed(due, true)
		w.slack.findErr = &incidentbot.Error{Code: incidentbot.EUnavailable, RetryAfter: 30 * time.Second, Message: "Slack is rate limiting conversations.history"}
		if _, err := w.remind(next); incidentbot.RetryAfter(err) != 30*time.Second {
			t.Fatalf("Remind = %v, want the rate limit's Retry-After", err)
		}
		w.slack.findErr = &incidentbot.Error{Code: incidentbot.EInternal, Message: "Slack refused conversations.history (missing_scope)"}
		if _, err := w.remind(next); incidentbot.ErrorCode(err) != incidentbot.EInternal {
			t.Fatalf("Remind = %v, want EInternal", err)
		}
		w.check("never posted while the history cannot be read", 1, 2)
		if inc := w.incident(); !inc.ReminderAttempt.Equal(due) {
			t.Fatalf("attempt %v, want it kept", inc.ReminderAttempt)
		}
		w.slack.findErr = nil
		w.mustRemind(next)
		w.check("read at last", 1, 3, due)
	})

	t.Run("the history too long to look through", func(t *testing.T) {
		// The stretch around the attempt will not get shorter: a look
		// again would fail again, and the incident would get no reminder
		// ever. Posted anew instead (here, a second time).
		w := newRemindWorld(t)
		next := w.crashed(due, true)
		w.slack.findErr = &incidentbot.Error{Code: incidentbot.EUnavailable, Err: commands.ErrTooMuchHistory,
			Message: "more than 10 pages of history"}
		w.mustRemind(next)
		w.check("posted anew", 2, 1, w.clk)
		if inc := w.incident(); !inc.LastReminderAt.Equal(w.clk) || !inc.ReminderAttempt.IsZero() {
			t.Errorf("LastReminderAt %v, ReminderAttempt %v; want %v and none", inc.LastReminderAt, inc.ReminderAttempt, w.clk)
		}
	})

	t.Run("a status update after the attempt", func(t *testing.T) {
		for _, posted := range []bool{true, false} {
			w := newRemindWorld(t)
			next := w.crashed(due, posted)
			update := due.Add(2 * time.Second)
			if _, _, err := w.db.UpdateIncident(context.Background(), w.id, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				i.LastUpdateAt = update
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventStatus, At: update, Actor: "U1", Text: "found it"}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			w.mustRemind(next)
			inc := w.incident()
			if posted {
				w.check("the post found", 1, 1, due)
			} else {
				w.check("no post found", 0, 1)
			}
			if !inc.ReminderAttempt.IsZero() {
				t.Errorf("posted %v: attempt %v left", posted, inc.ReminderAttempt)
			}
			if d, _ := next.ReminderDue(inc); !d.Equal(update.Add(remindInterval)) {
				t.Errorf("posted %v: next due %v, want an interval after the update", posted, d)
			}
		}
	})
}

// TestRemindRecordedOnShutdown: a shutdown (the scheduler's context
// cancelled, SIGTERM) right after Slack took the reminder's post does not
// leave that reminder unrecorded.
func TestRemindRecordedOnShutdown(t *testing.T) {
	w := newRemindWorld(t)
	svc := w.service()
	w.clk = remindStart.Add(remindInterval)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.slack.afterPost = cancel
	if err := svc.Remind(ctx, w.id); err != nil {
		t.Fatalf("Remind: %v", err)
	}
	w.check("recorded after the shutdown began", 1, 0, w.clk)
	if inc := w.incident(); !inc.LastReminderAt.Equal(w.clk) || !inc.ReminderAttempt.IsZero() {
		t.Errorf("LastReminderAt %v, ReminderAttempt %v; want %v and none", inc.LastReminderAt, inc.ReminderAttempt, w.clk)
	}
}

// TestRemindRefused: a post Slack refused ends its attempt (nothing to look
// for later); a channel gone is recorded as before, and the slow retry
// posts without reading the history.
func TestRemindRefused(t *testing.T) {
	w := newRemindWorld(t)
	svc := w.service()
	due := remindStart.Add(remindInterval)
	w.clk = due
	w.slack.refuse = &incidentbot.Error{Code: incidentbot.EUnavailable, RetryAfter: 20 * time.Second, Message: "Slack is rate limiting chat.postMessage"}
	if _, err := w.remind(svc); incidentbot.RetryAfter(err) != 20*time.Second {
		t.Fatalf("Remind = %v, want the Retry-After", err)
	}
	if inc := w.incident(); !inc.ReminderAttempt.IsZero() {
		t.Errorf("attempt %v left after a rate limit", inc.ReminderAttempt)
	}
	w.slack.refuse = &incidentbot.Error{Code: incidentbot.EGone, Message: "the channel is archived (Slack: is_archived)"}
	if _, err := w.remind(svc); incidentbot.ErrorCode(err) != incidentbot.EGone {
		t.Fatalf("Remind = %v, want EGone", err)
	}
	inc := w.incident()
	if inc.ChannelGone == "" || !inc.ReminderAttempt.IsZero() {
		t.Errorf("after EGone: channel gone %q, attempt %v", inc.ChannelGone, inc.ReminderAttempt)
	}
	w.clk = inc.ChannelGoneAt.Add(commands.DefaultChannelRetry)
	w.mustRemind(svc)
	inc = w.incident()
	if inc.ChannelGone != "" || !inc.LastReminderAt.Equal(w.clk) {
		t.Errorf("after the slow retry went through: channel gone %q, last reminder %v", inc.ChannelGone, inc.LastReminderAt)
	}
	w.check("refused twice, then posted", 1, 0, w.clk)
}
