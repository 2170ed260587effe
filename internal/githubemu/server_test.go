package githubemu

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v84/github"
)

const (
	testRepo  = "acme/ops"
	testToken = "ghp_emulatorTOKEN0123456789"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newServer(t *testing.T, mutate ...func(*Config)) (*Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	cfg := Config{Repo: testRepo, Token: testToken, Now: clk.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, clk
}

// enterpriseClient is a go-github client pointed at s the way a GitHub
// Enterprise Server is configured.
func enterpriseClient(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(s.URL(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rootClient is a go-github client whose BaseURL is the emulator's root, as
// for api.github.com.
func rootClient(t *testing.T, s *Server) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(testToken)
	var err error
	c.BaseURL, err = c.BaseURL.Parse(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createIssue(t *testing.T, c *github.Client, title string, labels ...string) *github.Issue {
	t.Helper()
	is, _, err := c.Issues.Create(context.Background(), "acme", "ops", &github.IssueRequest{
		Title:  github.Ptr(title),
		Body:   github.Ptr("body of " + title),
		Labels: &labels,
	})
	if err != nil {
		t.Fatalf("create %q: %v", title, err)
	}
	return is
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{{Repo: "acme", Token: "x"}, {Repo: "acme/ops/x", Token: "x"}, {Repo: "/ops", Token: "x"}, {Repo: testRepo}} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestCreateGetCloseReopenWithGoGitHub(t *testing.T) {
	s, clk := newServer(t)
	s.AddUser("octocat")
	c := enterpriseClient(t, s, testToken)
	ctx := context.Background()

	is, resp, err := c.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{
		Title:     github.Ptr("A1: rotate the on-call runbook"),
		Body:      github.Ptr("From INC-7 Checkout is down"),
		Labels:    &[]string{"incident", "INC-7"},
		Assignees: &[]string{"Octocat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != is.GetURL() {
		t.Fatalf("status %d, Location %q, url %q", resp.StatusCode, resp.Header.Get("Location"), is.GetURL())
	}
	if is.GetNumber() != 1 || is.GetState() != "open" || is.StateReason != nil || is.GetTitle() != "A1: rotate the on-call runbook" ||
		is.GetBody() != "From INC-7 Checkout is down" || is.GetUser().GetLogin() != "incidentbot" {
		t.Fatalf("created issue = %v", is)
	}
	if is.GetHTMLURL() != s.URL()+"/acme/ops/issues/1" {
		t.Errorf("html_url = %q", is.GetHTMLURL())
	}
	if len(is.Labels) != 2 || is.Labels[0].GetName() != "incident" || is.Labels[1].GetName() != "INC-7" {
		t.Errorf("labels = %v", is.Labels)
	}
	if len(is.Assignees) != 1 || is.Assignees[0].GetLogin() != "octocat" || is.GetAssignee().GetLogin() != "octocat" {
		t.Errorf("assignees = %v", is.Assignees)
	}
	if got := is.GetCreatedAt().Time; !got.Equal(clk.Now()) {
		t.Errorf("created_at = %v", got)
	}
	if is.ClosedBy != nil || is.ClosedAt != nil {
		t.Errorf("open issue has closed_by %v closed_at %v", is.ClosedBy, is.ClosedAt)
	}

	// The bot closes it.
	clk.Add(time.Minute)
	is, _, err = c.Issues.Edit(ctx, "acme", "ops", 1, &github.IssueRequest{State: github.Ptr("closed"), StateReason: github.Ptr("completed")})
	if err != nil {
		t.Fatal(err)
	}
	if is.GetState() != "closed" || is.GetStateReason() != "completed" || is.GetClosedBy().GetLogin() != "incidentbot" ||
		!is.GetClosedAt().Time.Equal(clk.Now()) || !is.GetUpdatedAt().Time.Equal(clk.Now()) {
		t.Fatalf("after close: %v", is)
	}

	// Someone reopens it in GitHub, then closes it as not planned... as the
	// bot sees it through Get.
	clk.Add(time.Minute)
	if err := s.ReopenIssue(1, "octocat"); err != nil {
		t.Fatal(err)
	}
	is, _, err = c.Issues.Get(ctx, "acme", "ops", 1)
	if err != nil {
		t.Fatal(err)
	}
	if is.GetState() != "open" || is.GetStateReason() != "reopened" || is.ClosedBy != nil || is.ClosedAt != nil {
		t.Fatalf("after reopen: %v", is)
	}
	clk.Add(time.Minute)
	if err := s.CloseIssue(1, "OctoCat"); err != nil {
		t.Fatal(err)
	}
	is, _, err = c.Issues.Get(ctx, "acme", "ops", 1)
	if err != nil {
		t.Fatal(err)
	}
	if is.GetState() != "closed" || is.GetClosedBy().GetLogin() != "octocat" || !is.GetClosedAt().Time.Equal(clk.Now()) {
		t.Fatalf("after close in GitHub: %v", is)
	}

	// Title, body, labels and assignees are replaced by PATCH.
	s.AddUser("hubot")
	is, _, err = c.Issues.Edit(ctx, "acme", "ops", 1, &github.IssueRequest{
		State:     github.Ptr("open"),
		Body:      github.Ptr("Due: 2026-03-20"),
		Assignees: &[]string{"hubot"},
		Labels:    &[]string{"incident"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if is.GetState() != "open" || is.GetBody() != "Due: 2026-03-20" || len(is.Assignees) != 1 || is.Assignees[0].GetLogin() != "hubot" || len(is.Labels) != 1 {
		t.Fatalf("after edit: %v", is)
	}
	// Unassigning everyone.
	is, _, err = c.Issues.Edit(ctx, "acme", "ops", 1, &github.IssueRequest{Assignees: &[]string{}})
	if err != nil || len(is.Assignees) != 0 || is.Assignee != nil {
		t.Fatalf("unassign: %v %v", is, err)
	}

	got := s.Issues()
	if len(got) != 1 || got[0].State != "open" || got[0].Body != "Due: 2026-03-20" || len(got[0].Assignees) != 0 || got[0].StateReason != "reopened" {
		t.Fatalf("Issues() = %+v", got)
	}
	if _, ok := s.Issue(2); ok {
		t.Error("Issue(2) exists")
	}
}

func TestCloseAndReopenControlsFail(t *testing.T) {
	s, _ := newServer(t)
	s.AddUser("octocat")
	c := rootClient(t, s)
	createIssue(t, c, "one")
	if err := s.CloseIssue(1, "stranger"); err == nil {
		t.Error("CloseIssue by an unknown user succeeded")
	}
	if err := s.CloseIssue(2, "octocat"); err == nil {
		t.Error("CloseIssue of a missing issue succeeded")
	}
	if err := s.ReopenIssue(1, "octocat"); err == nil {
		t.Error("ReopenIssue of an open issue succeeded")
	}
	if err := s.CloseIssue(1, "octocat"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseIssue(1, "octocat"); err == nil {
		t.Error("CloseIssue of a closed issue succeeded")
	}
}

func TestValidationErrors(t *testing.T) {
	s, _ := newServer(t)
	s.AddUser("octocat")
	c := rootClient(t, s)
	ctx := context.Background()

	// An assignee who is not a collaborator: 422, nothing created.
	_, resp, err := c.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{
		Title: github.Ptr("x"), Assignees: &[]string{"octocat", "mallory"},
	})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusUnprocessableEntity || er.Message != "Validation Failed" {
		t.Fatalf("unknown assignee: %v", err)
	}
	if len(er.Errors) != 1 || er.Errors[0].Field != "assignees" || er.Errors[0].Code != "invalid" || er.Errors[0].Resource != "Issue" ||
		!strings.Contains(er.Errors[0].Message, "mallory") {
		t.Fatalf("errors = %+v", er.Errors)
	}
	if len(s.Issues()) != 0 {
		t.Fatal("an issue was created")
	}

	// No title.
	if _, resp, err = c.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{Body: github.Ptr("x")}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("no title: %v", err)
	}

	createIssue(t, c, "one")
	for name, req := range map[string]*github.IssueRequest{
		"bad state":        {State: github.Ptr("done")},
		"bad state_reason": {State: github.Ptr("closed"), StateReason: github.Ptr("fixed")},
		"bad assignee":     {Assignees: &[]string{"mallory"}},
	} {
		if _, resp, err := c.Issues.Edit(ctx, "acme", "ops", 1, req); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %v", name, err)
		}
	}
	if is, _ := s.Issue(1); is.State != "open" || len(is.Assignees) != 0 {
		t.Errorf("a refused PATCH changed the issue: %+v", is)
	}
	if _, resp, _ := c.Issues.Get(ctx, "acme", "ops", 9); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing issue: status %d", resp.StatusCode)
	}
	if _, resp, _ := c.Issues.Edit(ctx, "acme", "ops", 9, &github.IssueRequest{Title: github.Ptr("x")}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH missing issue: status %d", resp.StatusCode)
	}

	if ok, _, err := c.Issues.IsAssignee(ctx, "acme", "ops", "octocat"); !ok || err != nil {
		t.Errorf("IsAssignee(octocat) = %v, %v", ok, err)
	}
	if ok, _, err := c.Issues.IsAssignee(ctx, "acme", "ops", "mallory"); ok || err != nil {
		t.Errorf("IsAssignee(mallory) = %v, %v", ok, err)
	}
}

func TestAuthenticationAndUnknownRepo(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()

	bad := enterpriseClient(t, s, "ghp_wrong")
	_, resp, err := bad.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{Title: github.Ptr("x")})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
		t.Fatalf("bad token: %v", err)
	}
	none, err := github.NewClient(nil).WithEnterpriseURLs(s.URL(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err = none.Issues.Get(ctx, "acme", "ops", 1); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "Requires authentication") {
		t.Fatalf("no token: %v", err)
	}
	// "Authorization: token <t>", the older scheme, is accepted too.
	req, _ := http.NewRequest("GET", s.URL()+"/repos/acme/ops/issues", nil)
	req.Header.Set("Authorization", "token "+testToken)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		t.Fatalf("token scheme: status %d", r2.StatusCode)
	}

	good := enterpriseClient(t, s, testToken)
	_, resp, err = good.Issues.Create(ctx, "acme", "elsewhere", &github.IssueRequest{Title: github.Ptr("x")})
	if !errors.As(err, &er) || resp.StatusCode != http.StatusNotFound || er.Message != "Not Found" {
		t.Fatalf("unknown repo: %v", err)
	}
	if len(s.Issues()) != 0 {
		t.Fatal("an issue was created")
	}
	if got := s.RequestsTo("/repos/acme/elsewhere/issues"); len(got) != 1 || got[0].Status != http.StatusNotFound {
		t.Fatalf("RequestsTo = %+v", got)
	}
}

func TestListByLabelsSinceAndPages(t *testing.T) {
	s, clk := newServer(t)
	c := rootClient(t, s)
	ctx := context.Background()
	createIssue(t, c, "one", "incident", "INC-1")
	clk.Add(time.Minute)
	createIssue(t, c, "two", "incident", "INC-2")
	clk.Add(time.Minute)
	createIssue(t, c, "three", "incident", "INC-1")
	clk.Add(time.Minute)
	createIssue(t, c, "four", "other")
	clk.Add(time.Minute)
	since := clk.Now()
	s.AddUser("octocat")
	if err := s.CloseIssue(1, "octocat"); err != nil {
		t.Fatal(err)
	}

	numbers := func(iss []*github.Issue) []int {
		var out []int
		for _, is := range iss {
			out = append(out, is.GetNumber())
			if is.ClosedBy != nil {
				t.Errorf("list result #%d carries closed_by", is.GetNumber())
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opt  github.IssueListByRepoOptions
		want []int
	}{
		{"default: open, newest first", github.IssueListByRepoOptions{}, []int{4, 3, 2}},
		{"labels all match", github.IssueListByRepoOptions{State: "all", Labels: []string{"incident", "inc-1"}}, []int{3, 1}},
		{"closed", github.IssueListByRepoOptions{State: "closed"}, []int{1}},
		{"since, updated ascending", github.IssueListByRepoOptions{State: "all", Since: since, Sort: "updated", Direction: "asc"}, []int{1}},
		{"sort updated desc", github.IssueListByRepoOptions{State: "all", Sort: "updated"}, []int{1, 4, 3, 2}},
		// since filters on updated_at: an issue created before since and
		// changed after is listed (the tracker's Find relies on created
		// >= since implying updated >= since).
		{"since, label, newest created first", github.IssueListByRepoOptions{State: "all", Labels: []string{"incident"}, Since: since, Sort: "created", Direction: "desc"}, []int{1}},
		{"label, newest created first", github.IssueListByRepoOptions{State: "all", Labels: []string{"incident"}, Sort: "created", Direction: "desc"}, []int{3, 2, 1}},
	} {
		got, _, err := c.Issues.ListByRepo(ctx, "acme", "ops", &tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if g := numbers(got); !equalInts(g, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, g, tc.want)
		}
	}

	// Pagination with Link headers, followed as go-github does.
	opt := &github.IssueListByRepoOptions{State: "all", Direction: "asc", ListOptions: github.ListOptions{PerPage: 3}}
	var all []int
	pages := 0
	for {
		got, resp, err := c.Issues.ListByRepo(ctx, "acme", "ops", opt)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, numbers(got)...)
		if pages == 1 && (resp.NextPage != 2 || resp.LastPage != 2) {
			t.Errorf("first page: next %d last %d", resp.NextPage, resp.LastPage)
		}
		if resp.NextPage == 0 {
			break
		}
		opt.ListOptions.Page = resp.NextPage
	}
	if pages != 2 || !equalInts(all, []int{1, 2, 3, 4}) {
		t.Fatalf("paged: %d pages, %v", pages, all)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSearchIssues(t *testing.T) {
	s, clk := newServer(t)
	s.AddUser("octocat")
	c := enterpriseClient(t, s, testToken)
	ctx := context.Background()
	createIssue(t, c, "one", "incident", "INC-1")
	createIssue(t, c, "two", "incident", "INC-2")
	createIssue(t, c, "three", "bug")
	clk.Add(time.Hour)
	checkpoint := clk.Now()
	clk.Add(time.Minute)
	if err := s.CloseIssue(2, "octocat"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		q    string
		want []int
	}{
		{"repo:acme/ops is:issue label:incident", []int{2, 1}},
		{`repo:acme/ops is:issue label:"incident" updated:>=` + checkpoint.Format(time.RFC3339), []int{2}},
		{"repo:acme/ops is:issue label:incident is:closed", []int{2}},
		{"repo:acme/ops is:issue label:incident state:open", []int{1}},
		{"repo:acme/ops updated:>=2026-03-02", []int{3, 2, 1}},
		{"repo:acme/ops updated:>2026-03-02", nil},
		{"repo:acme/ops is:pr", nil},
		{"repo:acme/ops thre", []int{3}},
		{"repo:acme/ops label:bug,incident", nil},
	} {
		res, _, err := c.Search.Issues(ctx, tc.q, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		var got []int
		for _, is := range res.Issues {
			got = append(got, is.GetNumber())
			if is.ClosedBy != nil {
				t.Errorf("%q: search result carries closed_by", tc.q)
			}
		}
		if res.GetTotal() != len(tc.want) || res.GetIncompleteResults() || !equalInts(got, tc.want) {
			t.Errorf("%q: total %d, got %v, want %v", tc.q, res.GetTotal(), got, tc.want)
		}
	}

	// Sorted by updated, paged.
	res, resp, err := c.Search.Issues(ctx, "repo:acme/ops is:issue", &github.SearchOptions{Sort: "updated", Order: "desc", ListOptions: github.ListOptions{PerPage: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetTotal() != 3 || len(res.Issues) != 1 || res.Issues[0].GetNumber() != 2 || resp.NextPage != 2 || resp.LastPage != 3 {
		t.Fatalf("paged search: total %d, %d items, next %d last %d", res.GetTotal(), len(res.Issues), resp.NextPage, resp.LastPage)
	}
	if resp.Rate.Limit != 30 || resp.Header.Get("X-RateLimit-Resource") != "search" {
		t.Errorf("search rate: %+v resource %q", resp.Rate, resp.Header.Get("X-RateLimit-Resource"))
	}

	for _, q := range []string{"repo:other/repo is:issue", "repo:acme/ops assignee:octocat", "repo:acme/ops -label:bug", "repo:acme/ops updated:>=yesterday", ""} {
		_, resp, err := c.Search.Issues(ctx, q, nil)
		if resp == nil || resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%q: %v", q, err)
		}
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	s, clk := newServer(t, func(c *Config) { c.CoreLimit = 2 })
	c := rootClient(t, s)
	ctx := context.Background()

	_, resp, err := c.Issues.ListByRepo(ctx, "acme", "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rate.Limit != 2 || resp.Rate.Remaining != 1 || resp.Rate.Used != 1 || resp.Rate.Resource != "core" ||
		!resp.Rate.Reset.Time.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("rate after one request: %+v", resp.Rate)
	}
	if _, resp, err = c.Issues.ListByRepo(ctx, "acme", "ops", nil); err != nil || resp.Rate.Remaining != 0 {
		t.Fatalf("second: %v %+v", err, resp.Rate)
	}
	// A fresh client (go-github remembers an exhausted limit and would not
	// even send the request) is refused with a primary rate limit error.
	_, _, err = rootClient(t, s).Issues.ListByRepo(ctx, "acme", "ops", nil)
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || rle.Rate.Remaining != 0 {
		t.Fatalf("third: %v", err)
	}
	// The window resets after an hour.
	clk.Add(time.Hour)
	if _, resp, err = rootClient(t, s).Issues.ListByRepo(ctx, "acme", "ops", nil); err != nil || resp.Rate.Remaining != 1 {
		t.Fatalf("after reset: %v", err)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	s, _ := newServer(t)
	c := rootClient(t, s)
	ctx := context.Background()
	s.SecondaryRateLimit(1, 42*time.Second)

	_, resp, err := c.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{Title: github.Ptr("x")})
	var are *github.AbuseRateLimitError
	if !errors.As(err, &are) || are.GetRetryAfter() != 42*time.Second {
		t.Fatalf("secondary: %v", err)
	}
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Retry-After") != "42" || resp.Header.Get("X-RateLimit-Remaining") == "0" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	if len(s.Issues()) != 0 {
		t.Fatal("the limited request created an issue")
	}
	// The next request (from a client that does not wait out the
	// retry-after) goes through.
	createIssue(t, rootClient(t, s), "y")
}

func TestFailNextDownLatency(t *testing.T) {
	s, _ := newServer(t)
	c := enterpriseClient(t, s, testToken)
	ctx := context.Background()

	s.FailNext("/repos/acme/ops/issues", 1, http.StatusBadGateway)
	_, resp, err := c.Issues.Create(ctx, "acme", "ops", &github.IssueRequest{Title: github.Ptr("x")})
	if err == nil || resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-RateLimit-Limit") == "" {
		t.Fatalf("FailNext: %v", err)
	}
	createIssue(t, c, "x")
	s.FailNext("/repos/", 2, http.StatusInternalServerError)
	for i := 0; i < 2; i++ {
		if _, resp, _ := c.Issues.Get(ctx, "acme", "ops", 1); resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("prefix fault %d: status %d", i, resp.StatusCode)
		}
	}
	if _, _, err := c.Issues.Get(ctx, "acme", "ops", 1); err != nil {
		t.Fatal(err)
	}

	s.SetDown(true)
	if _, resp, err := c.Issues.Get(ctx, "acme", "ops", 1); err == nil || (resp != nil && resp.Response != nil) {
		t.Fatalf("down: %v", err)
	}
	s.SetDown(false)
	if got := s.RequestsTo("/repos/acme/ops/issues/1"); got[len(got)-1].Status != 0 {
		t.Errorf("dropped request recorded with status %d", got[len(got)-1].Status)
	}

	s.SetLatency(300 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Issues.Get(short, "acme", "ops", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency: %v", err)
	}
	s.SetLatency(0)
	if _, _, err := c.Issues.Get(ctx, "acme", "ops", 1); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := newServer(t)
	s.AddUser("octocat")
	c := rootClient(t, s)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			is, _, err := c.Issues.Create(context.Background(), "acme", "ops", &github.IssueRequest{Title: github.Ptr("x")})
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.CloseIssue(is.GetNumber(), "octocat"); err != nil {
				t.Error(err)
			}
			_ = s.Requests()
		}()
	}
	wg.Wait()
	for _, is := range s.Issues() {
		if is.State != "closed" {
			t.Errorf("#%d is %s", is.Number, is.State)
		}
	}
	if n := len(s.Issues()); n != 16 {
		t.Fatalf("%d issues", n)
	}
}
