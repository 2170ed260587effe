package main

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// The reminder crash tests: the process posting a reminder is SIGKILLed
// while Slack (the emulator, slowed by SetLatency) is carrying out the
// post, so that the post is made and its record is not. The next lease
// holder, or the bot restarted on its bbolt file, must find that reminder
// in the channel instead of posting it again.

// crashLatency is how long the emulator takes over the reminder's post
// that the kill interrupts: long enough to kill its sender meanwhile, and
// to land within the time the next lease holder needs to take over, so
// that a reminder posted again would land beside it.
const crashLatency = 2 * time.Second

// inFlightReminder sets the emulator's posts to take crashLatency, waits
// for a reminder's post to be received, and returns it; the caller kills
// its sender.
func (w *world) inFlightReminder(within time.Duration) slackemu.Call {
	w.t.Helper()
	w.emu.SetLatency("chat.postMessage", crashLatency)
	var call slackemu.Call
	w.eventuallyFor(within, "a reminder's post in flight", func() bool {
		for _, c := range w.emu.Pending("chat.postMessage") {
			// Only a post received in the first half of its latency: one
			// seen late (this loop starved on a loaded machine) could be
			// made before the caller's kill; the next reminder comes an
			// interval later.
			if strings.Contains(c.Params.Get("text"), reminderMark) && time.Since(c.Time) < crashLatency/2 {
				call = c
				return true
			}
		}
		return false
	})
	return call
}

// remindersSince returns when the reminders in channel posted at or after
// since were posted.
func remindersSince(w *world, channel string, since time.Time) []time.Time {
	var out []time.Time
	for _, at := range reminderTimes(w, channel) {
		if !at.Before(since) {
			out = append(out, at)
		}
	}
	return out
}

// recordedBy returns the times of the reminder events recorded at or
// before last: a reminder is recorded at its attempt, just before Slack
// shows it, so these are the events of the reminders Slack showed by last.
func recordedBy(evs []incidentbot.TimelineEvent, last time.Time) []time.Time {
	var out []time.Time
	for _, e := range evs {
		if e.Kind == incidentbot.EventReminder && !e.At.After(last) {
			out = append(out, e.At)
		}
	}
	return out
}

// checkCrashedReminder checks the reminders of a channel after the
// reminder whose post was received at inFlight lost its sender at killed:
// that post was made after the kill (the kill did catch it in flight); no
// two reminders are less than an interval apart (none doubled, the next
// counts from the one made); after the one that followed the crash they
// come each interval again; and the timeline records each reminder Slack
// shows (rt) once, the crashed one at its attempt.
func checkCrashedReminder(t *testing.T, rt []time.Time, inFlight, killed time.Time, interval time.Duration, recorded []incidentbot.TimelineEvent) {
	t.Helper()
	k := -1
	for i, at := range rt {
		if !at.Before(inFlight) {
			k = i
			break
		}
	}
	switch {
	case k < 0:
		t.Fatalf("the reminder in flight at the kill was never posted (reminders at %v)", rt)
	case !rt[k].After(killed):
		t.Fatalf("the reminder in flight was posted at %v, before the kill at %v: the kill did not catch it in flight", rt[k], killed)
	case len(rt) < k+3:
		t.Fatalf("%d reminders after the crashed one, want 2", len(rt)-k-1)
	}
	for i := 1; i < len(rt); i++ {
		if gap := rt[i].Sub(rt[i-1]); gap < interval-250*time.Millisecond {
			t.Errorf("reminders %d and %d only %v apart: one due time reminded twice (the crashed post was received at %v, its sender killed at %v)",
				i, i+1, gap.Round(time.Millisecond), inFlight.Format("15:04:05.000"), killed.Format("15:04:05.000"))
		}
		if limit := interval + 3*interval/4; i > k+1 && rt[i].Sub(rt[i-1]) > limit {
			t.Errorf("reminders %d and %d %v apart after the crash, want at most %v", i, i+1, rt[i].Sub(rt[i-1]), limit)
		}
	}
	events := recordedBy(recorded, rt[len(rt)-1])
	if len(events) != len(rt) {
		t.Errorf("%d reminder_sent events in the timeline, Slack shows %d reminders", len(events), len(rt))
	}
	attempt := false
	for _, at := range events {
		// The attempt began just before Slack received its post.
		attempt = attempt || (!at.After(inFlight) && inFlight.Sub(at) < time.Second)
	}
	if !attempt {
		t.Errorf("no reminder recorded at the crashed attempt (post received at %v; events at %v)", inFlight, events)
	}
	t.Logf("the reminder received at %v was posted at %v, %v after its sender was killed; the next came %v after it; %d reminders, %d recorded",
		inFlight.Format("15:04:05.000"), rt[k].Format("15:04:05.000"), rt[k].Sub(killed).Round(time.Millisecond),
		rt[k+1].Sub(rt[k]).Round(time.Millisecond), len(rt), len(events))
}

// TestReplicasReminderCrashInFlight: three replicas on PostgreSQL, a 2s
// interval and a 2s lease; the lease holder is SIGKILLed while Slack is
// carrying out its reminder's post. The post is made; the next holder
// finds it in the channel's history, records it, and does not post that
// due time again; the next reminder comes an interval after it (here later:
// the history is read once Slack is surely done with the post, one Web API
// timeout, 10s, after the attempt), and then each interval.
func TestReplicasReminderCrashInFlight(t *testing.T) {
	const (
		interval = 2 * time.Second
		ttl      = 2 * time.Second
	)
	w, rs, c := remindingReplicas(t, interval, ttl)
	w.eventuallyFor(2*interval+10*time.Second, "the first reminders", func() bool { return len(reminderTimes(w, c)) >= 2 })

	call := w.inFlightReminder(2*interval + 5*time.Second)
	holder := rs.holder()
	killed := time.Now()
	rs.kill(holder)
	w.emu.SetLatency("chat.postMessage", 0)
	t.Logf("SIGKILLed the holder %s with a reminder's post in flight", holder)
	w.eventuallyFor(ttl+interval+30*time.Second, "two reminders after the crashed one", func() bool {
		return len(remindersSince(w, c, call.Time)) >= 3
	})
	rt := reminderTimes(w, c)
	// The last reminder is recorded just after Slack shows it: give that
	// a moment (a reminder never recorded fails the check below).
	recorded := rs.timeline(1)
	for deadline := time.Now().Add(5 * time.Second); len(recordedBy(recorded, rt[len(rt)-1])) < len(rt) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		recorded = rs.timeline(1)
	}
	checkCrashedReminder(t, rt, call.Time, killed, interval, recorded)
}

// TestReminderCrashInFlightRestart: the same with one process on a bbolt
// file: the bot is SIGKILLed while Slack is carrying out its reminder's
// post and restarted at once, before the post is made; the restarted bot
// records that reminder instead of posting it again.
func TestReminderCrashInFlightRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const interval = 2 * time.Second
	env := map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": interval.String()}
	w := newWorld(t, slackemu.Config{})
	first := w.startChild(env)
	c := w.openIncident(w.alice, "Queue backlog", "inc-1-queue-backlog")
	w.eventuallyFor(2*interval+10*time.Second, "the first reminders", func() bool { return len(reminderTimes(w, c)) >= 2 })

	call := w.inFlightReminder(2*interval + 5*time.Second)
	killed := time.Now()
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.done <- <-first.done // for the cleanup's wait
	w.eventuallyFor(10*time.Second, "the killed bot's socket to close", func() bool { return w.emu.Connections() == 0 })
	w.emu.SetLatency("chat.postMessage", 0)
	second := w.startChild(env)
	w.eventuallyFor(interval+30*time.Second, "two reminders after the crashed one", func() bool {
		return len(remindersSince(w, c, call.Time)) >= 3
	})
	second.term(t)
	checkCrashedReminder(t, reminderTimes(w, c), call.Time, killed, interval, timeline(t, w.openDB(), 1))
}
