package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// world is a Slack emulator with three people and an announce channel.
type world struct {
	t                 testing.TB
	emu               *slackemu.Server
	alice, bob, carol string
	general, announce string
	dbPath            string
}

func newWorld(t testing.TB, cfg slackemu.Config) *world {
	t.Helper()
	emu, err := slackemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	w := &world{t: t, emu: emu, dbPath: filepath.Join(t.TempDir(), "incidentbot.db")}
	w.alice = emu.AddUser(slackemu.User{Name: "alice", DisplayName: "Alice", RealName: "Alice Adams", Email: "alice@example.com"}).ID
	w.bob = emu.AddUser(slackemu.User{Name: "bob", DisplayName: "Bob", RealName: "Bob Brown", Email: "bob@example.com"}).ID
	w.carol = emu.AddUser(slackemu.User{Name: "carol", RealName: "Carol Clark", Email: "carol@example.com"}).ID
	w.general = emu.CreateChannel("general", w.alice, w.bob, w.carol)
	w.announce = emu.CreateChannel("incidents", w.alice, w.bob, w.carol)
	return w
}

// env is the environment a bot under test runs with.
func (w *world) env(extra map[string]string) map[string]string {
	env := map[string]string{
		"SLACK_BOT_TOKEN":              w.emu.Config().BotToken,
		"SLACK_APP_TOKEN":              w.emu.Config().AppToken,
		"INCIDENTBOT_SLACK_API_URL":    w.emu.URL(),
		"INCIDENTBOT_DB":               w.dbPath,
		"INCIDENTBOT_ANNOUNCE_CHANNEL": w.announce,
		"INCIDENTBOT_HTTP_ADDR":        "",
		"INCIDENTBOT_LOG_LEVEL":        "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// running is a bot started in this process by Main.
type running struct {
	w      *world
	before int // connections before it started
	m      *Main
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs `incidentbot serve` against the emulator until stop.
func (w *world) start(extra map[string]string) *running {
	w.t.Helper()
	return w.startWith(extra, nil)
}

// startWith is start with a hook to set Main's fields (a clock) before Run.
func (w *world) startWith(extra map[string]string, setup func(*Main)) *running {
	w.t.Helper()
	env := w.env(extra)
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, testWriter{w.t}
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := m.ParseFlags([]string{"serve"}); err != nil {
		w.t.Fatal(err)
	}
	if setup != nil {
		setup(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	before := w.emu.Connections()
	r := &running{w: w, before: before, m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := w.emu.WaitConnected(wctx, before+1); err != nil {
		cancel()
		w.t.Fatalf("bot did not connect: %v (run: %v)", err, drain(r.done))
	}
	w.t.Cleanup(func() { r.stop(w.t) })
	return r
}

func drain(c chan error) error {
	select {
	case err := <-c:
		return err
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// stop cancels the bot as SIGTERM does and closes its database.
func (r *running) stop(t testing.TB) {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(10 * time.Second):
			r.err = fmt.Errorf("bot did not stop within 10s")
		}
		if err := r.m.Close(); err != nil && r.err == nil {
			r.err = err
		}
		// Wait for the emulator to see the socket go, so that the next
		// start counts connections right.
		for deadline := time.Now().Add(5 * time.Second); r.w.emu.Connections() > r.before && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if r.err != nil {
			t.Errorf("bot run: %v", r.err)
		}
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// cmd types a slash command and returns what the caller was told in the ack.
func (w *world) cmd(user, channel, text string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := w.emu.SlashCommand(ctx, user, channel, text)
	if err != nil {
		w.t.Fatalf("/incident %s: %v", text, err)
	}
	return res.AckText
}

// eventually waits up to 10s for cond.
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	w.eventuallyFor(10*time.Second, what, cond)
}

// eventuallyFor waits up to d for cond.
func (w *world) eventuallyFor(d time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// channelMessages returns the texts in a channel.
func (w *world) channelTexts(channel string) []string {
	var out []string
	for _, m := range w.emu.Messages(channel) {
		if !m.Deleted {
			out = append(out, m.Text)
		}
	}
	return out
}

func (w *world) waitText(channel, substr string) {
	w.t.Helper()
	w.eventually(fmt.Sprintf("%q in channel %s", substr, channel), func() bool {
		for _, s := range w.channelTexts(channel) {
			if strings.Contains(s, substr) {
				return true
			}
		}
		return false
	})
}

// openDB opens the database of a stopped bot.
func (w *world) openDB() *store.DB {
	w.t.Helper()
	db, err := store.Open(w.dbPath, store.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { db.Close() })
	return db
}

// timeline returns the events of incident id.
func timeline(t testing.TB, db database, id int64) []incidentbot.TimelineEvent {
	t.Helper()
	var out []incidentbot.TimelineEvent
	if err := db.Events(context.Background(), id, func(e *incidentbot.TimelineEvent) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func countKind(evs []incidentbot.TimelineEvent, kind incidentbot.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// storedOnce checks, on the stopped bot's database, that each message ts is
// in incident id's timeline exactly once.
func (w *world) storedOnce(id int64, msgs []string) {
	w.t.Helper()
	seen := map[string]int{}
	for _, e := range timeline(w.t, w.openDB(), id) {
		if e.Kind == incidentbot.EventMessage {
			seen[e.TS]++
		}
	}
	for _, ts := range msgs {
		if seen[ts] != 1 {
			w.t.Errorf("message %s stored %d times", ts, seen[ts])
		}
	}
}
