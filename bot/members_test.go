package bot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestMemberCache: a channel's members are read from Slack once, however
// many ask at the same time; joins and leaves keep them current without
// another read; a channel Slack will not tell about (the bot is not in it)
// is not cached, and is asked about again; forgetting a channel reads it
// afresh.
func TestMemberCache(t *testing.T) {
	emu, err := slackemu.New(slackemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	alice := emu.AddUser(slackemu.User{Name: "alice"}).ID
	bob := emu.AddUser(slackemu.User{Name: "bob"}).ID
	secret := emu.CreatePrivateChannel("secret", alice, emu.BotUserID())
	other := emu.CreatePrivateChannel("other", alice)
	cfg := emu.Config()
	api := &slackAPI{api: newSlackClient(cfg.BotToken, cfg.AppToken, emu.URL(), newSlackHTTP(5*time.Second, nil), retryWaiting)}
	m := newMemberCache(api.channelMembers)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reads := func(ch string) int {
		n := 0
		for _, c := range emu.Calls("conversations.members") {
			if c.Params.Get("channel") == ch {
				n++
			}
		}
		return n
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ok, err := m.IsMember(ctx, secret, alice); !ok || err != nil {
				t.Errorf("alice in secret: %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if n := reads(secret); n != 1 {
		t.Errorf("%d reads of secret's members, want 1", n)
	}
	m.changed(secret, bob, true)
	m.changed(secret, alice, false)
	for user, want := range map[string]bool{alice: false, bob: true} {
		if ok, err := m.IsMember(ctx, secret, user); ok != want || err != nil {
			t.Errorf("%s in secret after changes: %v, %v; want %v", user, ok, err, want)
		}
	}
	if n := reads(secret); n != 1 {
		t.Errorf("%d reads of secret's members after changes, want 1", n)
	}

	for i := 1; i <= 2; i++ {
		if ok, err := m.IsMember(ctx, other, alice); ok || err == nil {
			t.Errorf("a channel the bot is not in: %v, %v; want an error", ok, err)
		}
		if n := reads(other); n != i {
			t.Errorf("%d reads of other's members after %d questions", n, i)
		}
	}

	m.forget(secret)
	if ok, err := m.IsMember(ctx, secret, alice); !ok || err != nil {
		t.Errorf("alice in secret, read afresh: %v, %v", ok, err)
	}
	if n := reads(secret); n != 2 {
		t.Errorf("%d reads of secret's members after forget, want 2", n)
	}
}
