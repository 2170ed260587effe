package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// child is the bot as a separate OS process (this test binary re-executed).
type child struct {
	cmd  *exec.Cmd
	done chan error
}

func (w *world) startChild(extra map[string]string) *child {
	w.t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "INCIDENTBOT_TEST_CHILD=1")
	for k, v := range w.env(extra) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = testWriter{w.t}
	before := w.emu.Connections()
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.done })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.emu.WaitConnected(ctx, before+1); err != nil {
		w.t.Fatalf("child did not connect: %v", err)
	}
	return c
}

func (c *child) kill(t *testing.T) {
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	c.done <- nil // for the cleanup
}

// term sends SIGTERM and expects exit 0 within 5 s.
func (c *child) term(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- nil
		if err != nil {
			t.Fatalf("after SIGTERM the bot exited with %v, want 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bot did not exit within 5s of SIGTERM")
	}
}

// TestKillDuringBurst kills the bot process with SIGKILL in the middle of a
// burst of 200 messages, restarts it, and finds every acknowledged message
// in the store exactly once; Slack's redelivery brings the others.
func TestKillDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	w := newWorld(t, slackemu.Config{AckTimeout: 500 * time.Millisecond})
	first := w.startChild(nil)
	w.cmd(w.alice, w.general, "open sev1 Payments down")
	var ch slackemu.Channel
	w.eventually("the incident channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-payments-down")
		return ok && len(ch.Pins) == 1
	})

	const n = 200
	tsOf := map[string]string{} // event id → message ts
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		for i := range n {
			ts := w.emu.PostMessage(w.bob, ch.ID, "burst message "+strconv.Itoa(i))
			tsOf[w.emu.LastEventID()] = ts
			if i%20 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	// Kill once some, but not all, messages are acknowledged.
	w.eventually("some acknowledged", func() bool { return ackedMessages(w, ch.ID) >= 40 })
	first.kill(t)
	w.eventually("the killed bot's socket gone", func() bool { return w.emu.Connections() == 0 })
	<-posted
	acked := map[string]bool{}
	for _, e := range w.emu.Events() {
		if ts, ok := tsOf[e.ID]; ok && e.Acked {
			acked[ts] = true
		}
	}
	t.Logf("%d of %d messages acknowledged before SIGKILL", len(acked), n)
	if len(acked) == n {
		t.Log("every message was acknowledged before the kill; the test still checks they were stored")
	}

	second := w.startChild(nil)
	deadline := time.Now().Add(20 * time.Second)
	burstAcked := func() int {
		c := 0
		for _, e := range w.emu.Events() {
			if _, ok := tsOf[e.ID]; ok && e.Acked {
				c++
			}
		}
		return c
	}
	for burstAcked() != n {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d messages acknowledged; %d envelopes unacknowledged, %d queued",
				burstAcked(), n, w.emu.UnackedCount(), w.emu.QueuedCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
	second.term(t)

	db := w.openDB()
	seen := map[string]int{}
	for _, e := range timeline(t, db, 1) {
		if e.Kind == incidentbot.EventMessage && strings.HasPrefix(e.Text, "burst message") {
			seen[e.TS]++
		}
	}
	for ts := range acked {
		if seen[ts] != 1 {
			t.Errorf("acknowledged message %s stored %d times", ts, seen[ts])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages stored, want %d", len(seen), n)
	}
	for ts, c := range seen {
		if c != 1 {
			t.Errorf("message %s stored %d times", ts, c)
		}
	}
}

func ackedMessages(w *world, channel string) int {
	n := 0
	for _, e := range w.emu.Events() {
		if e.Channel == channel && e.Type == "message" && e.Acked {
			n++
		}
	}
	return n
}
