package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// uploads returns the files shared in a channel, by name.
func (w *world) uploads(channel, name string) []slackemu.File {
	var out []slackemu.File
	for _, f := range w.emu.Files() {
		if f.Name == name && contains(f.Channels, channel) {
			out = append(out, f)
		}
	}
	return out
}

// TestPostmortemUpload: /incident postmortem and resolve upload the draft
// (files v2 flow) with a summary; a failing upload step is retried; an
// upload that keeps failing is reported to the person who asked.
func TestPostmortemUpload(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev2 Checkout <b>latency</b> | ## spike", "inc-1-checkout-b-latency-b-spike")
	w.cmd(w.alice, c, "hypothesis ``` fence and <!channel>")
	w.cmd(w.alice, c, "hypothesis reject H1 nope")
	w.cmd(w.alice, c, "action Fix it")

	w.emu.FailNext("files.completeUploadExternal", 1, 500, 0)
	if r := w.cmd(w.bob, c, "postmortem"); !strings.Contains(r, "INC-1-postmortem.md") {
		t.Fatalf("postmortem reply = %q", r)
	}
	w.eventually("the draft uploaded", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	draft := string(w.uploads(c, "INC-1-postmortem.md")[0].Content)
	for _, s := range []string{"# INC-1:", "## Hypotheses", "rejected", "## Action items", "⚠ no owner", "## Detection gap", "## Appendix"} {
		if !strings.Contains(draft, s) {
			t.Errorf("draft lacks %q", s)
		}
	}
	if strings.Contains(draft, "\n## spike") || strings.Contains(draft, "<b>") || strings.Contains(draft, "\n```") {
		t.Errorf("user text broke the document:\n%s", draft)
	}
	w.waitText(c, "Post-mortem draft for INC-1")

	// Resolve uploads the final draft.
	w.cmd(w.alice, c, "resolve Fixed")
	w.eventually("the resolved draft", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 2 })
	final := string(w.uploads(c, "INC-1-postmortem.md")[1].Content)
	if !strings.Contains(final, "resolved") || !strings.Contains(final, "Follow-up review") {
		t.Errorf("final draft:\n%s", final)
	}

	// Slack refuses every upload: the caller is told, nothing is lost.
	w.emu.FailNext("files.getUploadURLExternal", 100, 500, 0)
	res, err := w.emu.SlashCommand(context.Background(), w.carol, c, "postmortem")
	if err != nil {
		t.Fatal(err)
	}
	w.eventuallyFor(60*time.Second, "the failure told to the caller", func() bool {
		for _, e := range w.emu.Ephemerals(c, w.carol) {
			if strings.Contains(e, "not everything could be done") && strings.Contains(e, "files.upload") {
				return true
			}
		}
		return false
	})
	_ = res
	bot.stop(t)
	evs := timeline(t, w.openDB(), 1)
	if n := countKind(evs, incidentbot.EventPostmortem); n != 2 {
		t.Errorf("%d post-mortem uploads recorded, want 2", n)
	}
}

// TestCustomTemplate: INCIDENTBOT_POSTMORTEM_TEMPLATE replaces the draft; a
// broken template stops serve at start-up with the template's error and line.
func TestCustomTemplate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tmpl")
	os.WriteFile(good, []byte("# {{.ID}} — {{.Title}}\n{{range .Hypotheses}}- {{.Key}} {{.Outcome}}\n{{end}}"), 0o600)
	w := newWorld(t, slackemu.Config{})
	bot := w.start(map[string]string{"INCIDENTBOT_POSTMORTEM_TEMPLATE": good})
	c := w.openIncident(w.alice, "Cache stampede", "inc-1-cache-stampede")
	w.cmd(w.alice, c, "hypothesis TTLs aligned")
	w.cmd(w.alice, c, "postmortem")
	w.eventually("the custom draft", func() bool { return len(w.uploads(c, "INC-1-postmortem.md")) == 1 })
	if got := string(w.uploads(c, "INC-1-postmortem.md")[0].Content); !strings.HasPrefix(got, "# INC-1 — Cache stampede\n- H1 open") {
		t.Errorf("custom draft = %q", got)
	}
	bot.stop(t)

	bad := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(bad, []byte("# {{.Title}}\n\n{{.NoSuchField}}\n"), 0o600)
	m := NewMain()
	m.Stdout, m.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
	env := w.env(map[string]string{"INCIDENTBOT_POSTMORTEM_TEMPLATE": bad})
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := m.ParseFlags([]string{"serve"}); err != nil {
		t.Fatal(err)
	}
	before := len(w.emu.Calls("apps.connections.open"))
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "bad.tmpl:3") || !strings.Contains(err.Error(), "NoSuchField") || exitCode(err) != 2 {
		t.Errorf("broken template: %v", err)
	}
	if len(w.emu.Calls("apps.connections.open")) != before {
		t.Error("serve connected to Slack with a broken template")
	}
}

// runCLI runs one incidentbot subcommand on the world's database.
func (w *world) runCLI(args ...string) (string, error) {
	var out bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, testWriter{w.t}
	env := w.env(nil)
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := m.ParseFlags(args)
	if err == nil {
		err = m.Run(context.Background())
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return out.String(), err
}

// TestExportAndList: export and list work while serve runs (through its
// local socket, without blocking it) and after it stopped (read-only open),
// with the same bytes; flags may come before or after the id.
func TestExportAndList(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev1 Payments down", "inc-1-payments-down")
	w.cmd(w.alice, c, "role commander me")
	w.openIncident(w.bob, "Slow search", "inc-2-slow-search")
	w.emu.PostMessage(w.bob, c, "card processor returns 502")
	w.eventually("acked", func() bool { return w.emu.UnackedCount() == 0 })

	live, err := w.runCLI("export", "INC-1")
	if err != nil || !strings.HasPrefix(live, "# INC-1: Payments down") || !strings.Contains(live, "card processor returns 502") {
		t.Fatalf("export while serving: %v\n%s", err, live)
	}
	out := filepath.Join(t.TempDir(), "inc1.json")
	if _, err := w.runCLI("export", "--format", "json", "inc-1", "-o", out); err != nil {
		t.Fatal(err)
	}
	var rec incidentbot.Record
	buf, _ := os.ReadFile(out)
	if err := json.Unmarshal(buf, &rec); err != nil || rec.Incident.Title != "Payments down" || len(rec.Events) < 3 || rec.Users[w.alice].Name == "" {
		t.Errorf("json export: %v %+v", err, rec.Incident)
	}
	// serve is not blocked: a command right after is answered quickly.
	start := time.Now()
	w.cmd(w.alice, c, "status identified processor outage")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a command during export took %v", d)
	}
	list, err := w.runCLI("list")
	if err != nil || !strings.Contains(list, "INC-1") || !strings.Contains(list, "INC-2") || !strings.Contains(list, "Alice") || !strings.Contains(list, "sev1") {
		t.Errorf("list while serving: %v\n%s", err, list)
	}
	w.cmd(w.bob, w.general, "help") // the bot still answers
	w.cmd(w.alice, c, "resolve")
	w.eventually("resolved", func() bool { return strings.Contains(strings.Join(w.channelTexts(c), "\n"), "INC-1 resolved") })
	if l, _ := w.runCLI("list"); strings.Contains(l, "INC-1") {
		t.Errorf("list shows a resolved incident without --all:\n%s", l)
	}
	if l, _ := w.runCLI("list", "--all"); !strings.Contains(l, "INC-1") || !strings.Contains(l, "(resolved)") {
		t.Errorf("list --all:\n%s", l)
	}
	var served string
	w.eventually("the resolve's draft recorded", func() bool {
		served, _ = w.runCLI("export", "INC-1")
		return strings.Contains(served, "Post-mortem draft posted")
	})
	bot.stop(t)

	offline, err := w.runCLI("export", "INC-1", "--format", "markdown")
	if err != nil || offline != served {
		t.Errorf("export without serve differs from export through serve (%v)", err)
	}
	if _, err := w.runCLI("export", "INC-9"); err == nil || !strings.Contains(err.Error(), "INC-9") {
		t.Errorf("unknown incident: %v", err)
	}
	if _, err := w.runCLI("export", "nine"); err == nil || exitCode(err) != 2 {
		t.Errorf("bad id: %v", err)
	}
	if _, err := w.runCLI("export", "INC-1", "--format", "pdf"); err == nil || exitCode(err) != 2 {
		t.Errorf("bad format: %v", err)
	}
}
