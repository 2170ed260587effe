package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// markedEmu is an emulator with a channel the bot is in, and the bot's
// Slack calls against it: api waits out rate limits, noWait does not.
func markedEmu(t *testing.T) (emu *slackemu.Server, channel string, api *slackAPI) {
	t.Helper()
	emu, err := slackemu.New(slackemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	alice := emu.AddUser(slackemu.User{Name: "alice"}).ID
	channel = emu.CreateChannel("inc-1-checkout", alice, emu.BotUserID())
	cfg := emu.Config()
	api = &slackAPI{
		api:    newSlackClient(cfg.BotToken, cfg.AppToken, emu.URL(), newSlackHTTP(5*time.Second, nil), retryWaiting),
		noWait: newSlackClient(cfg.BotToken, cfg.AppToken, emu.URL(), newSlackHTTP(5*time.Second, nil), retryNoWait),
		never:  newSlackClient(cfg.BotToken, cfg.AppToken, emu.URL(), newSlackHTTP(5*time.Second, nil), retryNever),
	}
	api.setBotID(emu.BotID())
	return emu, channel, api
}

// TestPostMarkedFindMarked: a marked post carries Slack metadata with the
// marker; FindMarked finds it by kind and every field, within the stretch
// of history asked for, among the bot's messages only, across pages.
func TestPostMarkedFindMarked(t *testing.T) {
	emu, ch, api := markedEmu(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	attempt := "2026-11-23T10:00:00.123456789Z"
	m := commands.Marker{Kind: "incidentbot_reminder", Fields: map[string]string{"incident": "INC-1", "attempt": attempt}}
	before := time.Now()
	if _, err := api.PostMarked(ctx, ch, "reminder", m); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	msgs := emu.Messages(ch)
	var md struct {
		EventType    string            `json:"event_type"`
		EventPayload map[string]string `json:"event_payload"`
	}
	if len(msgs) != 1 || json.Unmarshal(msgs[0].Metadata, &md) != nil || md.EventType != m.Kind ||
		md.EventPayload["incident"] != "INC-1" || md.EventPayload["attempt"] != attempt {
		t.Fatalf("posted %+v", msgs)
	}

	other := func(k, v string) commands.Marker {
		o := commands.Marker{Kind: m.Kind, Fields: map[string]string{}}
		for f, fv := range m.Fields {
			o.Fields[f] = fv
		}
		if k == "kind" {
			o.Kind = v
		} else {
			o.Fields[k] = v
		}
		return o
	}
	window := func(from, to time.Time) [2]time.Time { return [2]time.Time{from, to} }
	around := window(before.Add(-time.Second), after.Add(time.Second))
	for _, tt := range []struct {
		what   string
		m      commands.Marker
		window [2]time.Time
		want   bool
	}{
		{"the post", m, around, true},
		{"another attempt", other("attempt", "2026-11-23T10:15:00Z"), around, false},
		{"another incident", other("incident", "INC-2"), around, false},
		{"another kind", other("kind", "incidentbot_review"), around, false},
		{"a field the post lacks", other("replica", "r1"), around, false},
		{"after the post", m, window(after.Add(time.Second), after.Add(time.Minute)), false},
		{"before the post", m, window(before.Add(-time.Minute), before.Add(-time.Second)), false},
	} {
		found, err := api.FindMarked(ctx, ch, tt.m, tt.window[0], tt.window[1])
		if err != nil || found != tt.want {
			t.Errorf("%s: FindMarked = %v, %v; want %v", tt.what, found, err, tt.want)
		}
	}
	c := emu.Calls("conversations.history")
	if p := c[0].Params; p.Get("include_all_metadata") != "1" || p.Get("oldest") == "" || p.Get("latest") == "" || p.Get("inclusive") != "1" {
		t.Errorf("history read with %v", p)
	}

	// Only the bot's own messages count.
	api.setBotID("B0THER")
	if found, err := api.FindMarked(ctx, ch, m, around[0], around[1]); found || err != nil {
		t.Errorf("another bot's message taken for the bot's: %v, %v", found, err)
	}
	api.setBotID(emu.BotID())

	// Behind a busy stretch, with Slack's 2025 page cap and a rate limit
	// of one read a second: the later pages wait out the limit.
	for i := range 20 {
		if _, err := api.Post(ctx, ch, fmt.Sprintf("busy %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	emu.SetHistoryPageCap(15)
	emu.SetMethodLimit("conversations.history", 1, time.Second)
	time.Sleep(1100 * time.Millisecond)
	reads := len(emu.Calls("conversations.history"))
	found, err := api.FindMarked(ctx, ch, m, around[0], time.Now().Add(time.Second))
	if !found || err != nil {
		t.Errorf("behind 20 messages: FindMarked = %v, %v", found, err)
	}
	ok := 0
	for _, c := range emu.Calls("conversations.history")[reads:] {
		if c.Status == 200 {
			ok++
		}
	}
	if ok != 2 {
		t.Errorf("%d pages read, want 2", ok)
	}

	// A stretch longer than one look reads (here, a message a page): the
	// error says so, for the caller to stop looking.
	emu.SetMethodLimit("conversations.history", 0, 0)
	emu.SetHistoryPageCap(1)
	if found, err := api.FindMarked(ctx, ch, m, around[0], time.Now().Add(time.Second)); found || !errors.Is(err, commands.ErrTooMuchHistory) ||
		incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Errorf("behind 20 messages read one a page: FindMarked = %v, %v; want ErrTooMuchHistory", found, err)
	}
	emu.SetHistoryPageCap(15)

	// Scheduled work gets a rate limit back at once, with its Retry-After.
	emu.SetMethodLimit("conversations.history", 1, time.Minute)
	limited := &slackAPI{api: api.noWait}
	limited.FindMarked(ctx, ch, m, around[0], around[1])
	_, err = limited.FindMarked(ctx, ch, m, around[0], around[1])
	if incidentbot.ErrorCode(err) != incidentbot.EUnavailable || incidentbot.RetryAfter(err) <= 0 {
		t.Errorf("rate limited: %v, want EUnavailable with a Retry-After", err)
	}
	emu.SetMethodLimit("conversations.history", 0, 0)

	// A channel gone is EGone.
	if _, err := api.FindMarked(ctx, "C0NONE", m, around[0], around[1]); incidentbot.ErrorCode(err) != incidentbot.EGone {
		t.Errorf("a channel that does not exist: %v, want EGone", err)
	}
}

// TestRemindCrashSettled: a reminder's post slowed by Slack, whose poster
// goes away while Slack still carries it out (the context ends, as when
// the process dies or loses its lease), is found by the next process in
// the channel's history and recorded once, not posted again; the real
// store, the real Slack calls, the emulator.
func TestRemindCrashSettled(t *testing.T) {
	emu, ch, api := markedEmu(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "remind.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opened := time.Now().Add(-2 * time.Hour)
	inc, _, err := db.CreateIncident(context.Background(), &incidentbot.Incident{Title: "Checkout down", Severity: incidentbot.Sev2,
		Status: incidentbot.StatusInvestigating, Declarer: "U1", ChannelID: ch, OpenedAt: opened, LastUpdateAt: opened}, "")
	if err != nil {
		t.Fatal(err)
	}
	const settle = 800 * time.Millisecond
	service := func() *commands.Service {
		return commands.New(db, commands.Config{UpdateInterval: time.Hour, ReminderSettle: settle}, commands.SlackDeps(api))
	}
	reminders := func() int {
		n := 0
		for _, m := range emu.Messages(ch) {
			if strings.Contains(m.Text, ":alarm_clock:") {
				n++
			}
		}
		return n
	}

	emu.SetLatency("chat.postMessage", 300*time.Millisecond)
	ctx, die := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service().Remind(ctx, inc.ID) }()
	for deadline := time.Now().Add(5 * time.Second); len(emu.Pending("chat.postMessage")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reminder's post never reached Slack")
		}
	}
	die()
	if err := <-done; incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Fatalf("Remind = %v, want EUnavailable (the answer never came)", err)
	}
	for deadline := time.Now().Add(5 * time.Second); reminders() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Slack did not carry out the post")
		}
	}
	emu.SetLatency("chat.postMessage", 0)
	got, _ := db.Incident(context.Background(), inc.ID)
	attempt := got.ReminderAttempt
	if attempt.IsZero() || !got.LastReminderAt.IsZero() {
		t.Fatalf("after the crash: attempt %v, last reminder %v", attempt, got.LastReminderAt)
	}

	next := service()
	if err := next.Remind(context.Background(), inc.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.Calls("conversations.history")); n != 0 {
		t.Errorf("%d history reads before the attempt settled", n)
	}
	time.Sleep(time.Until(attempt.Add(settle)))
	if err := next.Remind(context.Background(), inc.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Incident(context.Background(), inc.ID)
	if reminders() != 1 || !got.LastReminderAt.Equal(attempt) || !got.ReminderAttempt.IsZero() {
		t.Errorf("%d reminders in the channel; last reminder %v, attempt %v; want 1, %v, none", reminders(), got.LastReminderAt, got.ReminderAttempt, attempt)
	}
	if n := len(emu.Calls("conversations.history")); n != 1 {
		t.Errorf("%d history reads, want 1", n)
	}
	events := 0
	db.Events(context.Background(), inc.ID, func(e *incidentbot.TimelineEvent) error {
		if e.Kind == incidentbot.EventReminder {
			events++
			if !e.At.Equal(attempt) {
				t.Errorf("reminder recorded at %v, want the attempt's %v", e.At, attempt)
			}
		}
		return nil
	})
	if events != 1 {
		t.Errorf("%d reminder events, want 1", events)
	}
}

// TestPostMarkedSentOnce: a marked post that Slack answers with a 5xx is
// not sent again by slack-go (a post Slack carried out before failing
// would be doubled; its outcome is settled from history instead): one
// call, EUnavailable; a plain post is retried as before.
func TestPostMarkedSentOnce(t *testing.T) {
	emu, ch, api := markedEmu(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := commands.Marker{Kind: "incidentbot_reminder", Fields: map[string]string{"incident": "INC-1", "attempt": "a"}}
	emu.FailNext("chat.postMessage", 1, 503, 0)
	before := len(emu.Calls("chat.postMessage"))
	_, err := api.PostMarked(ctx, ch, "reminder", m)
	if incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Errorf("marked post answered 503: %v, want EUnavailable", err)
	}
	if n := len(emu.Calls("chat.postMessage")) - before; n != 1 {
		t.Errorf("marked post answered 503 was sent %d times, want once", n)
	}
	emu.FailNext("chat.postMessage", 1, 503, 0)
	before = len(emu.Calls("chat.postMessage"))
	if _, err := api.Post(ctx, ch, "plain"); err != nil {
		t.Errorf("plain post after one 503: %v (retried, it should go through)", err)
	}
	if n := len(emu.Calls("chat.postMessage")) - before; n != 2 {
		t.Errorf("plain post answered 503 once was sent %d times, want twice", n)
	}
}
