package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// postsTo counts the chat.postMessage calls made to channel.
func (w *world) postsTo(channel string) int {
	n := 0
	for _, c := range w.emu.Calls("chat.postMessage") {
		if c.Params.Get("channel") == channel {
			n++
		}
	}
	return n
}

// countTexts counts the messages in channel containing substr.
func (w *world) countTexts(channel, substr string) int {
	n := 0
	for _, s := range w.channelTexts(channel) {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// goneNotice is in the message that tells a human a channel is gone.
const goneNotice = "are paused"

// TestGoneChannel: an incident channel that is archived (with its event
// delivered, or lost so that a reminder finds it), deleted, or that the bot
// was removed from gets at most a handful of chat.postMessage calls per
// emulated hour, not five a second; the announce channel is told once,
// with what to do; the timeline records it once; unarchiving or inviting
// the bot back makes reminders resume.
func TestGoneChannel(t *testing.T) {
	const interval = 2 * time.Second
	tests := []struct {
		name   string
		kill   func(w *world, ch string)
		revive func(w *world, ch string) // nil: it cannot come back
		gone   string                    // Incident.ChannelGone while gone
		kind   incidentbot.EventKind     // the event recorded, if any
	}{
		{"archived", func(w *world, ch string) { w.emu.ArchiveChannel(ch, w.bob) },
			func(w *world, ch string) { w.emu.UnarchiveChannel(ch, w.bob) }, "is_archived", incidentbot.EventChannelArchived},
		{"archived, event lost", func(w *world, ch string) {
			w.emu.SetLoseEvents(true)
			w.emu.ArchiveChannel(ch, w.bob)
			w.emu.SetLoseEvents(false)
		}, func(w *world, ch string) { w.emu.UnarchiveChannel(ch, w.bob) }, "is_archived", ""},
		{"deleted", func(w *world, ch string) { w.emu.DeleteChannel(ch) }, nil, "channel_not_found", incidentbot.EventChannelDeleted},
		{"bot removed", func(w *world, ch string) { w.emu.RemoveBot(ch) },
			func(w *world, ch string) { w.emu.InviteBot(ch, w.alice) }, "not_in_channel", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			w := newWorld(t, slackemu.Config{})
			r := w.startWith(map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": interval.String()}, clk.on)
			c := w.openIncident(w.alice, "Disk full", "inc-1-disk-full")
			before := w.postsTo(c)
			tt.kill(w, c)
			// An emulated hour, a minute at a time; a reminder is due at once.
			for range 60 {
				clk.Add(time.Minute)
				time.Sleep(15 * time.Millisecond) // a tick or more
			}
			settle()
			if n := w.postsTo(c) - before; n > 3 {
				t.Fatalf("%d chat.postMessage calls to the gone channel in an emulated hour, want at most 3", n)
			}
			w.waitText(w.announce, goneNotice)
			// The notice, not merely the last message: the opening's
			// announcement may land after it.
			var notice string
			for _, s := range w.channelTexts(w.announce) {
				if strings.Contains(s, goneNotice) {
					notice = s
				}
			}
			for _, want := range []string{"INC-1", tt.gone, "/incident resolve INC-1", "invite"} {
				if !strings.Contains(notice, want) {
					t.Errorf("the notice %q does not say %q", notice, want)
				}
			}
			if n := w.countTexts(w.announce, goneNotice); n != 1 {
				t.Errorf("the announce channel was told %d times, want once", n)
			}

			if tt.revive != nil {
				reminders := len(w.reminders(c))
				tt.revive(w, c)
				w.waitText(c, "can use this channel again")
				clk.Add(interval)
				w.eventually("reminders resuming", func() bool { return len(w.reminders(c)) > reminders })
			}
			r.stop(t)

			evs := timeline(t, w.openDB(), 1)
			if n := countKind(evs, incidentbot.EventChannelGone); n != 1 {
				t.Errorf("%d channel_unusable events, want 1", n)
			}
			if tt.kind != "" {
				if n := countKind(evs, tt.kind); n != 1 {
					t.Errorf("%d %s events, want 1", n, tt.kind)
				}
			}
			back := 0
			if tt.revive != nil {
				back = 1
			}
			if n := countKind(evs, incidentbot.EventChannelBack); n != back {
				t.Errorf("%d channel_usable events, want %d", n, back)
			}
			for _, e := range evs {
				if e.Kind == incidentbot.EventChannelArchived && e.Actor != w.bob {
					t.Errorf("archived by %q, want bob", e.Actor)
				}
			}
		})
	}
}

// TestRateLimitedChannelDelaysOnlyItself: with channel A's chat.postMessage
// answering 429 Retry-After: 30, incident B's reminders come every interval
// as if nothing happened, A is not hammered, and commands in B are answered.
func TestRateLimitedChannelDelaysOnlyItself(t *testing.T) {
	const interval = 3 * time.Second
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	r := w.startWith(map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": interval.String()}, clk.on)
	a := w.openIncident(w.alice, "Search down", "inc-1-search-down")
	b := w.openIncident(w.bob, "Slow exports", "inc-2-slow-exports")
	w.emu.FailChannel("chat.postMessage", a, 1000, 429, 30*time.Second)
	before := w.postsTo(a)
	for i := 1; i <= 4; i++ {
		clk.Add(interval)
		start := time.Now()
		w.eventuallyFor(3*time.Second, "B's reminder", func() bool { return len(w.reminders(b)) == i })
		t.Logf("B's reminder %d came %v after it was due", i, time.Since(start).Round(time.Millisecond))
	}
	if n := w.postsTo(a) - before; n > 2 {
		t.Errorf("%d chat.postMessage calls to the rate-limited channel within its Retry-After, want at most 2", n)
	}
	w.cmd(w.bob, b, "status identified a slow query")
	w.waitText(b, "a slow query")
	r.stop(t)
}

// lockedBuffer is a bytes.Buffer safe for a child's stderr and a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRevokedTokenEndsServe: the bot token revoked while the socket stays
// up (no tokens_revoked event) ends `incidentbot serve`, a real process,
// with a non-zero exit within a minute, with a line that names
// SLACK_BOT_TOKEN, and /readyz fails meanwhile.
func TestRevokedTokenEndsServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	w := newWorld(t, slackemu.Config{})
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "INCIDENTBOT_TEST_CHILD=1")
	for k, v := range w.env(map[string]string{"INCIDENTBOT_HTTP_ADDR": addr, "INCIDENTBOT_UPDATE_INTERVAL": "2s"}) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr lockedBuffer
	cmd.Stderr = io.MultiWriter(&stderr, testWriter{t})
	before := w.emu.Connections()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.emu.WaitConnected(ctx, before+1); err != nil {
		t.Fatalf("child did not connect: %v", err)
	}
	w.openIncident(w.alice, "Queue backlog", "inc-1-queue-backlog")
	if c, _ := httpGet("http://" + addr + "/readyz"); c != 200 {
		t.Fatalf("/readyz = %d before the token was revoked", c)
	}

	w.emu.RevokeBotToken(false)
	revoked := time.Now()
	var notReady string
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(20 * time.Millisecond):
			if time.Since(revoked) > time.Minute {
				t.Fatal("serve still runs a minute after the token was revoked")
			}
			if c, body := httpGet("http://" + addr + "/readyz"); c == 503 {
				notReady = body
			}
		}
	}
	t.Logf("serve exited %v after the token was revoked: %v", time.Since(revoked).Round(time.Millisecond), err)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve exited with %v, want a non-zero exit code", err)
	}
	out := stderr.String()
	if !strings.Contains(out, "token_revoked") || !strings.Contains(out, "SLACK_BOT_TOKEN") {
		t.Errorf("stderr does not say what happened and what to do:\n%s", out)
	}
	if n := strings.Count(out, "level=error"); n > 2 {
		t.Errorf("%d error lines, want the one saying what to do (and the exit line):\n%s", n, out)
	}
	if notReady != "" && !strings.Contains(notReady, "token_revoked") {
		t.Errorf("/readyz said %q", notReady)
	}
}

// TestTokensRevokedEvent: the tokens_revoked event ends Run with an error
// naming what to do, and readiness (what /readyz serves) says why.
func TestTokensRevokedEvent(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	env := w.env(nil)
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, testWriter{t}
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := m.ParseFlags([]string{"serve"}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := w.emu.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
	w.emu.RevokeBotToken(true)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "tokens_revoked") || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") {
			t.Errorf("Run returned %v", err)
		}
		if ok, why := m.Bot.Ready(); ok || !strings.Contains(why, "tokens_revoked") {
			t.Errorf("Ready() = %v %q", ok, why)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still runs a minute after tokens_revoked")
	}
}
