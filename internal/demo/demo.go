package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/pagerdutyemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/slacktext"
)

// Events reads an incident's timeline; the store implements it.
type Events interface {
	Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error
}

// NewTranscript returns a Transcript of emu's activity written to w.
func NewTranscript(emu *slackemu.Server, w io.Writer) *Transcript {
	return &Transcript{emu: emu, w: w, names: map[string]string{emu.BotUserID(): "incidentbot"}}
}

// Cast is the workspace the scripted incident runs in.
type Cast struct {
	Alice, Bob, Carol string // user IDs
	General, Announce string // channel IDs
}

// OnCallPolicy is the PagerDuty escalation policy whose on-call (Alice) the
// demo's PagerDuty emulator knows.
const OnCallPolicy = "EPDEMO"

// Setup creates the demo's people and channels in emu, and Alice as the
// on-call of OnCallPolicy in pd.
func Setup(t *Transcript, pd *pagerdutyemu.Server) Cast {
	c := Cast{
		Alice: t.User("alice", "Alice (on call)"),
		Bob:   t.User("bob", "Bob (database)"),
		Carol: t.User("carol", "Carol (support)"),
	}
	c.General = t.emu.CreateChannel("general", c.Alice, c.Bob, c.Carol)
	c.Announce = t.emu.CreateChannel("incidents", c.Alice, c.Bob, c.Carol)
	pd.SetOnCall(OnCallPolicy, pagerdutyemu.User{ID: "PDEMO1", Name: "Alice (on call)", Email: "alice@example.com", Level: 1})
	return c
}

// Play runs the scripted incident against a bot connected to the emulator:
// declared in #general, worked, resolved. It fails when the incident channel
// was not created.
func Play(t *Transcript, cast Cast) error {
	d, emu := t, t.emu
	alice, bob, carol, general := cast.Alice, cast.Bob, cast.Carol, cast.General
	fmt.Fprintln(d.w, "incidentbot demo — a scripted incident against the built-in Slack emulator (no Slack workspace, no token).")
	fmt.Fprintln(d.w, "Lines show who sees what: #channel lines are seen by its members, [only X] lines by X alone.")
	d.Step("Alice declares an incident from #general", func() { d.Cmd(alice, general, "open sev2 Checkout latency spike") })
	ch, ok := emu.ChannelByName("inc-1-checkout-latency-spike")
	if !ok {
		return fmt.Errorf("the incident channel was not created")
	}
	c := ch.ID
	var first, reply string
	d.Step("Alice takes command and asks Bob to run ops", func() {
		d.Cmd(alice, c, "role commander me")
		d.Cmd(alice, c, "role ops <@"+bob+"|bob>")
		d.Cmd(alice, c, "started "+time.Now().UTC().Add(-12*time.Minute).Format("15:04"))
	})
	d.Step("The responders talk; Bob corrects himself; Carol marks a key message", func() {
		first = emu.PostMessage(bob, c, "p99 on /checkout is 9s, errors are timeouts to db-3")
		reply = emu.PostReply(carol, c, first, "Support has 40 tickets about slow checkout")
		emu.EditMessage(bob, c, first, "p99 on /checkout is 9s, errors are pool timeouts to db-3")
		emu.AddReaction(carol, c, first, "pushpin")
	})
	d.Step("Hypotheses: one wrong, one right", func() {
		d.Cmd(bob, c, "hypothesis The 14:00 deploy of checkout v2.3 leaks connections")
		d.Cmd(alice, c, "hypothesis db-3 is failing over")
		d.Cmd(bob, c, "hypothesis reject H2 db-3 is healthy, no failover in its logs")
		d.Cmd(bob, c, "hypothesis confirm H1 pool stays at max after the deploy; leak in the retry path")
	})
	d.Step("Status updates (the first one with the header's Post update button and its form), severity, mitigation", func() {
		trigger := d.Click(alice, c, commands.ButtonStatus, "Post update")
		d.Fill(alice, trigger, []Input{{commands.InputStatus, "identified"}, {commands.InputUpdate, "Connection leak in checkout v2.3; rolling back"}})
		d.Cmd(alice, c, "severity sev1")
		emu.PinMessage(alice, c, reply)
		d.Cmd(alice, c, "status monitoring Rolled back to v2.2; p99 back to 300ms")
	})
	d.Step("Action items, then resolve", func() {
		d.Cmd(alice, c, "action Alert on connection pool saturation <@"+bob+"> due:+7d")
		d.Cmd(alice, c, "action Add a leak test to the checkout CI")
		d.Cmd(alice, c, "resolve Rolled back checkout v2.3; the retry path leaked DB connections")
	})
	return nil
}

// Transcript prints what a Slack emulator's users see, as a transcript, and
// drives them through the emulator. Its methods report failures in the
// transcript itself, since it is for people to read.
type Transcript struct {
	emu   *slackemu.Server
	w     io.Writer
	names map[string]string
	seen  int
}

// User adds a person to the workspace and returns their user ID.
func (d *Transcript) User(handle, name string) string {
	id := d.emu.AddUser(slackemu.User{Name: handle, DisplayName: name, RealName: name, Email: handle + "@example.com"}).ID
	d.names[id] = name
	return id
}

// Cmd types /incident text as user in channel and prints what it caused.
func (d *Transcript) Cmd(user, channel, text string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Fprintf(d.w, "  %s types: /incident %s\n", d.names[user], text)
	if _, err := d.emu.SlashCommand(ctx, user, channel, text); err != nil {
		fmt.Fprintf(d.w, "  (the command failed: %v)\n", err)
	}
	d.settle()
	d.flush()
}

// Click clicks, as user, the button actionID (labelled label) of the
// pinned header of channel, prints what it caused, and returns the click's
// trigger id ("" when it failed), which names the form it opened.
func (d *Transcript) Click(user, channel, actionID, label string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Fprintf(d.w, "  %s clicks [%s] on the pinned header\n", d.names[user], label)
	ch, _ := d.emu.Channel(channel)
	if len(ch.Pins) == 0 {
		fmt.Fprintln(d.w, "  (the channel has no pinned header)")
		return ""
	}
	res, err := d.emu.ClickButton(ctx, user, channel, ch.Pins[0], actionID, "")
	if err != nil {
		fmt.Fprintf(d.w, "  (the click failed: %v)\n", err)
	}
	d.settle()
	d.flush()
	return res.TriggerID
}

// Input is one input of a form and what is entered in it.
type Input struct{ Name, Value string }

// Fill fills in, as user, the form that trigger opened and submits it,
// and prints what it caused.
func (d *Transcript) Fill(user, trigger string, inputs []Input) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var view slackemu.View
	for _, v := range d.emu.Views() {
		if trigger != "" && v.TriggerID == trigger {
			view = v
		}
	}
	if view.ID == "" {
		fmt.Fprintln(d.w, "  (no form opened)")
		return
	}
	values := map[string]map[string]string{}
	var shown []string
	for _, in := range inputs {
		values[in.Name] = map[string]string{in.Name: in.Value}
		shown = append(shown, in.Name+": "+in.Value)
	}
	fmt.Fprintf(d.w, "  %s fills in the form (%s) and submits it\n", d.names[user], strings.Join(shown, " · "))
	res, err := d.emu.SubmitForm(ctx, user, view.ID, values)
	switch {
	case err != nil:
		fmt.Fprintf(d.w, "  (the submission failed: %v)\n", err)
	case res.ResponseAction == "errors":
		fmt.Fprintf(d.w, "  (the form stays open: %v)\n", res.Errors)
	}
	d.settle()
	d.flush()
}

// Step runs fn and prints what it caused.
func (d *Transcript) Step(title string, fn func()) {
	fmt.Fprintf(d.w, "\n== %s\n", title)
	fn()
	d.settle()
	d.flush()
}

// settle waits until the bot has acknowledged everything and the workspace
// has been quiet for a moment.
func (d *Transcript) settle() {
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

func (d *Transcript) flush() {
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
func (d *Transcript) readable(s string) string {
	return slacktext.PlainText(s, slacktext.Names{
		User:    func(id string) string { return d.names[id] },
		Channel: func(id string) string { ch, _ := d.emu.Channel(id); return ch.Name },
	})
}

// Timeline prints incident id's recorded timeline in time order.
func (d *Transcript) Timeline(ctx context.Context, db Events, id int64) error {
	fmt.Fprintln(d.w, "\n== The timeline recorded in the database (bbolt), in Slack time order")
	var evs []incidentbot.TimelineEvent
	if err := db.Events(ctx, id, func(e *incidentbot.TimelineEvent) error {
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
