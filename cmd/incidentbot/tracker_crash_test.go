package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/githubemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// inFlightCreate waits for the bot's POST of a new issue to reach the
// GitHub emulator.
func (w *world) inFlightCreate(gh *githubemu.Server, within time.Duration) {
	w.t.Helper()
	w.eventuallyFor(within, "the create of the issue in flight", func() bool {
		for _, r := range gh.RequestsTo("/repos/acme/ops/issues") {
			if r.Method == http.MethodPost {
				return true
			}
		}
		return false
	})
}

// TestTrackerCreateCrashInFlight: the bot is SIGKILLed while GitHub is
// carrying out the create of an item's issue (GitHub makes it all the
// same) and restarted at once; the restarted bot finds that issue by its
// marker and records it instead of creating a second one: the item ends
// with exactly one issue, linked from the item.
func TestTrackerCreateCrashInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	gh, env := withGitHub(t, &clock{}, ghToken)
	w := newWorld(t, slackemu.Config{})
	first := w.startChild(env)
	c := w.openIncident(w.alice, "sev3 Queue stuck", "inc-1-queue-stuck")

	const latency = 3 * time.Second
	gh.SetLatency(latency)
	w.cmd(w.alice, c, "action Drain the queue <@"+w.bob+"> due:2030-01-10")
	w.inFlightCreate(gh, 20*time.Second)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.done <- <-first.done // for the cleanup's wait
	w.eventuallyFor(10*time.Second, "the killed bot's socket to close", func() bool { return w.emu.Connections() == 0 })
	gh.SetLatency(0)
	if n := len(gh.Issues()); n != 0 {
		t.Fatalf("%d issues before the create in flight ended: restart too slow for the test", n)
	}

	second := w.startChild(env)
	w.eventuallyFor(60*time.Second, "the item linked after the restart", func() bool { return w.countText(c, ":link: *A1* is tracked in GitHub") == 1 })
	// Every create sent, the killed bot's included, has been carried out.
	w.eventuallyFor(2*latency, "the creates answered", func() bool {
		for _, r := range gh.RequestsTo("/repos/acme/ops/issues") {
			if r.Method == http.MethodPost && r.Status == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second)
	second.term(t)

	if iss := gh.Issues(); len(iss) != 1 {
		t.Fatalf("%d issues for one item: %+v", len(iss), iss)
	}
	inc, err := w.openDB().Incident(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if a := inc.Action(1); a == nil || a.Issue == nil || a.Issue.Key != "acme/ops#1" {
		t.Fatalf("A1 = %+v, want linked to acme/ops#1", a)
	}
	if a := inc.Tracker[0]; a.State != incidentbot.PagerDone || !a.Tried.IsZero() {
		t.Errorf("create action %+v, want done with its attempt cleared", a)
	}
}
