package bot

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// faultyStore is the real store, except that looking up one channel panics:
// a stand-in for any bug in a handler.
type faultyStore struct {
	*store.DB
	boom string
}

func (s faultyStore) IncidentByChannel(ctx context.Context, channel string) (*incidentbot.Incident, error) {
	if channel == s.boom {
		panic("boom")
	}
	return s.DB.IncidentByChannel(ctx, channel)
}

// TestPanicAnswersTheUser: a panic in a command handler is recovered, the
// user gets an answer instead of Slack's timeout, and the bot keeps serving.
func TestPanicAnswersTheUser(t *testing.T) {
	emu, err := slackemu.New(slackemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	alice := emu.AddUser(slackemu.User{Name: "alice"}).ID
	boom := emu.CreateChannel("boom", alice)
	general := emu.CreateChannel("general", alice)
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, err := New(Config{BotToken: emu.Config().BotToken, AppToken: emu.Config().AppToken, APIURL: emu.URL()}, faultyStore{db, boom})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := emu.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
	res, err := emu.SlashCommand(wctx, alice, boom, "status identified it")
	if err != nil || !strings.Contains(res.AckText, "internal error") || res.TimedOut {
		t.Fatalf("after a panic: %+v, %v", res, err)
	}
	res, err = emu.SlashCommand(wctx, alice, general, "list")
	if err != nil || !strings.Contains(res.AckText, "No open incidents") {
		t.Fatalf("the bot stopped serving after a panic: %+v, %v", res, err)
	}
}
