package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/githubemu"
	"github.com/incidentbot/incidentbot/internal/jiraemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// clock is the injected clock of a tracker test: real time moved forward
// by the test, shared by the bot and the tracker emulator.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

const ghToken = "ghp_TESTTOKEN0123456789abcdefghijklmnopq"

// withGitHub starts a GitHub emulator for acme/ops where bob-gh and
// octocat are collaborators, and returns the env for it with a user map
// that maps Bob's Slack email (only) to bob-gh.
func withGitHub(t *testing.T, clk *clock, token string) (*githubemu.Server, map[string]string) {
	gh, err := githubemu.New(githubemu.Config{Repo: "acme/ops", Token: ghToken, Login: "incidentbot", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	gh.AddUser("bob-gh")
	gh.AddUser("octocat")
	userMap := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(userMap, []byte("BOB@example.com: bob-gh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return gh, map[string]string{
		"GITHUB_TOKEN":               token,
		"INCIDENTBOT_GITHUB_REPO":    "acme/ops",
		"INCIDENTBOT_GITHUB_API_URL": gh.URL() + "/",
		"INCIDENTBOT_USER_MAP":       userMap,
		"INCIDENTBOT_TRACKER_POLL":   "1m",
	}
}

func (w *world) countText(channel, substr string) int {
	n := 0
	for _, s := range w.channelTexts(channel) {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// TestGitHubTracker: each new item becomes an issue (assigned when the
// user map has the owner's email), its link is shown; done, reopen and
// owner/due changes in Slack reach GitHub; an issue closed and reopened in
// GitHub changes the item in the bot, attributed, and the bot's own
// changes are not echoed back.
func TestGitHubTracker(t *testing.T) {
	clk := &clock{}
	gh, env := withGitHub(t, clk, ghToken)
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	c := w.openIncident(w.alice, "sev3 Checkout retries", "inc-1-checkout-retries")

	if r := w.cmd(w.alice, c, "action Fix the retry loop <@"+w.bob+"> due:2030-01-10"); !strings.Contains(r, "being created as a GitHub issue") {
		t.Errorf("reply = %q", r)
	}
	w.waitText(c, ":link: *A1* is tracked in GitHub: <"+gh.URL())
	is, _ := gh.Issue(1)
	if is.Title != "Fix the retry loop" || strings.Join(is.Labels, ",") != "incident,INC-1" || strings.Join(is.Assignees, ",") != "bob-gh" ||
		!strings.Contains(is.Body, "INC-1: Checkout retries") || !strings.Contains(is.Body, "Due: 2030-01-10") || !strings.Contains(is.Body, "#inc-1-checkout-retries") {
		t.Errorf("issue 1 = %+v", is)
	}
	w.cmd(w.alice, c, "action Write the runbook <@"+w.carol+">")
	w.waitText(c, ":link: *A2* is tracked in GitHub")
	if is, _ := gh.Issue(2); len(is.Assignees) != 0 {
		t.Errorf("issue 2 assigned to %v without a mapping", is.Assignees)
	}
	if r := w.cmd(w.alice, c, "actions"); !strings.Contains(r, "|acme/ops#1>") || !strings.Contains(r, "|acme/ops#2>") {
		t.Errorf("actions = %q", r)
	}

	w.cmd(w.bob, c, "action done A1")
	w.eventually("issue 1 closed", func() bool { is, _ := gh.Issue(1); return is.State == "closed" })
	w.waitText(c, ":link: Closed <")
	w.cmd(w.bob, c, "action reopen A1")
	w.eventually("issue 1 reopened", func() bool { is, _ := gh.Issue(1); return is.State == "open" })
	w.cmd(w.alice, c, "action A2 <@"+w.bob+"> due:2030-02-01")
	w.eventually("issue 2 assigned with its due date", func() bool {
		is, _ := gh.Issue(2)
		return strings.Join(is.Assignees, ",") == "bob-gh" && strings.Contains(is.Body, "Due: 2030-02-01")
	})

	// Closed and reopened in GitHub, by someone else.
	if err := gh.CloseIssue(2, "octocat"); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	w.waitText(c, "*A2* done (closed in GitHub by @octocat")
	if err := gh.ReopenIssue(2, "octocat"); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	w.waitText(c, "*A2* reopened in GitHub")
	gh.CloseIssue(2, "octocat")
	clk.advance(2 * time.Minute)
	w.eventually("closed again", func() bool { return w.countText(c, "*A2* done (closed in GitHub by @octocat") == 2 })
	// More polls: nothing the bot did itself comes back.
	clk.advance(2 * time.Minute)
	time.Sleep(time.Second)
	if n := w.countText(c, "in GitHub by"); n != 2 {
		t.Errorf("%d changes from GitHub told, want 2", n)
	}
	bot.stop(t)

	db := w.openDB()
	inc, _ := db.Incident(t.Context(), 1)
	if a := inc.Action(1); a.Status != incidentbot.ActionOpen || a.Issue == nil || a.Issue.Key != "acme/ops#1" {
		t.Errorf("A1 = %+v", a)
	}
	if a := inc.Action(2); a.Status != incidentbot.ActionDone || a.DoneBy != "" {
		t.Errorf("A2 = %+v", a)
	}
	var via []string
	for _, e := range timeline(t, db, 1) {
		if (e.Kind == incidentbot.EventActionDone || e.Kind == incidentbot.EventActionReopen) && e.From != "" {
			via = append(via, string(e.Kind)+" "+e.From+" "+e.To)
		}
	}
	if got := strings.Join(via, "; "); got != "action_done GitHub @octocat; action_reopened GitHub ; action_done GitHub @octocat" {
		t.Errorf("tracker events: %s", got)
	}
}

// TestGitHubDownAcrossRestart: GitHub down when an item is recorded: the
// channel is told it is pending; the bot restarts; GitHub comes back; the
// issue is created once and the channel told.
func TestGitHubDownAcrossRestart(t *testing.T) {
	clk := &clock{}
	gh, env := withGitHub(t, clk, ghToken)
	w := newWorld(t, slackemu.Config{})
	first := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	c := w.openIncident(w.alice, "sev3 Queue stuck", "inc-1-queue-stuck")
	gh.SetDown(true)
	w.cmd(w.alice, c, "action Drain the queue <@"+w.bob+"> due:2030-01-10")
	w.waitText(c, ":warning: GitHub is not answering")
	w.waitText(c, "creating the issue of *A1* is pending")
	first.stop(t)
	second := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	time.Sleep(time.Second)
	gh.SetDown(false)
	w.eventuallyFor(30*time.Second, "the issue created after the restart", func() bool { return len(gh.Issues()) == 1 })
	w.waitText(c, ":link: *A1* is tracked in GitHub")
	time.Sleep(time.Second)
	if n := len(gh.Issues()); n != 1 {
		t.Errorf("%d issues created", n)
	}
	if n := w.countText(c, "GitHub is not answering"); n != 1 {
		t.Errorf("told %d times that GitHub is not answering", n)
	}
	second.stop(t)
}

// TestGitHubBadToken: GitHub refusing the token is told once in the
// channel and not retried; the item stays in the bot.
func TestGitHubBadToken(t *testing.T) {
	clk := &clock{}
	gh, env := withGitHub(t, clk, "ghp_wrong")
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	c := w.openIncident(w.alice, "sev3 Slow search", "inc-1-slow-search")
	w.cmd(w.alice, c, "action Add an index <@"+w.bob+">")
	w.waitText(c, ":x: GitHub refused creating the issue of *A1*")
	w.cmd(w.bob, c, "action done A1")
	time.Sleep(3 * time.Second)
	if n := len(gh.RequestsTo("/repos/acme/ops/issues")); n != 1 {
		t.Errorf("%d create requests, want 1", n)
	}
	if n := w.countText(c, "GitHub refused"); n != 1 {
		t.Errorf("told %d times", n)
	}
	for _, s := range w.channelTexts(c) {
		if strings.Contains(s, "ghp_wrong") {
			t.Errorf("the token is in the channel: %q", s)
		}
	}
	bot.stop(t)
}

// TestJiraTracker: the owner is found by Jira's user search on their Slack
// email; the due date is Jira's duedate; done transitions the issue to the
// done category and reopen out of it; an owner/due change is mirrored; a
// transition in Jira by someone else changes the item, attributed.
func TestJiraTracker(t *testing.T) {
	clk := &clock{}
	jr, err := jiraemu.New(jiraemu.Config{Email: "bot@example.com", APIToken: "jira-token-1", Projects: []string{"OPS"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(jr.Close)
	bobID := jr.AddUser("bob@example.com", "Bob Brown")
	dana := jr.AddUser("dana@example.com", "Dana Scully")
	env := map[string]string{
		"JIRA_URL": jr.URL(), "JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "jira-token-1",
		"INCIDENTBOT_JIRA_PROJECT": "OPS", "INCIDENTBOT_TRACKER_POLL": "1m",
	}
	w := newWorld(t, slackemu.Config{})
	bot := w.startWith(env, func(m *Main) { m.Now = clk.Now })
	c := w.openIncident(w.alice, "sev3 Login errors", "inc-1-login-errors")

	w.cmd(w.alice, c, "action Rotate the signing key <@"+w.bob+"> due:2030-01-10")
	w.waitText(c, ":link: *A1* is tracked in Jira: <"+jr.URL()+"/browse/OPS-1|OPS-1>")
	is, _ := jr.Issue("OPS-1")
	if is.Summary != "Rotate the signing key" || is.AssigneeID != bobID || is.DueDate != "2030-01-10" || is.IssueType != "Task" ||
		strings.Join(is.Labels, ",") != "incident,INC-1" || !strings.Contains(string(is.Description), "INC-1") {
		t.Errorf("OPS-1 = %+v", is)
	}
	w.cmd(w.alice, c, "action A1 <@"+w.carol+"> due:2030-03-01")
	w.eventually("OPS-1 reassigned", func() bool { is, _ := jr.Issue("OPS-1"); return is.AssigneeID == "" && is.DueDate == "2030-03-01" })

	w.cmd(w.bob, c, "action done A1")
	w.eventually("OPS-1 done", func() bool { is, _ := jr.Issue("OPS-1"); return is.Status == "Done" })
	w.cmd(w.bob, c, "action reopen A1")
	w.eventually("OPS-1 reopened", func() bool { is, _ := jr.Issue("OPS-1"); return is.Status == "To Do" })

	if err := jr.TransitionAs("OPS-1", "Done", dana); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	w.waitText(c, "*A1* done (closed in Jira by Dana Scully")
	if err := jr.TransitionAs("OPS-1", "To Do", dana); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	w.waitText(c, "*A1* reopened in Jira by Dana Scully")
	clk.advance(2 * time.Minute)
	time.Sleep(time.Second)
	if n := w.countText(c, "in Jira by"); n != 2 {
		t.Errorf("%d changes from Jira told, want 2", n)
	}
	bot.stop(t)
	inc, _ := w.openDB().Incident(t.Context(), 1)
	if a := inc.Action(1); a.Status != incidentbot.ActionOpen || a.Issue == nil || a.Issue.Key != "OPS-1" {
		t.Errorf("A1 = %+v", a)
	}
}
