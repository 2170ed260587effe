package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(url string) (int, string) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one Prometheus sample line, or -1.
func metric(body, sample string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, sample+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(sample):]), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// sumMetric sums every sample of a metric name.
func sumMetric(body, name string) float64 {
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

// TestReadinessMetricsAndBackfill: /readyz is 503 before the socket connects
// and while a stale socket is replaced, 200 otherwise; /metrics matches what
// the emulator saw; messages Slack lost while the socket was silent are
// backfilled from conversations.history after the reconnect, once.
func TestReadinessMetricsAndBackfill(t *testing.T) {
	addr := freeAddr(t)
	w := newWorld(t, slackemu.Config{PingInterval: 200 * time.Millisecond})
	w.emu.SetLatency("apps.connections.open", 1500*time.Millisecond)
	env := w.env(map[string]string{"INCIDENTBOT_HTTP_ADDR": addr, "INCIDENTBOT_SOCKET_STALE_AFTER": "1s"})
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, testWriter{t}
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := m.ParseFlags([]string{"serve"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		m.Close()
	}()
	base := "http://" + addr
	w.eventually("/healthz", func() bool { c, _ := httpGet(base + "/healthz"); return c == 200 })
	if c, body := httpGet(base + "/readyz"); c != 503 || !strings.Contains(body, "not connected") {
		t.Errorf("/readyz before connecting = %d %q", c, body)
	}
	w.eventually("ready", func() bool { c, _ := httpGet(base + "/readyz"); return c == 200 })

	c := w.openIncident(w.alice, "sev2 Login failures", "inc-1-login-failures")
	w.emu.PostMessage(w.bob, c, "before the silence")
	w.emu.FailNext("chat.postMessage", 2, 429, time.Second)
	w.cmd(w.alice, c, "status identified expired certificate")
	w.waitText(c, "expired certificate")

	// The socket goes silent and Slack loses what is said meanwhile.
	w.emu.SetLoseEvents(true)
	w.emu.SetSilent(true)
	lost := []string{
		w.emu.PostMessage(w.bob, c, "lost 1: cert expired at 09:58"),
		w.emu.PostMessage(w.carol, c, "lost 2: renewing now"),
	}
	lost = append(lost, w.emu.PostReply(w.alice, c, lost[0], "lost 3: in a thread"))
	w.eventually("/readyz 503 while reconnecting", func() bool { c, _ := httpGet(base + "/readyz"); return c == 503 })
	w.emu.SetLoseEvents(false)
	w.eventually("ready again", func() bool { c, _ := httpGet(base + "/readyz"); return c == 200 })
	w.emu.PostMessage(w.bob, c, "after the reconnect")
	w.eventually("quiet", func() bool { return w.emu.UnackedCount() == 0 })

	// Backfilled once.
	db := m.Store
	var stored map[string]int
	w.eventually("the lost messages backfilled", func() bool {
		stored = map[string]int{}
		db.Events(context.Background(), 1, func(e *incidentbot.TimelineEvent) error {
			if e.Kind == incidentbot.EventMessage {
				stored[e.TS]++
			}
			return nil
		})
		for _, ts := range lost {
			if stored[ts] == 0 {
				return false
			}
		}
		return true
	})
	for ts, n := range stored {
		if n != 1 {
			t.Errorf("message %s stored %d times", ts, n)
		}
	}
	if len(stored) != 5 {
		t.Errorf("%d messages stored, want 5", len(stored))
	}
	if w.emu.LostEvents() < 3 {
		t.Errorf("the emulator lost %d events", w.emu.LostEvents())
	}

	// Metrics match the emulator.
	var body string
	w.eventually("metrics settle", func() bool {
		_, body = httpGet(base + "/metrics")
		return sumMetric(body, "incidentbot_envelopes_acked_total") == float64(len(w.emu.AckedEnvelopes()))
	})
	if v := metric(body, `incidentbot_api_errors_total{api="slack",code="429",method="chat.postMessage"}`); v != 2 {
		t.Errorf("429 errors counted = %v, want 2\n%s", v, body)
	}
	if v := metric(body, `incidentbot_open_incidents{severity="sev2"}`); v != 1 {
		t.Errorf("open sev2 incidents = %v", v)
	}
	if v := metric(body, `incidentbot_command_seconds_count{subcommand="status"}`); v != 1 {
		t.Errorf("status commands observed = %v", v)
	}
	if v := metric(body, "incidentbot_events_stored_total"); v != 5 {
		t.Errorf("events stored = %v, want 5 (2 live, 3 backfilled)", v)
	}
	if v := sumMetric(body, "incidentbot_store_write_seconds_count"); v < 5 {
		t.Errorf("store writes observed = %v", v)
	}
	if strings.Contains(body, w.emu.Config().BotToken) || strings.Contains(body, w.emu.Config().AppToken) {
		t.Error("a token in /metrics")
	}
}

// TestSlackFaultBurst: a burst of 429s and 500s loses no captured message
// and posts every reply once.
func TestSlackFaultBurst(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev3 Flaky deploys", "inc-1-flaky-deploys")
	w.emu.FailNext("chat.postMessage", 4, 429, time.Second)
	w.emu.FailNext("chat.update", 3, 500, 0)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.cmd(w.bob, c, fmt.Sprintf("hypothesis flaky cause number %d", i))
		}()
	}
	var msgs []string
	for i := range 20 {
		msgs = append(msgs, w.emu.PostMessage(w.carol, c, fmt.Sprintf("observation %d", i)))
	}
	wg.Wait()
	for i := range 6 {
		w.waitText(c, fmt.Sprintf("flaky cause number %d", i))
	}
	w.eventually("quiet", func() bool { return w.emu.UnackedCount() == 0 })
	time.Sleep(500 * time.Millisecond)
	for i := range 6 {
		n := 0
		for _, s := range w.channelTexts(c) {
			if strings.Contains(s, fmt.Sprintf("flaky cause number %d", i)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("hypothesis %d posted %d times", i, n)
		}
	}
	bot.stop(t)
	w.storedOnce(1, msgs)
}

// TestSIGTERMDuringBurst: SIGTERM in the middle of a burst of events exits 0
// within 5s with every acknowledged event committed.
func TestSIGTERMDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	w := newWorld(t, slackemu.Config{AckTimeout: -1})
	p := w.startChild(nil)
	c := w.openIncident(w.alice, "sev2 Disk pressure", "inc-1-disk-pressure")
	tsOf := map[string]string{}
	var mu sync.Mutex
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		for i := range 300 {
			ts := w.emu.PostMessage(w.bob, c, "term burst "+strconv.Itoa(i))
			mu.Lock()
			tsOf[w.emu.LastEventID()] = ts
			mu.Unlock()
		}
	}()
	w.eventually("some acknowledged", func() bool { return len(w.emu.AckedEnvelopes()) > 60 })
	p.term(t) // exits 0 within 5s or fails
	<-posted
	mu.Lock()
	defer mu.Unlock()
	acked := 0
	db := w.openDB()
	seen := map[string]int{}
	for _, e := range timeline(t, db, 1) {
		seen[e.TS]++
	}
	for _, e := range w.emu.Events() {
		if ts, ok := tsOf[e.ID]; ok && e.Acked {
			acked++
			if seen[ts] != 1 {
				t.Errorf("acknowledged message %s stored %d times", ts, seen[ts])
			}
		}
	}
	t.Logf("%d messages acknowledged before the bot stopped", acked)
}

// TestOnlineBackup: `incidentbot backup` while serve runs and writes gives a
// valid bbolt file with every event committed before it started.
func TestOnlineBackup(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev2 Backups", "inc-1-backups")
	for i := range 50 {
		w.emu.PostMessage(w.bob, c, "before "+strconv.Itoa(i))
	}
	w.eventually("acked", func() bool { return w.emu.UnackedCount() == 0 })
	committed, err := bot.m.Store.EventCount(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				w.emu.PostMessage(w.carol, c, "during "+strconv.Itoa(i))
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	file := filepath.Join(t.TempDir(), "backup.db")
	out, err := w.runCLI("backup", file)
	close(stop)
	<-writing
	if err != nil || !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %v %s", err, out)
	}
	bot.stop(t)
	if err := store.Check(file); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(file, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, _ := db.EventCount(context.Background(), 1)
	if n < committed {
		t.Errorf("backup holds %d events, %d were committed before it started", n, committed)
	}
}

// TestManifestMatchesCode: the Slack app manifest asks for exactly the bot
// scopes of the Web API methods the bot calls in a full run (incident,
// capture, reminders, DMs, post-mortem upload, on-call look-up) and
// subscribes to exactly the events it records.
func TestManifestMatchesCode(t *testing.T) {
	pd, pdEnv := withPD(t)
	_ = pd
	w := newWorld(t, slackemu.Config{MessageShortcuts: bot.MessageShortcuts()})
	pdEnv["INCIDENTBOT_UPDATE_INTERVAL"] = "1s"
	pdEnv["INCIDENTBOT_ACTION_REMINDER_CRON"] = "@every 1s"
	var offset time.Duration
	var omu sync.Mutex
	r := w.startWith(pdEnv, func(m *Main) {
		m.Now = func() time.Time { omu.Lock(); defer omu.Unlock(); return time.Now().Add(offset) }
	})
	c := w.openIncident(w.alice, "sev1 Everything", "inc-1-everything")
	w.emu.PostMessage(w.bob, c, "hello")
	w.cmd(w.alice, c, "action Do it <@"+w.bob+"> due:+0d")
	w.cmd(w.alice, c, "postmortem")
	w.eventually("a reminder", func() bool { return len(w.reminders(c)) > 0 })
	w.eventually("the draft", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	w.eventually("carol on call", func() bool { ch, _ := w.emu.Channel(c); return contains(ch.Members, w.carol) })
	// A private incident: a private channel, invitations into it, its members.
	p := w.openIncident(w.alice, "--private sev3 Secret", "inc-2-secret")
	w.cmd(w.alice, p, "role scribe <@"+w.bob+">")
	w.eventually("bob in the private channel", func() bool { ch, _ := w.emu.Channel(p); return contains(ch.Members, w.bob) })
	w.cmd(w.carol, w.general, "list")
	w.home(w.alice)
	// The message shortcut, in an incident channel and elsewhere (the form).
	w.shortcut(w.bob, c, w.emu.PostMessage(w.bob, c, "key"))
	w.timelineForm(w.bob, w.general, w.emu.PostMessage(w.carol, w.general, "from elsewhere"))
	omu.Lock()
	offset = 48 * time.Hour
	omu.Unlock()
	w.eventually("a DM", func() bool { return len(w.emu.DMs(w.bob)) > 0 })
	r.stop(t)

	// The scope each Web API method needs (api.slack.com/methods).
	scopeOf := map[string]string{
		"auth.test": "", "apps.connections.open": "",
		"conversations.create": "channels:manage", "conversations.invite": "channels:manage",
		"conversations.join": "channels:join", "conversations.info": "channels:read",
		"conversations.history": "channels:history", "conversations.replies": "channels:history",
		"chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
		"pins.add": "pins:write", "users.info": "users:read", "users.lookupByEmail": "users:read.email",
		"files.getUploadURLExternal": "files:write", "files.completeUploadExternal": "files:write",
		"views.open": "", "views.publish": "", "conversations.members": "channels:read",
		"chat.getPermalink": "",
	}
	// The scope of a method called on a private channel, where it differs.
	privateScopeOf := map[string]string{
		"conversations.invite": "groups:write", "conversations.info": "groups:read", "conversations.members": "groups:read",
		"conversations.history": "groups:history", "conversations.replies": "groups:history",
	}
	used := map[string]bool{"commands": true, "channels:history": true, "pins:read": true, "reactions:read": true, // slash command; events
		"channels:read": true, "groups:read": true} // channel_* and member_*_channel; group_* events
	for _, call := range w.emu.Calls("") {
		if strings.HasPrefix(call.Method, "/") || call.Method == "upload" || call.Method == "response_url" {
			continue // response_url, the upload URL of files v2
		}
		scope, ok := scopeOf[call.Method]
		if !ok {
			t.Errorf("the bot calls %s, whose scope this test does not know", call.Method)
			continue
		}
		if ch, ok := w.emu.Channel(call.Params.Get("channel")); ok && ch.IsPrivate && privateScopeOf[call.Method] != "" {
			scope = privateScopeOf[call.Method]
		}
		if call.Method == "conversations.create" && call.Params.Get("is_private") == "true" {
			scope = "groups:write"
		}
		if scope != "" {
			used[scope] = true
		}
	}
	used["channels:history"] = true // conversations.history backfill after reconnects, message.channels
	used["groups:history"] = true   // the same in private incident channels, message.groups

	var manifest struct {
		Features struct {
			Shortcuts []struct {
				Type       string `yaml:"type"`
				CallbackID string `yaml:"callback_id"`
			} `yaml:"shortcuts"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				Bot []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	buf, err := readRepoFile("deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(buf, &manifest); err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	for _, s := range manifest.OAuth.Scopes.Bot {
		asked[s] = true
		if !used[s] {
			t.Errorf("the manifest asks for %s, which the bot does not use", s)
		}
	}
	for s := range used {
		if !asked[s] {
			t.Errorf("the bot needs %s, which the manifest does not ask for", s)
		}
	}
	if !manifest.Settings.SocketMode {
		t.Error("socket mode is off in the manifest")
	}
	if got, want := strings.Join(manifest.Settings.Events.Bot, ","), strings.Join(bot.EventSubscriptions(), ","); got != want {
		t.Errorf("manifest events %s, the bot records %s", got, want)
	}
	var shortcuts []string
	for _, sc := range manifest.Features.Shortcuts {
		if sc.Type == "message" {
			shortcuts = append(shortcuts, sc.CallbackID)
		}
	}
	if got, want := strings.Join(shortcuts, ","), strings.Join(bot.MessageShortcuts(), ","); got != want {
		t.Errorf("manifest message shortcuts %s, the bot handles %s", got, want)
	}
}

func readRepoFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", rel))
}
