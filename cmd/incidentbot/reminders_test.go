package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

const reminderMark = ":alarm_clock:"

// reminders returns the reminder texts in a channel.
func (w *world) reminders(channel string) []string {
	var out []string
	for _, s := range w.channelTexts(channel) {
		if strings.Contains(s, reminderMark) {
			out = append(out, s)
		}
	}
	return out
}

func (w *world) openIncident(user, title, channelName string) string {
	w.t.Helper()
	w.cmd(user, w.general, "open "+title)
	var id string
	w.eventually("channel "+channelName, func() bool {
		ch, ok := w.emu.ChannelByName(channelName)
		id = ch.ID
		return ok && len(ch.Pins) == 1
	})
	return id
}

// fakeClock is Main's clock in the reminder tests: it moves only when the
// test moves it, so that what is due does not depend on how fast a loaded
// machine runs the bot.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// on runs the bot on clk, looking at it every 10ms.
func (c *fakeClock) on(m *Main) {
	m.Now = c.Now
	m.TuneBot = func(cfg *bot.Config) { cfg.ReminderTick = 10 * time.Millisecond }
}

// settle gives the scheduler many ticks to act at the clock's time, before
// checking that it did nothing: on a slow machine the check can only pass
// vacuously, never fail wrongly.
func settle() { time.Sleep(200 * time.Millisecond) }

// TestStatusReminders: with a 2s interval, a reminder names the commander
// (or the declarer) after an interval without update and repeats; updates
// keep it away; a snooze pauses it; resolving stops it; two incidents keep
// their own clocks; every reminder sent is in the timeline.
func TestStatusReminders(t *testing.T) {
	const interval = 2 * time.Second
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": interval.String()}, clk.on)
	a := w.openIncident(w.alice, "sev2 Search down", "inc-1-search-down")
	w.cmd(w.alice, a, "role commander <@"+w.carol+">")
	b := w.openIncident(w.bob, "sev3 Slow exports", "inc-2-slow-exports")

	// A gets an update every second for 5s; B none, and is reminded at 2s
	// and 4s.
	for i := 1; i <= 5; i++ {
		clk.Add(time.Second)
		w.cmd(w.carol, a, "status investigating still digging")
		if i%2 == 0 {
			w.eventually("a reminder in B", func() bool { return len(w.reminders(b)) == i/2 })
		}
	}
	settle()
	if r := w.reminders(a); len(r) != 0 {
		t.Errorf("incident with regular updates was reminded: %q", r)
	}
	rb := w.reminders(b)
	if len(rb) < 2 || len(rb) > 3 {
		t.Fatalf("incident without updates got %d reminders in 5s, want 2", len(rb))
	}
	if !strings.Contains(rb[0], "<@"+w.bob+">") || !strings.Contains(rb[0], "/incident status") {
		t.Errorf("reminder %q does not mention the declarer or the command", rb[0])
	}

	// A: no commander update; the reminder names the commander, once per interval.
	clk.Add(interval)
	w.eventually("a reminder in A", func() bool { return len(w.reminders(a)) == 1 })
	if r := w.reminders(a)[0]; !strings.Contains(r, "<@"+w.carol+">") {
		t.Errorf("reminder %q does not mention the commander", r)
	}
	// Snooze A for 3s: nothing during it, one right after.
	w.cmd(w.carol, a, "snooze 3s")
	w.waitText(a, "paused status-update reminders")
	snoozed := len(w.reminders(a))
	clk.Add(2500 * time.Millisecond)
	settle()
	if n := len(w.reminders(a)); n != snoozed {
		t.Errorf("%d reminders during the snooze", n-snoozed)
	}
	clk.Add(500 * time.Millisecond)
	w.eventually("a reminder after the snooze", func() bool { return len(w.reminders(a)) == snoozed+1 })

	// Resolve B: no more reminders (while A, an interval on, gets its next).
	w.cmd(w.bob, b, "resolve")
	w.waitText(b, "INC-2 resolved")
	after := len(w.reminders(b))
	clk.Add(interval + 700*time.Millisecond)
	w.eventually("A's next reminder", func() bool { return len(w.reminders(a)) == snoozed+2 })
	settle()
	if n := len(w.reminders(b)); n != after {
		t.Errorf("%d reminders after resolve", n-after)
	}
	sentA, sentB := len(w.reminders(a)), len(w.reminders(b))
	bot.stop(t)

	db := w.openDB()
	if n := countKind(timeline(t, db, 1), incidentbot.EventReminder); n != sentA {
		t.Errorf("INC-1 timeline has %d reminders, Slack shows %d", n, sentA)
	}
	if n := countKind(timeline(t, db, 2), incidentbot.EventReminder); n != sentB {
		t.Errorf("INC-2 timeline has %d reminders, Slack shows %d", n, sentB)
	}
}

// TestReminderAfterRestart: a bot that was down for several intervals sends
// exactly one reminder when it comes back, at once (with the clock standing
// still), then the next an interval later.
func TestReminderAfterRestart(t *testing.T) {
	const interval = 2 * time.Second
	env := map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": interval.String()}
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	first := w.startWith(env, clk.on)
	c := w.openIncident(w.alice, "Queue backlog", "inc-1-queue-backlog")
	first.stop(t)
	clk.Add(3*interval + 500*time.Millisecond) // down for three intervals
	if n := len(w.reminders(c)); n != 0 {
		t.Fatalf("%d reminders while down", n)
	}
	second := w.startWith(env, clk.on)
	w.eventually("the overdue reminder, without the clock moving", func() bool { return len(w.reminders(c)) >= 1 })
	// The next one counts from when the reminder was recorded (after Slack
	// took it): let that happen before the clock moves.
	w.eventually("the reminder recorded", func() bool {
		return countKind(timeline(t, second.m.Store, 1), incidentbot.EventReminder) == 1
	})
	clk.Add(interval / 2)
	settle()
	if n := len(w.reminders(c)); n != 1 {
		t.Errorf("%d reminders right after the restart, want exactly 1", n)
	}
	clk.Add(interval / 2)
	w.eventually("the next reminder an interval later", func() bool { return len(w.reminders(c)) == 2 })
	second.stop(t)
}

// TestOverdueActionReminders: on the cron tick, the owner of an overdue open
// action item gets a DM listing it; items closed or not yet due are not
// listed, and owners with nothing overdue get nothing.
func TestOverdueActionReminders(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(map[string]string{"INCIDENTBOT_ACTION_REMINDER_CRON": "@every 1s"}, clk.on)
	c := w.openIncident(w.alice, "Disk full on logs-2", "inc-1-disk-full-on-logs-2")
	w.cmd(w.alice, c, "action Rotate logs hourly <@"+w.bob+"> due:+0d")
	w.cmd(w.alice, c, "action Alert at 80% disk <@"+w.bob+"> due:+2d")
	w.cmd(w.alice, c, "action Move logs to object storage <@"+w.carol+"> due:+0d")
	w.cmd(w.carol, c, "action done A3")
	w.cmd(w.alice, c, "resolve")
	clk.Add(1500 * time.Millisecond) // a firing, with nothing overdue
	settle()
	if dms := w.emu.DMs(w.bob); len(dms) != 0 {
		t.Fatalf("DMs before anything is overdue: %q", dms)
	}
	clk.Add(36 * time.Hour) // today's due date has ended; +2d has not
	w.eventually("a DM to bob", func() bool { return len(w.emu.DMs(w.bob)) > 0 })
	dm := w.emu.DMs(w.bob)[0]
	if !strings.Contains(dm, "INC-1 A1") || !strings.Contains(dm, "Rotate logs hourly") || !strings.Contains(dm, "/incident action done A1") {
		t.Errorf("DM = %q", dm)
	}
	if strings.Contains(dm, "A2") {
		t.Errorf("DM lists an item not yet due: %q", dm)
	}
	clk.Add(1200 * time.Millisecond) // the next firing
	w.eventually("bob's second DM", func() bool { return len(w.emu.DMs(w.bob)) >= 2 })
	if dms := w.emu.DMs(w.carol); len(dms) != 0 {
		t.Errorf("carol's item is done but she got %q", dms)
	}
	if n := len(w.emu.DMs(w.bob)); n < 2 {
		t.Errorf("bob got %d DMs; the reminder repeats on every firing while the item stays overdue", n)
	}
	bot.stop(t)
}
