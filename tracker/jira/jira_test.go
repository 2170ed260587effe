package jira_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/jiraemu"
	"github.com/incidentbot/incidentbot/tracker/jira"
)

const token = "jira-UNIT-TEST-TOKEN-0123"

func setup(t *testing.T) (*jiraemu.Server, string) {
	t.Helper()
	emu, err := jiraemu.New(jiraemu.Config{Email: "bot@example.com", APIToken: token, Projects: []string{"OPS"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	return emu, emu.AddUser("bob@example.com", "Bob Brown")
}

func client(t *testing.T, emu *jiraemu.Server, tok, project string) *jira.Client {
	t.Helper()
	c, err := jira.New(jira.Config{URL: emu.URL(), Email: "bot@example.com", Token: tok, Project: project, Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var item = incidentbot.TrackerItem{Incident: "INC-3", IncidentTitle: "Checkout down", Item: "A1", Title: "Fix retries",
	ChannelName: "inc-3-checkout-down", ChannelURL: "https://x.slack.com/archives/C1", OwnerEmail: "BOB@example.com", Due: "2030-01-02",
	Labels: []string{"incident", "INC-3"}}

func TestLifecycle(t *testing.T) {
	emu, bob := setup(t)
	dana := emu.AddUser("dana@example.com", "Dana Scully")
	c := client(t, emu, token, "OPS")
	ctx := context.Background()
	is, err := c.Create(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	if is.Key != "OPS-1" || is.URL != emu.URL()+"/browse/OPS-1" {
		t.Errorf("created %+v", is)
	}
	got, _ := emu.Issue("OPS-1")
	if got.AssigneeID != bob || got.DueDate != "2030-01-02" || got.IssueType != "Task" || !strings.Contains(string(got.Description), `"href":"https://x.slack.com/archives/C1"`) {
		t.Errorf("issue = %+v", got)
	}
	up := item
	up.OwnerEmail, up.Due = "", ""
	if err := c.Update(ctx, "OPS-1", up); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue("OPS-1"); got.AssigneeID != "" || got.DueDate != "" {
		t.Errorf("updated = %+v", got)
	}
	since := time.Now().Add(-time.Minute)
	if err := c.SetDone(ctx, "OPS-1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDone(ctx, "OPS-1", true); err != nil { // already done: nothing to do
		t.Fatal(err)
	}
	if got, _ := emu.Issue("OPS-1"); got.Status != "Done" {
		t.Errorf("status = %q", got.Status)
	}
	if err := emu.TransitionAs("OPS-1", "To Do", dana); err != nil {
		t.Fatal(err)
	}
	chs, err := c.Changes(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || chs[0].Done || chs[0].By != "Dana Scully" || chs[0].Key != "OPS-1" {
		t.Errorf("changes = %+v", chs)
	}
	if n := len(emu.RequestsTo("/rest/api/3/search/jql")); n != 1 {
		t.Errorf("%d searches", n)
	}
	if err := c.SetDone(ctx, "OPS-1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDone(ctx, "OPS-1", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue("OPS-1"); got.Status != "To Do" {
		t.Errorf("reopened status = %q", got.Status)
	}
}

func TestErrors(t *testing.T) {
	emu, _ := setup(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		tok, proj  string
		fault      func()
		code       string
		retryAfter time.Duration
	}{
		{"bad token", "wrong-token", "OPS", nil, incidentbot.EUnauthorized, 0},
		{"no project", token, "NOPE", nil, incidentbot.EInvalid, 0},
		{"rate limited", token, "OPS", func() { emu.FailNext("/rest/api/3/issue", 1, 429) }, incidentbot.EUnavailable, time.Second},
		{"server error", token, "OPS", func() { emu.FailNext("/rest/api/3/issue", 1, 503) }, incidentbot.EUnavailable, 0},
		{"down", token, "OPS", func() { emu.SetDown(true) }, incidentbot.EUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer emu.SetDown(false)
			if tt.fault != nil {
				tt.fault()
			}
			it := item
			it.OwnerEmail = ""
			_, err := client(t, emu, tt.tok, tt.proj).Create(ctx, it)
			if incidentbot.ErrorCode(err) != tt.code || incidentbot.RetryAfter(err) != tt.retryAfter {
				t.Fatalf("err = %v (code %s, retry after %s), want %s", err, incidentbot.ErrorCode(err), incidentbot.RetryAfter(err), tt.code)
			}
			if strings.Contains(err.Error(), tt.tok) {
				t.Errorf("the token is in %q", err)
			}
		})
	}
}

// TestFind: the issue an earlier create made is found by its item's marker
// with one JQL search (the project, the labels, created since, newest
// first, the description asked for); another item's issue, or one created
// before since, is not; a failure is classified like the other calls.
func TestFind(t *testing.T) {
	emu, _ := setup(t)
	c := client(t, emu, token, "OPS")
	ctx := context.Background()
	it := item
	it.TeamID = "T0001"
	other := it
	other.Item = "A12"
	before := time.Now().Add(-time.Second)
	if _, err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	made, err := c.Create(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue("OPS-2"); !strings.Contains(string(got.Description), `"incidentbot: T0001 INC-3 A1"`) {
		t.Errorf("description without the marker: %s", got.Description)
	}
	n := len(emu.RequestsTo("/rest/api/3/search/jql"))
	found, ok, err := c.Find(ctx, it, before)
	if err != nil || !ok || found != made {
		t.Fatalf("Find = %+v %v %v, want %+v", found, ok, err, made)
	}
	reqs := emu.RequestsTo("/rest/api/3/search/jql")
	if len(reqs) != n+1 {
		t.Fatalf("%d searches", len(reqs)-n)
	}
	body := string(reqs[n].Body)
	for _, want := range []string{`project = OPS AND labels = incident AND labels = \"INC-3\" AND created \u003e= -2m ORDER BY created DESC`, `"description"`} {
		if !strings.Contains(body, want) {
			t.Errorf("search %s lacks %s", body, want)
		}
	}
	third := it
	third.Item = "A2"
	if _, ok, err := c.Find(ctx, third, before); err != nil || ok {
		t.Errorf("Find(A2) = %v %v, want none", ok, err)
	}
	emu.FailNext("/rest/api/3/search/jql", 1, 503)
	if _, _, err := c.Find(ctx, it, before); incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Errorf("503: %v", err)
	}
	bad := client(t, emu, "wrong-token", "OPS")
	if _, _, err := bad.Find(ctx, it, before); incidentbot.ErrorCode(err) != incidentbot.EUnauthorized || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("bad token: %v", err)
	}
}

// TestFindCreatedBefore: an issue created before the window is not found.
func TestFindCreatedBefore(t *testing.T) {
	var offset atomic.Int64 // moved forward by the test
	start := time.Now()
	clk := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	emu, err := jiraemu.New(jiraemu.Config{Email: "bot@example.com", APIToken: token, Projects: []string{"OPS"}, Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	c, err := jira.New(jira.Config{URL: emu.URL(), Email: "bot@example.com", Token: token, Project: "OPS", Now: clk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	it := item
	it.OwnerEmail = ""
	if _, err := c.Create(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(time.Hour))
	if _, ok, err := c.Find(context.Background(), it, clk().Add(-10*time.Minute)); err != nil || ok {
		t.Errorf("Find = %v %v, want none", ok, err)
	}
	if _, ok, err := c.Find(context.Background(), it, clk().Add(-2*time.Hour)); err != nil || !ok {
		t.Errorf("Find(wider) = %v %v, want the issue", ok, err)
	}
}
