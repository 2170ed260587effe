package github_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/githubemu"
	"github.com/incidentbot/incidentbot/tracker/github"
)

const token = "ghp_UNITTESTTOKEN0123456789"

func newEmu(t *testing.T) *githubemu.Server {
	t.Helper()
	emu, err := githubemu.New(githubemu.Config{Repo: "acme/ops", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	emu.AddUser("bob-gh")
	emu.AddUser("octocat")
	return emu
}

func newClient(t *testing.T, emu *githubemu.Server, tok, repo string) *github.Client {
	t.Helper()
	c, err := github.New(github.Config{Token: tok, Repo: repo, APIURL: emu.URL(), UserMap: map[string]string{"Bob@Example.com": "@bob-gh"}, Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var item = incidentbot.TrackerItem{Incident: "INC-3", IncidentTitle: "Checkout down", Item: "A1", Title: "Fix retries",
	ChannelName: "inc-3-checkout-down", ChannelURL: "https://x.slack.com/archives/C1", OwnerEmail: "bob@example.com", Due: "2030-01-02",
	Labels: []string{"incident", "INC-3"}}

func TestLifecycle(t *testing.T) {
	emu := newEmu(t)
	c := newClient(t, emu, token, "acme/ops")
	ctx := context.Background()
	is, err := c.Create(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	if is.Tracker != incidentbot.TrackerGitHub || is.Key != "acme/ops#1" || !strings.HasSuffix(is.URL, "/acme/ops/issues/1") {
		t.Errorf("created %+v", is)
	}
	got, _ := emu.Issue(1)
	if strings.Join(got.Assignees, ",") != "bob-gh" || !strings.Contains(got.Body, "Due: 2030-01-02") || !strings.Contains(got.Body, "(https://x.slack.com/archives/C1)") {
		t.Errorf("issue = %+v", got)
	}
	up := item
	up.OwnerEmail, up.Due = "nobody@example.com", ""
	if err := c.Update(ctx, is.Key, up); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue(1); len(got.Assignees) != 0 || strings.Contains(got.Body, "Due:") {
		t.Errorf("updated = %+v", got)
	}
	since := time.Now().Add(-time.Minute)
	if err := c.SetDone(ctx, is.Key, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue(1); got.State != "closed" || got.StateReason != "completed" {
		t.Errorf("closed = %+v", got)
	}
	emu.ReopenIssue(1, "octocat")
	emu.CloseIssue(1, "octocat")
	chs, err := c.Changes(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || !chs[0].Done || chs[0].By != "@octocat" || chs[0].Key != "acme/ops#1" || strings.Join(chs[0].Labels, ",") != "incident,INC-3" {
		t.Errorf("changes = %+v", chs)
	}
	if n := len(emu.RequestsTo("/search/issues")); n != 1 {
		t.Errorf("%d searches", n)
	}
	if err := c.SetDone(ctx, is.Key, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue(1); got.State != "open" {
		t.Errorf("reopened = %+v", got)
	}
}

func TestErrors(t *testing.T) {
	emu := newEmu(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		tok    string
		repo   string
		fault  func()
		code   string
		filter func(err error) bool
	}{
		{"bad token", "ghp_wrong", "acme/ops", nil, incidentbot.EUnauthorized, nil},
		{"no repository", token, "acme/none", nil, incidentbot.ENotFound, nil},
		{"server error", token, "acme/ops", func() { emu.FailNext("/repos/acme/ops/issues", 1, 502) }, incidentbot.EUnavailable, nil},
		{"secondary rate limit", token, "acme/ops", func() { emu.SecondaryRateLimit(1, 30*time.Second) }, incidentbot.EUnavailable,
			func(err error) bool { return incidentbot.RetryAfter(err) == 30*time.Second }},
		{"down", token, "acme/ops", func() { emu.SetDown(true) }, incidentbot.EUnavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer emu.SetDown(false)
			if tt.fault != nil {
				tt.fault()
			}
			_, err := newClient(t, emu, tt.tok, tt.repo).Create(ctx, item)
			if incidentbot.ErrorCode(err) != tt.code || (tt.filter != nil && !tt.filter(err)) {
				t.Fatalf("err = %v (code %s, retry after %s), want %s", err, incidentbot.ErrorCode(err), incidentbot.RetryAfter(err), tt.code)
			}
			if strings.Contains(err.Error(), tt.tok) || strings.Contains(incidentbot.ErrorMessage(err), tt.tok) {
				t.Errorf("the token is in %q", err)
			}
		})
	}
}

func TestLoadUserMap(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"m.yaml": "Alice@Example.com: '@alice'\n", "m.json": `{"alice@example.com": "alice"}`} {
		path := dir + "/" + name
		if err := writeFile(path, content); err != nil {
			t.Fatal(err)
		}
		m, err := github.LoadUserMap(path)
		if err != nil || m["alice@example.com"] != "alice" {
			t.Errorf("%s: %v %v", name, m, err)
		}
	}
	if err := writeFile(dir+"/bad.yaml", "- a list\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := github.LoadUserMap(dir + "/bad.yaml"); err == nil {
		t.Error("a list was accepted as a user map")
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// TestFind: the issue an earlier create made is found by its item's marker
// with one list request (label, state all, since, newest created first);
// another item's issue, or one created before since, is not; a failure is
// classified like the other calls.
func TestFind(t *testing.T) {
	emu := newEmu(t)
	c := newClient(t, emu, token, "acme/ops")
	ctx := context.Background()
	it := item
	it.TeamID = "T0001"
	other := it
	other.Item = "A12" // its marker starts with it's: matched as a whole line
	before := time.Now().Add(-time.Second)
	if _, err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	made, err := c.Create(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := emu.Issue(2); !strings.Contains(got.Body, "<!-- incidentbot: T0001 INC-3 A1 -->") {
		t.Errorf("body without the marker: %q", got.Body)
	}
	if err := emu.CloseIssue(2, "octocat"); err != nil { // closed issues count too
		t.Fatal(err)
	}
	n := len(emu.RequestsTo("/repos/acme/ops/issues"))
	found, ok, err := c.Find(ctx, it, before)
	if err != nil || !ok || found != made {
		t.Fatalf("Find = %+v %v %v, want %+v", found, ok, err, made)
	}
	reqs := emu.RequestsTo("/repos/acme/ops/issues")
	if len(reqs) != n+1 || reqs[n].Method != "GET" {
		t.Fatalf("requests %+v", reqs[n:])
	}
	q := reqs[n].Query
	for _, want := range []string{"state=all", "labels=incident", "sort=created", "direction=desc", "since=", "per_page=100"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %q lacks %s", q, want)
		}
	}

	third := it
	third.Item = "A2"
	if _, ok, err := c.Find(ctx, third, before); err != nil || ok {
		t.Errorf("Find(A2) = %v %v, want none", ok, err)
	}
	if _, ok, err := c.Find(ctx, it, time.Now().Add(time.Hour)); err != nil || ok {
		t.Errorf("Find(since later) = %v %v, want none", ok, err)
	}
	emu.FailNext("/repos/acme/ops/issues", 1, 502)
	if _, _, err := c.Find(ctx, it, before); incidentbot.ErrorCode(err) != incidentbot.EUnavailable {
		t.Errorf("502: %v", err)
	}
	bad := newClient(t, emu, "ghp_wrong", "acme/ops")
	if _, _, err := bad.Find(ctx, it, before); incidentbot.ErrorCode(err) != incidentbot.EUnauthorized || strings.Contains(err.Error(), "ghp_wrong") {
		t.Errorf("bad token: %v", err)
	}
}

// TestFindPages: the marked issue is found past the first page of the
// list, with one request per page.
func TestFindPages(t *testing.T) {
	emu := newEmu(t)
	c := newClient(t, emu, token, "acme/ops")
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	if _, err := c.Create(ctx, item); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ {
		o := item
		o.Item = "B" + strconv.Itoa(i)
		if _, err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	n := len(emu.RequestsTo("/repos/acme/ops/issues"))
	if is, ok, err := c.Find(ctx, item, before); err != nil || !ok || is.Key != "acme/ops#1" {
		t.Fatalf("Find = %+v %v %v", is, ok, err)
	}
	if got := len(emu.RequestsTo("/repos/acme/ops/issues")) - n; got != 2 {
		t.Errorf("%d list requests, want 2", got)
	}
}
