package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pagerdutyemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/slacktext"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// demo runs one scripted incident through serve's wiring (runBot), pointed
// at the in-process Slack and PagerDuty emulators and a database in a
// temporary directory, and prints what each participant sees, then the
// recorded timeline; the post-mortem draft goes to the -o directory. The
// rest of the configuration (--config, environment, flags) applies.
func (m *Main) demo(ctx context.Context) error {
	if err := os.MkdirAll(m.opts.out, 0o755); err != nil {
		return fmt.Errorf("demo: the post-mortem directory: %w", err)
	}
	emu, err := slackemu.New(slackemu.Config{})
	if err != nil {
		return fmt.Errorf("demo: start the Slack emulator: %w", err)
	}
	defer emu.Close()
	const routingKey, pdToken, policy = "DEMO0R0UT1NGKEY0123456789ABCDEFG", "demo-pagerduty-token", "EPDEMO"
	pd, err := pagerdutyemu.New(pagerdutyemu.Config{RoutingKeys: []string{routingKey}, Token: pdToken})
	if err != nil {
		return fmt.Errorf("demo: start the PagerDuty emulator: %w", err)
	}
	defer pd.Close()
	dir, err := os.MkdirTemp("", "incidentbot-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	d := &demoRun{emu: emu, w: m.Stdout, names: map[string]string{}}
	alice := d.user("alice", "Alice (on call)")
	bob := d.user("bob", "Bob (database)")
	carol := d.user("carol", "Carol (support)")
	d.names[emu.BotUserID()] = "incidentbot"
	general := emu.CreateChannel("general", alice, bob, carol)
	announce := emu.CreateChannel("incidents", alice, bob, carol)
	pd.SetOnCall(policy, pagerdutyemu.User{ID: "PDEMO1", Name: "Alice (on call)", Email: "alice@example.com", Level: 1})

	cfg := &m.Config
	cfg.BotToken, cfg.AppToken, cfg.SlackAPIURL = emu.Config().BotToken, emu.Config().AppToken, emu.URL()
	cfg.PDRoutingKey, cfg.PDToken, cfg.PDEscalationPolicy, cfg.PDAPIURL, cfg.PDEventsURL = routingKey, pdToken, policy, pd.URL(), pd.URL()
	cfg.DB, cfg.HTTPAddr, cfg.AnnounceChannel = filepath.Join(dir, "demo.db"), "", announce
	m.Logger.Out = io.Discard // the transcript is the output
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.runBot(runCtx) }()
	defer func() { stop(); <-done }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := emu.WaitConnected(wctx, 1); err != nil {
		return fmt.Errorf("demo: the bot did not connect to the emulator: %w", err)
	}

	fmt.Fprintln(d.w, "incidentbot demo — a scripted incident against the built-in Slack emulator (no Slack workspace, no token).")
	fmt.Fprintln(d.w, "Lines show who sees what: #channel lines are seen by its members, [only X] lines by X alone.")

	d.step("Alice declares an incident from #general", func() { d.cmd(alice, general, "open sev2 Checkout latency spike") })
	ch, ok := emu.ChannelByName("inc-1-checkout-latency-spike")
	if !ok {
		return fmt.Errorf("demo: the incident channel was not created")
	}
	c := ch.ID
	var first, reply string
	d.step("Alice takes command and asks Bob to run ops", func() {
		d.cmd(alice, c, "role commander me")
		d.cmd(alice, c, "role ops <@"+bob+"|bob>")
		d.cmd(alice, c, "started "+time.Now().UTC().Add(-12*time.Minute).Format("15:04"))
	})
	d.step("The responders talk; Bob corrects himself; Carol marks a key message", func() {
		first = emu.PostMessage(bob, c, "p99 on /checkout is 9s, errors are timeouts to db-3")
		reply = emu.PostReply(carol, c, first, "Support has 40 tickets about slow checkout")
		emu.EditMessage(bob, c, first, "p99 on /checkout is 9s, errors are pool timeouts to db-3")
		emu.AddReaction(carol, c, first, "pushpin")
	})
	d.step("Hypotheses: one wrong, one right", func() {
		d.cmd(bob, c, "hypothesis The 14:00 deploy of checkout v2.3 leaks connections")
		d.cmd(alice, c, "hypothesis db-3 is failing over")
		d.cmd(bob, c, "hypothesis reject H2 db-3 is healthy, no failover in its logs")
		d.cmd(bob, c, "hypothesis confirm H1 pool stays at max after the deploy; leak in the retry path")
	})
	d.step("Status updates, severity, mitigation", func() {
		d.cmd(alice, c, "status identified Connection leak in checkout v2.3; rolling back")
		d.cmd(alice, c, "severity sev1")
		emu.PinMessage(alice, c, reply)
		d.cmd(alice, c, "status monitoring Rolled back to v2.2; p99 back to 300ms")
	})
	d.step("Action items, then resolve", func() {
		d.cmd(alice, c, "action Alert on connection pool saturation <@"+bob+"> due:+7d")
		d.cmd(alice, c, "action Add a leak test to the checkout CI")
		d.cmd(alice, c, "resolve Rolled back checkout v2.3; the retry path leaked DB connections")
	})
	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	done <- nil
	if err := d.printTimeline(ctx, m.Store); err != nil {
		return err
	}
	name, content, err := templates.Drafts{Source: m.Store, Template: m.pm}.Draft(ctx, 1)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(m.opts.out, name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("demo: write the post-mortem: %w", err)
	}
	fmt.Fprintf(d.w, "\n== The post-mortem draft (also uploaded to the channel) is in %s\n", path)
	return nil
}

// demoRun prints the emulator's activity as a transcript.
type demoRun struct {
	emu   *slackemu.Server
	w     io.Writer
	names map[string]string
	seen  int
}

func (d *demoRun) user(handle, name string) string {
	id := d.emu.AddUser(slackemu.User{Name: handle, DisplayName: name, RealName: name, Email: handle + "@example.com"}).ID
	d.names[id] = name
	return id
}

func (d *demoRun) cmd(user, channel, text string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Fprintf(d.w, "  %s types: /incident %s\n", d.names[user], text)
	if _, err := d.emu.SlashCommand(ctx, user, channel, text); err != nil {
		fmt.Fprintf(d.w, "  (the command failed: %v)\n", err)
	}
	d.settle()
	d.flush()
}

// step runs fn and prints what it caused.
func (d *demoRun) step(title string, fn func()) {
	fmt.Fprintf(d.w, "\n== %s\n", title)
	fn()
	d.settle()
	d.flush()
}

// settle waits until the bot has acknowledged everything and the workspace
// has been quiet for a moment.
func (d *demoRun) settle() {
	deadline := time.Now().Add(5 * time.Second)
	last, quiet := -1, 0
	for time.Now().Before(deadline) && quiet < 4 {
		n := len(d.emu.Activity(0))
		if n == last && d.emu.UnackedCount() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		last = n
		time.Sleep(25 * time.Millisecond)
	}
}

func (d *demoRun) flush() {
	acts := d.emu.Activity(d.seen)
	d.seen += len(acts)
	for _, a := range acts {
		where := "#" + a.Name
		if a.Name == "" {
			where = "DM"
		}
		who := d.names[a.User]
		if who == "" {
			who = a.User
		}
		text := strings.ReplaceAll(d.readable(strings.TrimSpace(a.Text)), "\n", "\n      ")
		switch a.Kind {
		case "ephemeral":
			fmt.Fprintf(d.w, "  [only %s] %s: %s\n", d.names[a.To], who, text)
		case "view":
			fmt.Fprintf(d.w, "  [only %s] a form opens: %s\n", d.names[a.To], text)
		case "reaction":
			fmt.Fprintf(d.w, "  %s  %s reacts :%s:\n", where, who, text)
		case "pin":
			fmt.Fprintf(d.w, "  %s  %s pins a message\n", where, who)
		case "edit":
			fmt.Fprintf(d.w, "  %s  %s edits: %s\n", where, who, text)
		case "delete":
			fmt.Fprintf(d.w, "  %s  a message is deleted\n", where)
		default:
			if len(a.Files) > 0 {
				text += " [files: " + strings.Join(a.Files, ", ") + "]"
			}
			if a.ThreadTS != "" && a.ThreadTS != a.TS {
				where += " (thread)"
			}
			fmt.Fprintf(d.w, "  %s  %s: %s\n", where, who, text)
		}
	}
}

// readable shows Slack markup as a person sees it: <@U1|x> as @Name and
// <#C1> as #channel.
func (d *demoRun) readable(s string) string {
	return slacktext.PlainText(s, slacktext.Names{
		User:    func(id string) string { return d.names[id] },
		Channel: func(id string) string { ch, _ := d.emu.Channel(id); return ch.Name },
	})
}

func (d *demoRun) printTimeline(ctx context.Context, db *store.DB) error {
	fmt.Fprintln(d.w, "\n== The timeline recorded in the database (bbolt), in Slack time order")
	var evs []incidentbot.TimelineEvent
	if err := db.Events(ctx, 1, func(e *incidentbot.TimelineEvent) error {
		evs = append(evs, *e)
		return nil
	}); err != nil {
		return err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	for _, e := range evs {
		who := d.names[e.Actor]
		if who == "" {
			who = "incidentbot"
		}
		detail := e.Text
		switch {
		case e.PrevText != "" && e.Kind == incidentbot.EventEdited:
			detail = fmt.Sprintf("%q (was %q)", e.Text, e.PrevText)
		case e.Kind == incidentbot.EventRole:
			detail = e.Ref + " → <@" + e.To + ">"
		case e.Ref != "" && e.To != "":
			detail = strings.TrimSpace(e.Ref + " " + e.To + " " + e.Text)
		case e.Ref != "":
			detail = strings.TrimSpace(e.Ref + " " + e.Text)
		case e.To != "" && detail == "":
			detail = e.To
		}
		fmt.Fprintf(d.w, "  %s  %-20s %-16s %s\n", e.At.UTC().Format("15:04:05"), e.Kind, who, d.readable(strings.ReplaceAll(detail, "\n", " ")))
	}
	return nil
}
