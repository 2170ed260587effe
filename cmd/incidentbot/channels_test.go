package main

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// warnings returns the ephemeral :warning: replies user got in channel.
func (w *world) warnings(channel, user string) []string {
	var out []string
	for _, e := range w.emu.Ephemerals(channel, user) {
		if strings.HasPrefix(e, ":warning:") {
			out = append(out, e)
		}
	}
	return out
}

// wantAll fails the test unless s contains every one of subs.
func wantAll(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s = %q, want it to contain %q", what, s, sub)
		}
	}
}

// TestRefusedChannelCreation (issue 11, finding 6): in a workspace that
// forbids apps to create channels (restricted_action), /incident open
// records INC-1, tells the declarer once, in one DM, what happened and what
// to do; creation is retried slowly (every commands.RefusedRetry
// on the injected clock), never by the tick; the incident is listed as
// without a channel and is worked and resolved by id from another channel;
// after the resolve nothing is retried.
func TestRefusedChannelCreation(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	w.emu.RefuseChannelCreation("restricted_action")
	bot := w.startWith(nil, clk.on)
	creates := func() int { return len(w.emu.Calls("conversations.create")) }

	ack := w.cmd(w.alice, w.general, "open sev2 Payments failing")
	wantAll(t, "open reply", ack, "INC-1")
	w.eventually("the declarer's DM", func() bool { return len(w.emu.DMs(w.alice)) > 0 })
	dm := w.emu.DMs(w.alice)[0]
	wantAll(t, "DM", dm, "INC-1", "refused", "restricted_action", "admin", "/incident resolve INC-1", "/incident status INC-1")
	w.waitText(w.announce, "INC-1")

	// Not retried on every tick: a few minutes on, still the one attempt.
	settle()
	clk.Add(4 * time.Minute)
	settle()
	if n := creates(); n != 1 {
		t.Fatalf("%d conversations.create calls within 4 minutes of the refusal, want 1", n)
	}
	// Retried slowly: one more attempt per interval, and the declarer is
	// not told again.
	clk.Add(commands.RefusedRetry)
	w.eventually("a retry after the repair interval", func() bool { return creates() == 2 })
	clk.Add(commands.RefusedRetry)
	w.eventually("another retry an interval later", func() bool { return creates() == 3 })
	settle()
	if n := creates(); n != 3 {
		t.Errorf("%d conversations.create calls after two intervals, want 3", n)
	}
	if dms := w.emu.DMs(w.alice); len(dms) != 1 {
		t.Errorf("the declarer got %d DMs, want exactly 1: %q", len(dms), dms)
	}
	if warns := w.warnings(w.general, w.alice); len(warns) != 0 {
		t.Errorf("the declarer also got ephemeral warnings: %q", warns)
	}

	// Listed as without a channel, with how to act on it.
	list := w.cmd(w.bob, w.general, "list")
	wantAll(t, "list", list, "INC-1", ":warning:", "no channel", "refused", "/incident resolve INC-n")

	// Worked and closed by id from elsewhere.
	wantAll(t, "status by id", w.cmd(w.bob, w.general, "status INC-1 identified card processor timeouts"), "Status update posted for INC-1", "no channel")
	wantAll(t, "action by id", w.cmd(w.bob, w.general, "action inc-1 Add a circuit breaker <@"+w.carol+"> due:+7d"), "Recorded A1")
	wantAll(t, "resolve by id", w.cmd(w.alice, w.general, "resolve INC-1 processor recovered"), "INC-1 is resolved")
	w.waitText(w.announce, "INC-1 resolved")
	if l := w.cmd(w.bob, w.general, "list"); !strings.Contains(l, "No open incidents") {
		t.Errorf("list after the resolve = %q", l)
	}

	// Resolved: creation is not retried any more.
	before := creates()
	clk.Add(2 * commands.RefusedRetry)
	settle()
	settle()
	if n := creates(); n != before {
		t.Errorf("%d more conversations.create calls after the resolve", n-before)
	}
	bot.stop(t)

	db := w.openDB()
	inc, err := db.Incident(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !inc.Resolved() || inc.ChannelID != "" || !strings.Contains(inc.ChannelRefused, "restricted_action") || inc.ChannelRefusedAt.IsZero() {
		t.Errorf("incident = resolved %v, channel %q, refused %q at %v", inc.Resolved(), inc.ChannelID, inc.ChannelRefused, inc.ChannelRefusedAt)
	}
	evs := timeline(t, db, 1)
	for kind, want := range map[incidentbot.EventKind]int{
		incidentbot.EventChannelRefused: 1, incidentbot.EventStatus: 1, incidentbot.EventAction: 1, incidentbot.EventResolved: 1, incidentbot.EventChannel: 0,
	} {
		if n := countKind(evs, kind); n != want {
			t.Errorf("%d %s events, want %d", n, kind, want)
		}
	}
}

// TestRefusedChannelAllowedLater: once an admin allows channel creation,
// the next slow retry creates the channel, invites the declarer and
// clears the refusal.
func TestRefusedChannelAllowedLater(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(t, slackemu.Config{})
	w.emu.RefuseChannelCreation("restricted_action")
	bot := w.startWith(nil, clk.on)
	w.cmd(w.alice, w.general, "open Login errors")
	w.eventually("the declarer's DM", func() bool { return len(w.emu.DMs(w.alice)) == 1 })
	w.emu.RefuseChannelCreation("")
	clk.Add(commands.RefusedRetry + time.Second)
	var ch slackemu.Channel
	w.eventually("the channel, on the next retry", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-login-errors")
		return ok && len(ch.Pins) == 1
	})
	if !isMember(ch, w.alice) {
		t.Errorf("the declarer was not invited: members %v", ch.Members)
	}
	l := w.cmd(w.bob, w.general, "list")
	if strings.Contains(l, ":warning:") || !strings.Contains(l, "<#"+ch.ID+">") {
		t.Errorf("list = %q, want the channel and no mark", l)
	}
	bot.stop(t)
	inc, err := w.openDB().Incident(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if inc.ChannelID != ch.ID || inc.ChannelRefused != "" {
		t.Errorf("incident channel %q refused %q", inc.ChannelID, inc.ChannelRefused)
	}
}

func isMember(ch slackemu.Channel, user string) bool {
	for _, m := range ch.Members {
		if m == user {
			return true
		}
	}
	return false
}

// TestRefusedChannelName (issue 11, scope 6 and 9): a workspace rule that
// refuses a name makes the bot fall back to the plain inc-<n>; titles with
// diacritics and Slack markup give readable names (Ärger → arger, a link
// its label or host, a mention the person's name).
func TestRefusedChannelName(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	w.emu.SetChannelNameRule(func(name string) string {
		switch {
		case !isASCII(name):
			return "invalid_name_specials"
		case strings.Contains(name, "secret"):
			return "invalid_name" // this workspace's naming policy
		}
		return ""
	})
	w.start(nil)
	w.openIncident(w.alice, "sev2 Leaked secret token", "inc-1")
	w.openIncident(w.alice, "Ärger im Zahlungsverkehr", "inc-2-arger-im-zahlungsverkehr")
	w.openIncident(w.alice, "Errors on <https://grafana.example.com/d/abc?x=1&amp;y=2> for <@"+w.bob+"|bob>", "inc-3-errors-on-grafana-example-com-for-bob")
	w.openIncident(w.alice, "<https://status.example.com/i/7|Status page> red", "inc-4-status-page-red")
	if warns := w.warnings(w.general, w.alice); len(warns) != 0 {
		t.Errorf("the declarer got warnings: %q", warns)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// TestCommandsByID (issue 11, scope 3): commands typed outside the
// incident's channel act on the incident named first (INC-n, any case),
// answer the caller ephemerally and post in the incident channel as usual;
// typed in another incident's channel a named id is refused; an unknown id
// is named.
func TestCommandsByID(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	w.start(nil)
	c1 := w.openIncident(w.alice, "sev2 Search down", "inc-1-search-down")
	c2 := w.openIncident(w.bob, "sev3 Slow exports", "inc-2-slow-exports")

	res, err := w.emu.SlashCommand(t.Context(), w.carol, w.general, "status INC-1 identified index corrupted")
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseType != "ephemeral" || !strings.Contains(res.AckText, "Status update posted for INC-1") {
		t.Errorf("status by id: %s %q", res.ResponseType, res.AckText)
	}
	w.waitText(c1, "index corrupted")
	w.waitText(w.announce, "index corrupted")

	wantAll(t, "role by id", w.cmd(w.carol, w.general, "role inc-1 commander me"), "Incident commander of INC-1")
	wantAll(t, "action by id", w.cmd(w.carol, w.general, "action INC-1 Rebuild the index nightly <@"+w.bob+"> due:+7d"), "Recorded A1")
	w.waitText(c1, "Rebuild the index nightly")
	wantAll(t, "actions by id", w.cmd(w.carol, w.general, "actions INC-1"), "Action items of INC-1", "Rebuild the index nightly")
	wantAll(t, "action done by id", w.cmd(w.carol, w.general, "action INC-1 done A1"), "A1 closed")

	// In an incident channel: its own id is fine, another's is refused.
	wantAll(t, "own id", w.cmd(w.carol, c1, "status INC-1 monitoring reindexed"), "Status update posted for INC-1")
	wantAll(t, "other id", w.cmd(w.carol, c1, "resolve INC-2 oops"), "This is the channel of INC-1", "INC-2")
	wantAll(t, "unknown id", w.cmd(w.carol, w.general, "status INC-9 x"), "INC-9 does not exist")
	wantAll(t, "no id elsewhere", w.cmd(w.carol, w.general, "status x"), "/incident status INC-7")

	wantAll(t, "resolve by id", w.cmd(w.alice, w.general, "resolve INC-1 index rebuilt"), "INC-1 is resolved")
	w.waitText(c1, "INC-1 resolved")
	w.eventually("the post-mortem draft in INC-1's channel", func() bool { return len(w.uploads(c1, "INC-1-postmortem.md")) == 1 })
	w.waitText(w.announce, "INC-1 resolved")
	for _, s := range w.channelTexts(c2) {
		if strings.Contains(s, "resolved") {
			t.Errorf("INC-2's channel heard %q", s)
		}
	}
	if l := w.cmd(w.bob, w.general, "list"); !strings.Contains(l, "INC-2") || strings.Contains(l, "INC-1") || strings.Contains(l, ":warning:") {
		t.Errorf("list = %q", l)
	}
	if warns := w.warnings(w.general, w.alice); len(warns) != 0 {
		t.Errorf("follow-up warnings: %q", warns)
	}
}
