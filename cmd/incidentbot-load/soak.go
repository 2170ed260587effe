package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// soak is the long crash-safety run of the tool: the bot process is
// SIGKILLed at random points of a continuous message burst, kills times,
// and restarted; at the end every acknowledged message must be stored
// exactly once, every message at all (Slack's redelivery and the backfill),
// and the database must open cleanly.
func (b *benchRun) soak(ctx context.Context, kills int) error {
	emu, err := slackemu.New(slackemu.Config{AckTimeout: 500 * time.Millisecond, PingInterval: 5 * time.Second})
	if err != nil {
		return err
	}
	b.emu = emu
	alice := emu.AddUser(slackemu.User{Name: "alice"}).ID
	general := emu.CreateChannel("general", alice)
	dbPath := filepath.Join(b.dir, "soak.db")
	p, _, err := b.startServe(dbPath)
	if err != nil {
		return err
	}
	if _, err := emu.SlashCommand(ctx, alice, general, "open sev1 Soak"); err != nil {
		return err
	}
	var channel string
	if err := waitFor(10*time.Second, func() bool {
		ch, ok := emu.ChannelByName("inc-1-soak")
		channel = ch.ID
		return ok && len(ch.Pins) == 1
	}); err != nil {
		return err
	}
	var mu sync.Mutex
	tsOf := map[string]string{}
	stop := make(chan struct{})
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			ts := emu.PostMessage(alice, channel, "soak message "+strconv.Itoa(i))
			tsOf[emu.LastEventID()] = ts
			mu.Unlock()
			time.Sleep(time.Duration(1+rand.IntN(4)) * time.Millisecond)
		}
	}()
	acked := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]bool{}
		for _, e := range emu.Events() {
			if ts, ok := tsOf[e.ID]; ok && e.Acked {
				out[ts] = true
			}
		}
		return out
	}
	for k := range kills {
		want := len(acked()) + 5 + rand.IntN(60)
		if err := waitFor(time.Minute, func() bool { time.Sleep(40 * time.Millisecond); return len(acked()) >= want }); err != nil {
			return fmt.Errorf("kill %d: no progress", k+1)
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
		_ = waitFor(10*time.Second, func() bool { return emu.Connections() == 0 })
		if p, _, err = b.startServe(dbPath); err != nil {
			return fmt.Errorf("restart %d: %w", k+1, err)
		}
		if (k+1)%10 == 0 {
			b.logf("  %d kills", k+1)
		}
	}
	close(stop)
	<-posted
	time.Sleep(2 * time.Second)
	if err := p.stop(); err != nil {
		return err
	}
	// A last start backfills what Slack gave up redelivering.
	if p, _, err = b.startServe(dbPath); err != nil {
		return err
	}
	mu.Lock()
	n := len(tsOf)
	mu.Unlock()
	_ = waitFor(time.Minute, func() bool { return emu.UnackedCount() == 0 })
	time.Sleep(2 * time.Second)
	if err := p.stop(); err != nil {
		return err
	}
	if err := store.Check(dbPath); err != nil {
		return fmt.Errorf("after %d kills: %w", kills, err)
	}
	db, err := store.Open(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("the database does not open after %d kills: %w", kills, err)
	}
	defer db.Close()
	seen := map[string]int{}
	if err := db.Events(ctx, 1, func(e *incidentbot.TimelineEvent) error {
		if e.Kind == incidentbot.EventMessage && strings.HasPrefix(e.Text, "soak message") {
			seen[e.TS]++
		}
		return nil
	}); err != nil {
		return err
	}
	var problems []string
	ackedSet := acked()
	for ts := range ackedSet {
		if seen[ts] != 1 {
			problems = append(problems, fmt.Sprintf("acknowledged message %s stored %d times", ts, seen[ts]))
		}
	}
	for ts, c := range seen {
		if c != 1 {
			problems = append(problems, fmt.Sprintf("message %s stored %d times", ts, c))
		}
	}
	if len(seen) != n {
		problems = append(problems, fmt.Sprintf("%d of %d messages stored", len(seen), n))
	}
	b.logf("soak: %d kills, %d messages, %d acknowledged before their kill or the end, %d stored", kills, n, len(ackedSet), len(seen))
	if len(problems) > 0 {
		out, _ := json.Marshal(problems[:min(len(problems), 10)])
		return fmt.Errorf("soak: %d problems: %s", len(problems), out)
	}
	b.logf("soak: no loss, no duplicate, the database opens cleanly")
	return nil
}
