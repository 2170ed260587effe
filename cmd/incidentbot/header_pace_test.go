package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestHeaderPaced: a burst of status changes on one incident updates its
// pinned header at once and then no more than once per
// commands.DefaultHeaderEvery (Slack allows chat.update about 50 times a
// minute), and the header ends showing the last change. Before the pacing
// the burst cost one chat.update per command.
func TestHeaderPaced(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "Checkout latency", "inc-1-checkout-latency")
	header := w.header(c)
	updates := func() int {
		n := 0
		for _, call := range w.emu.Calls("chat.update") {
			if call.Params.Get("channel") == c && call.Params.Get("ts") == header {
				n++
			}
		}
		return n
	}
	before := updates()
	start := time.Now()
	const burst = 30
	for i := range burst {
		status := []string{"investigating", "identified"}[i%2]
		if i == burst-1 {
			status = "monitoring"
		}
		if ack := w.cmd(w.bob, c, fmt.Sprintf("status %s burst update %d", status, i)); !strings.Contains(ack, "Status update posted") {
			t.Fatalf("command %d: %q", i, ack)
		}
	}
	w.eventually("the header showing the last status", func() bool { return strings.Contains(w.headerText(c), "*Status:* monitoring") })
	settle()
	n, took := updates()-before, time.Since(start)
	if most := 2 + int(took/commands.DefaultHeaderEvery); n > most || n == 0 {
		t.Errorf("%d status changes in %s updated the header %d times; want 1..%d", burst, took.Round(time.Millisecond), n, most)
	}
	t.Logf("%d status changes in %s: %d header updates", burst, took.Round(time.Millisecond), n)
	bot.stop(t)
}
