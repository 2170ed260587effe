package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// mountTmpfs mounts a tmpfs of size at dir, or skips the test where that is
// not allowed (not root, no mount namespace): a real disk that can fill up
// and turn read-only.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill up (%v: %s); the disk fault test needs root", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// TestDiskFaults: with the database's disk full, events are
// not acknowledged (Slack delivers them again), /readyz fails, the channel is
// told; when the disk recovers the redelivered events are stored, once.
// It fills a real tmpfs, which needs mount rights; TestDiskFaultsSizeCap
// runs the same everywhere with the store's size cap.
func TestDiskFaults(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	mountTmpfs(t, disk, "16m")
	ballast := filepath.Join(disk, "ballast")
	diskFaults(t, filepath.Join(disk, "incidentbot.db"), nil, func() {
		// Fill the disk with ballast until it refuses more. (A read-only
		// remount is refused while bbolt holds the file open for writing;
		// store's own tests cover a read-only file descriptor.)
		f, err := os.Create(ballast)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		f.Close()
	}, func() { os.Remove(ballast) })
}

// TestDiskFaultsSizeCap is TestDiskFaults without root: the store's size
// cap (store.Options.MaxSize, set through Main.TuneStore) fills the disk and
// lifting it frees it.
func TestDiskFaultsSizeCap(t *testing.T) {
	var limit atomic.Int64
	tune := func(m *Main) {
		m.TuneStore = func(o *store.Options) { o.MaxSize = func() int { return int(limit.Load()) } }
	}
	diskFaults(t, "", tune, func() { limit.Store(1) }, func() { limit.Store(0) })
}

// diskFaults runs the bot on the database at dbPath ("" for the world's
// own), fills its disk with fill, checks that the fault is loud and nothing
// is acknowledged unstored, then frees the disk with free and checks that
// the redelivered events are stored, once.
func diskFaults(t *testing.T, dbPath string, setup func(*Main), fill, free func()) {
	w := newWorld(t, slackemu.Config{AckTimeout: 400 * time.Millisecond})
	if dbPath != "" {
		w.dbPath = dbPath
	}
	addr := freeAddr(t)
	bot := w.startWith(map[string]string{"INCIDENTBOT_HTTP_ADDR": addr}, setup)
	c := w.openIncident(w.alice, "sev2 Storage", "inc-1-storage")
	var msgs []string
	msgs = append(msgs, w.emu.PostMessage(w.bob, c, "before the fault"))
	w.eventually("acked", func() bool { return w.emu.UnackedCount() == 0 })

	fill()
	// bbolt writes into pages its file already has as long as its free
	// list holds enough (a full disk refuses only new blocks): messages
	// are posted until the store needs more and the channel is told.
	told := func() bool {
		return slices.ContainsFunc(w.channelTexts(c), func(s string) bool { return strings.Contains(s, "cannot write to its database") })
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !told(); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the channel was not told after %d messages posted during the fault", i)
		}
		if i < 200 {
			msgs = append(msgs, w.emu.PostMessage(w.bob, c, fmt.Sprintf("during the fault %d %s", i, strings.Repeat("x", 2000))))
		}
		time.Sleep(20 * time.Millisecond)
		if told() {
			t.Logf("the channel was told after %d messages posted during the fault", i+1)
		}
	}
	w.eventually("/readyz 503", func() bool { code, _ := httpGet("http://" + addr + "/readyz"); return code == 503 })
	time.Sleep(500 * time.Millisecond)
	if w.emu.UnackedCount() == 0 {
		t.Error("events were acknowledged without being stored")
	}
	free()
	w.eventually("redelivered and stored after the disk recovered", func() bool { return w.emu.UnackedCount() == 0 })
	w.eventually("/readyz 200", func() bool { code, _ := httpGet("http://" + addr + "/readyz"); return code == 200 })
	bot.stop(t)
	w.storedOnce(1, msgs)
}

// TestSlowAndFailingSlack: Slack answering slower than the bot's timeout, a
// storm of 429s and a socket dropped in the middle of a burst: commands are
// still acknowledged at once (nothing slow happens before the ack), the
// caller is told what could not be posted, and every message is stored once.
func TestSlowAndFailingSlack(t *testing.T) {
	w := newWorld(t, slackemu.Config{AckTimeout: 400 * time.Millisecond})
	bot := w.startWith(nil, func(m *Main) {
		m.TuneBot = func(c *bot.Config) { c.HTTPTimeout = 300 * time.Millisecond }
	})
	c := w.openIncident(w.alice, "sev2 Slow Slack", "inc-1-slow-slack")

	// Slower than the timeout: the ack is immediate, the post is retried,
	// then the caller hears that it could not be done.
	w.emu.SetLatency("chat.postMessage", time.Second)
	start := time.Now()
	res, err := w.emu.SlashCommand(t.Context(), w.alice, c, "status identified slow slack")
	if err != nil || !strings.Contains(res.AckText, "Status update posted") || time.Since(start) > time.Second {
		t.Fatalf("ack with a slow Slack: %q %v after %v", res.AckText, err, time.Since(start))
	}
	w.eventuallyFor(60*time.Second, "the caller told", func() bool {
		for _, e := range w.emu.Ephemerals(c, w.alice) {
			if strings.Contains(e, "not everything could be done") {
				return true
			}
		}
		return false
	})
	w.emu.SetLatency("chat.postMessage", 0)

	// A 429 storm on posts, with a socket drop in the middle of a burst.
	w.emu.FailNext("chat.postMessage", 8, 429, time.Second)
	for i := range 4 {
		w.cmd(w.bob, c, "hypothesis storm "+strconv.Itoa(i))
	}
	var msgs []string
	for i := range 100 {
		if i == 50 {
			w.emu.DropSockets()
		}
		msgs = append(msgs, w.emu.PostMessage(w.carol, c, "burst "+strconv.Itoa(i)))
	}
	for i := range 4 {
		w.waitText(c, "storm "+strconv.Itoa(i))
	}
	w.eventually("every message acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	bot.stop(t)
	w.storedOnce(1, msgs)
}
