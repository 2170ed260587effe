package jiraemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// No maintained Go Jira Cloud client is served by the module proxy here, so
// these tests speak to the emulator the way the bot's own small client
// does: net/http, Basic auth and typed request and response structs.

const (
	testEmail = "bot@example.com"
	testToken = "ATATT3xFfGF0emulator"
)

// --- typed requests and responses ---------------------------------------------

type keyRef struct {
	Key string `json:"key"`
}

type nameRef struct {
	Name string `json:"name"`
}

type accountRef struct {
	AccountID string `json:"accountId"`
}

type adfNode struct {
	Type    string    `json:"type"`
	Version int       `json:"version,omitempty"`
	Text    string    `json:"text,omitempty"`
	Content []adfNode `json:"content,omitempty"`
}

func adfParagraph(text string) *adfNode {
	return &adfNode{Type: "doc", Version: 1, Content: []adfNode{{Type: "paragraph", Content: []adfNode{{Type: "text", Text: text}}}}}
}

type createFields struct {
	Project     keyRef      `json:"project"`
	Summary     string      `json:"summary"`
	IssueType   nameRef     `json:"issuetype"`
	Description *adfNode    `json:"description,omitempty"`
	Labels      []string    `json:"labels,omitempty"`
	Assignee    *accountRef `json:"assignee,omitempty"`
	DueDate     string      `json:"duedate,omitempty"`
}

type createRequest struct {
	Fields createFields `json:"fields"`
}

type createdIssue struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Self string `json:"self"`
}

type jiraUser struct {
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"`
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
	Active       bool   `json:"active"`
}

type jiraStatus struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	StatusCategory struct {
		Key string `json:"key"`
	} `json:"statusCategory"`
}

type issueFields struct {
	Summary     string          `json:"summary"`
	Description json.RawMessage `json:"description"`
	Labels      []string        `json:"labels"`
	Status      *jiraStatus     `json:"status"`
	Assignee    *jiraUser       `json:"assignee"`
	Reporter    *jiraUser       `json:"reporter"`
	DueDate     *string         `json:"duedate"`
	Resolution  *nameRef        `json:"resolution"`
	Updated     string          `json:"updated"`
	Created     string          `json:"created"`
	IssueType   *nameRef        `json:"issuetype"`
	Project     *keyRef         `json:"project"`
}

type changeItem struct {
	Field      string  `json:"field"`
	From       *string `json:"from"`
	FromString *string `json:"fromString"`
	To         *string `json:"to"`
	ToString   *string `json:"toString"`
}

type history struct {
	ID      string       `json:"id"`
	Author  jiraUser     `json:"author"`
	Created string       `json:"created"`
	Items   []changeItem `json:"items"`
}

type changelog struct {
	Total     int       `json:"total"`
	Histories []history `json:"histories"`
}

type jiraIssue struct {
	ID        string       `json:"id"`
	Key       string       `json:"key"`
	Self      string       `json:"self"`
	Fields    *issueFields `json:"fields"`
	Changelog *changelog   `json:"changelog"`
}

type jiraTransition struct {
	ID   string     `json:"id"`
	Name string     `json:"name"`
	To   jiraStatus `json:"to"`
}

type transitionsResponse struct {
	Transitions []jiraTransition `json:"transitions"`
}

type searchBody struct {
	JQL           string   `json:"jql"`
	NextPageToken string   `json:"nextPageToken,omitempty"`
	MaxResults    int      `json:"maxResults,omitempty"`
	Fields        []string `json:"fields,omitempty"`
	Expand        string   `json:"expand,omitempty"`
}

type searchResponse struct {
	Issues        []jiraIssue `json:"issues"`
	NextPageToken string      `json:"nextPageToken"`
	IsLast        bool        `json:"isLast"`
}

type errorCollection struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

// --- harness -----------------------------------------------------------------

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

func newServer(t *testing.T) (*Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s, err := New(Config{Email: testEmail, APIToken: testToken, Projects: []string{"OPS", "SEC"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, clk
}

// client is the small typed client the tests use.
type client struct {
	t            *testing.T
	base         string
	email, token string
	ctx          context.Context
}

func newClient(t *testing.T, s *Server) *client {
	return &client{t: t, base: s.URL(), email: testEmail, token: testToken, ctx: context.Background()}
}

// send does one request and returns the response and its body; a transport
// error is returned, not fatal.
func (c *client) send(method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.email != "" {
		req.SetBasicAuth(c.email, c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// do sends a request, decodes the answer into out when the status is want,
// and fails the test otherwise.
func (c *client) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	resp, raw, err := c.send(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

// fail sends a request that must be refused with want and returns Jira's
// error collection.
func (c *client) fail(method, path string, body any, want int) errorCollection {
	c.t.Helper()
	var ec errorCollection
	c.do(method, path, body, want, &ec)
	return ec
}

func (c *client) create(summary string, labels ...string) createdIssue {
	c.t.Helper()
	var out createdIssue
	c.do("POST", "/rest/api/3/issue", createRequest{Fields: createFields{
		Project: keyRef{"OPS"}, Summary: summary, IssueType: nameRef{"Task"}, Labels: labels,
	}}, http.StatusCreated, &out)
	return out
}

func (c *client) get(key string, query string) jiraIssue {
	c.t.Helper()
	var out jiraIssue
	c.do("GET", "/rest/api/3/issue/"+key+query, nil, http.StatusOK, &out)
	return out
}

// --- tests -------------------------------------------------------------------

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{
		{APIToken: "t", Projects: []string{"OPS"}},
		{Email: "e", Projects: []string{"OPS"}},
		{Email: "e", APIToken: "t"},
		{Email: "e", APIToken: "t", Projects: []string{"ops"}},
		{Email: "e", APIToken: "t", Projects: []string{"O"}},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestCreateGetEdit(t *testing.T) {
	s, clk := newServer(t)
	alice := s.AddUser("alice@example.com", "Alice Liddell")
	c := newClient(t, s)

	var created createdIssue
	c.do("POST", "/rest/api/3/issue", createRequest{Fields: createFields{
		Project: keyRef{"OPS"}, Summary: "A1: add a checkout canary", IssueType: nameRef{"Task"},
		Description: adfParagraph("From INC-7 Checkout is down"),
		Labels:      []string{"incident", "INC-7"},
		Assignee:    &accountRef{alice},
		DueDate:     "2026-03-16",
	}}, http.StatusCreated, &created)
	if created.Key != "OPS-1" || created.ID == "" || created.Self != s.URL()+"/rest/api/3/issue/"+created.ID {
		t.Fatalf("created = %+v", created)
	}

	got := c.get("OPS-1", "")
	f := got.Fields
	if got.Key != "OPS-1" || f.Summary != "A1: add a checkout canary" || f.Status.Name != "To Do" || f.Status.StatusCategory.Key != "new" ||
		f.Assignee == nil || f.Assignee.AccountID != alice || f.Assignee.EmailAddress != "alice@example.com" ||
		f.DueDate == nil || *f.DueDate != "2026-03-16" || f.Resolution != nil || f.IssueType.Name != "Task" || f.Project.Key != "OPS" ||
		f.Reporter.EmailAddress != testEmail || len(f.Labels) != 2 || f.Created != "2026-03-02T09:00:00.000+0000" {
		t.Fatalf("issue = %+v fields %+v", got, f)
	}
	var desc adfNode
	if err := json.Unmarshal(f.Description, &desc); err != nil || desc.Content[0].Content[0].Text != "From INC-7 Checkout is down" {
		t.Fatalf("description = %s", f.Description)
	}
	// By id too, and only the fields asked for.
	if byID := c.get(created.ID, "?fields=summary,status"); byID.Key != "OPS-1" || byID.Fields.Assignee != nil || byID.Fields.Status == nil {
		t.Fatalf("by id with fields: %+v", byID.Fields)
	}

	// The bot changes the owner and the due date.
	clk.Add(time.Minute)
	bob := s.AddUser("bob@example.com", "Bob")
	c.do("PUT", "/rest/api/3/issue/OPS-1", map[string]any{"fields": map[string]any{
		"assignee": accountRef{bob}, "duedate": "2026-03-20",
	}}, http.StatusNoContent, nil)
	got = c.get("OPS-1", "?expand=changelog")
	if got.Fields.Assignee.AccountID != bob || *got.Fields.DueDate != "2026-03-20" || got.Fields.Updated != "2026-03-02T09:01:00.000+0000" {
		t.Fatalf("after edit: %+v", got.Fields)
	}
	if cl := got.Changelog; cl == nil || cl.Total != 1 || cl.Histories[0].Author.EmailAddress != testEmail || len(cl.Histories[0].Items) != 2 ||
		cl.Histories[0].Items[0].Field != "assignee" || *cl.Histories[0].Items[0].To != bob {
		t.Fatalf("changelog = %+v", got.Changelog)
	}
	// Unassign and clear the due date; labels through "update".
	c.do("PUT", "/rest/api/3/issue/OPS-1", map[string]any{
		"fields": map[string]any{"assignee": nil, "duedate": nil},
		"update": map[string]any{"labels": []map[string]string{{"add": "followup"}, {"remove": "INC-7"}}},
	}, http.StatusNoContent, nil)
	c.do("PUT", "/rest/api/3/issue/OPS-1/assignee", accountRef{alice}, http.StatusNoContent, nil)
	is, ok := s.Issue("OPS-1")
	if !ok || is.AssigneeID != alice || is.DueDate != "" || strings.Join(is.Labels, ",") != "incident,followup" || len(is.History) != 6 {
		t.Fatalf("Issue() = %+v", is)
	}
	if all := s.Issues(); len(all) != 1 || all[0].Key != "OPS-1" || all[0].ReporterID != s.AddUser(testEmail, "") {
		t.Fatalf("Issues() = %+v", all)
	}
}

func TestCreateAndEditValidation(t *testing.T) {
	s, _ := newServer(t)
	c := newClient(t, s)
	ok := createFields{Project: keyRef{"OPS"}, Summary: "x", IssueType: nameRef{"Task"}}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"unknown project", createRequest{Fields: func() createFields { f := ok; f.Project = keyRef{"NOPE"}; return f }()}, "project"},
		{"no summary", createRequest{Fields: func() createFields { f := ok; f.Summary = ""; return f }()}, "summary"},
		{"bad issue type", createRequest{Fields: func() createFields { f := ok; f.IssueType = nameRef{"Saga"}; return f }()}, "issuetype"},
		{"unknown assignee", createRequest{Fields: func() createFields { f := ok; f.Assignee = &accountRef{"nobody"}; return f }()}, "assignee"},
		{"bad due date", createRequest{Fields: func() createFields { f := ok; f.DueDate = "16/03/2026"; return f }()}, "duedate"},
		{"label with a space", createRequest{Fields: func() createFields { f := ok; f.Labels = []string{"INC 7"}; return f }()}, "labels"},
		{"plain-text description", map[string]any{"fields": map[string]any{"project": keyRef{"OPS"}, "summary": "x", "issuetype": nameRef{"Task"}, "description": "text"}}, "description"},
		{"unknown field", map[string]any{"fields": map[string]any{"project": keyRef{"OPS"}, "summary": "x", "issuetype": nameRef{"Task"}, "priority": nameRef{"High"}}}, "priority"},
	} {
		ec := c.fail("POST", "/rest/api/3/issue", tc.body, http.StatusBadRequest)
		if ec.Errors[tc.field] == "" {
			t.Errorf("%s: errors = %v", tc.name, ec.Errors)
		}
	}
	if len(s.Issues()) != 0 {
		t.Fatal("a refused create made an issue")
	}
	c.fail("POST", "/rest/api/3/issue", "not an object", http.StatusBadRequest)

	c.create("x")
	if ec := c.fail("PUT", "/rest/api/3/issue/OPS-1", map[string]any{"fields": map[string]any{"status": nameRef{"Done"}}}, http.StatusBadRequest); ec.Errors["status"] == "" {
		t.Errorf("status through edit: %+v", ec)
	}
	if ec := c.fail("PUT", "/rest/api/3/issue/OPS-1", map[string]any{"fields": map[string]any{"assignee": accountRef{"nobody"}}}, http.StatusBadRequest); ec.Errors["assignee"] == "" {
		t.Errorf("unknown assignee: %+v", ec)
	}
	if ec := c.fail("GET", "/rest/api/3/issue/OPS-9", nil, http.StatusNotFound); len(ec.ErrorMessages) != 1 || !strings.Contains(ec.ErrorMessages[0], "does not exist") {
		t.Errorf("missing issue: %+v", ec)
	}
	c.fail("PUT", "/rest/api/3/issue/OPS-9", map[string]any{"fields": map[string]any{}}, http.StatusNotFound)
	c.fail("POST", "/rest/api/3/issue/OPS-9/transitions", map[string]any{"transition": map[string]string{"id": "31"}}, http.StatusNotFound)
}

func TestTransitions(t *testing.T) {
	s, clk := newServer(t)
	c := newClient(t, s)
	c.create("x")

	// transitionTo picks the transition by its target's status category, as
	// a client should.
	transitionTo := func(category string) {
		t.Helper()
		var tr transitionsResponse
		c.do("GET", "/rest/api/3/issue/OPS-1/transitions", nil, http.StatusOK, &tr)
		for _, x := range tr.Transitions {
			if x.To.StatusCategory.Key == category {
				c.do("POST", "/rest/api/3/issue/OPS-1/transitions", map[string]any{"transition": map[string]string{"id": x.ID}}, http.StatusNoContent, nil)
				return
			}
		}
		t.Fatalf("no transition to %s in %+v", category, tr)
	}

	var tr transitionsResponse
	c.do("GET", "/rest/api/3/issue/OPS-1/transitions", nil, http.StatusOK, &tr)
	if len(tr.Transitions) != 2 || tr.Transitions[0].ID != "21" || tr.Transitions[0].To.Name != "In Progress" || tr.Transitions[1].To.StatusCategory.Key != "done" {
		t.Fatalf("from To Do: %+v", tr)
	}
	clk.Add(time.Minute)
	transitionTo("done")
	got := c.get("OPS-1", "")
	if got.Fields.Status.Name != "Done" || got.Fields.Resolution == nil || got.Fields.Resolution.Name != "Done" || got.Fields.Updated != "2026-03-02T09:01:00.000+0000" {
		t.Fatalf("after done: %+v", got.Fields)
	}
	c.do("GET", "/rest/api/3/issue/OPS-1/transitions", nil, http.StatusOK, &tr)
	if len(tr.Transitions) != 1 || tr.Transitions[0].Name != "Reopen" || tr.Transitions[0].To.StatusCategory.Key != "new" {
		t.Fatalf("from Done: %+v", tr)
	}
	if ec := c.fail("POST", "/rest/api/3/issue/OPS-1/transitions", map[string]any{"transition": map[string]string{"id": "21"}}, http.StatusBadRequest); !strings.Contains(ec.ErrorMessages[0], "'21' is not valid") {
		t.Errorf("invalid transition: %+v", ec)
	}
	if ec := c.fail("POST", "/rest/api/3/issue/OPS-1/transitions", map[string]any{"transition": map[string]string{"id": "41"}, "fields": map[string]any{"resolution": nameRef{"Done"}}}, http.StatusBadRequest); ec.Errors["resolution"] == "" {
		t.Errorf("fields on a transition without screen: %+v", ec)
	}
	c.fail("POST", "/rest/api/3/issue/OPS-1/transitions", map[string]any{}, http.StatusBadRequest)
	transitionTo("new")
	if got := c.get("OPS-1", ""); got.Fields.Status.Name != "To Do" || got.Fields.Resolution != nil {
		t.Fatalf("after reopen: %+v", got.Fields)
	}
}

func TestTransitionAsIsInTheChangelog(t *testing.T) {
	s, clk := newServer(t)
	c := newClient(t, s)
	carol := s.AddUser("carol@example.com", "Carol")
	c.create("x")
	clk.Add(time.Hour)
	if err := s.TransitionAs("OPS-1", "Done", carol); err != nil {
		t.Fatal(err)
	}
	got := c.get("OPS-1", "?expand=changelog&fields=status")
	h := got.Changelog.Histories
	if len(h) != 1 || h[0].Author.AccountID != carol || h[0].Created != "2026-03-02T10:00:00.000+0000" || len(h[0].Items) != 2 {
		t.Fatalf("histories = %+v", h)
	}
	if it := h[0].Items[0]; it.Field != "status" || *it.FromString != "To Do" || *it.ToString != "Done" || *it.To != "10001" {
		t.Fatalf("status item = %+v", it)
	}
	if it := h[0].Items[1]; it.Field != "resolution" || it.FromString != nil || *it.ToString != "Done" {
		t.Fatalf("resolution item = %+v", it)
	}
	for _, tc := range []struct{ key, to, who string }{
		{"OPS-1", "In Progress", carol}, // Done → In Progress is not in the workflow
		{"OPS-2", "Done", carol},
		{"OPS-1", "To Do", "nobody"},
	} {
		if err := s.TransitionAs(tc.key, tc.to, tc.who); err == nil {
			t.Errorf("TransitionAs(%+v) succeeded", tc)
		}
	}
	if err := s.TransitionAs("OPS-1", "to do", carol); err != nil {
		t.Fatal(err)
	}
	if is, _ := s.Issue("OPS-1"); is.Status != "To Do" || is.Resolution != "" || !is.ResolutionDate.IsZero() || len(is.History) != 4 || is.History[3].AuthorID != carol {
		t.Fatalf("after reopen: %+v", is)
	}
}

func TestUserSearch(t *testing.T) {
	s, _ := newServer(t)
	c := newClient(t, s)
	alice := s.AddUser("alice@example.com", "Alice Liddell")
	s.AddUser("alicia@example.com", "Alicia Keys")
	if again := s.AddUser("ALICE@example.com", "Other"); again != alice || len(alice) != 24 {
		t.Fatalf("AddUser again = %q, first %q", again, alice)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"alice@example.com", []string{"alice@example.com"}},
		{"ALICE@EXAMPLE.COM", []string{"alice@example.com"}},
		{"ali", []string{"alice@example.com", "alicia@example.com"}},
		{"liddell", []string{"alice@example.com"}},
		{"zed@example.com", nil},
	} {
		var users []jiraUser
		c.do("GET", "/rest/api/3/user/search?query="+url.QueryEscape(tc.query), nil, http.StatusOK, &users)
		var got []string
		for _, u := range users {
			got = append(got, u.EmailAddress)
			if u.AccountID == "" || u.AccountType != "atlassian" || !u.Active || u.DisplayName == "" {
				t.Errorf("%q: user %+v", tc.query, u)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q: got %v, want %v", tc.query, got, tc.want)
		}
	}
	var users []jiraUser
	c.do("GET", "/rest/api/3/user/search?accountId="+alice, nil, http.StatusOK, &users)
	if len(users) != 1 || users[0].DisplayName != "Alice Liddell" {
		t.Fatalf("by accountId: %+v", users)
	}
	c.fail("GET", "/rest/api/3/user/search", nil, http.StatusBadRequest)
	var me jiraUser
	c.do("GET", "/rest/api/3/myself", nil, http.StatusOK, &me)
	if me.EmailAddress != testEmail || me.DisplayName != "incidentbot" {
		t.Fatalf("myself = %+v", me)
	}
}

func TestJQLSearch(t *testing.T) {
	s, clk := newServer(t)
	c := newClient(t, s)
	dave := s.AddUser("dave@example.com", "Dave")
	c.create("one", "incident", "INC-1")
	clk.Add(time.Minute)
	c.create("two", "incident", "INC-2")
	clk.Add(time.Minute)
	c.create("three", "other")
	clk.Add(10 * time.Minute) // 09:12
	if err := s.TransitionAs("OPS-2", "Done", dave); err != nil {
		t.Fatal(err)
	}

	keys := func(r searchResponse) string {
		var out []string
		for _, is := range r.Issues {
			out = append(out, is.Key)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		jql  string
		want string
	}{
		{`project = OPS AND labels = incident`, "OPS-2,OPS-1"},
		{`project = OPS AND labels = incident AND updated >= "2026-03-02 09:10"`, "OPS-2"},
		{`project = "OPS" AND updated >= "2026/03/02 09:01" ORDER BY updated ASC`, "OPS-3,OPS-2"},
		{`project = OPS AND updated >= -5m`, "OPS-2"},
		{`project = OPS AND updated > "2026-03-02"`, "OPS-3,OPS-2,OPS-1"},
		{`labels in (INC-1, INC-2) ORDER BY key ASC`, "OPS-1,OPS-2"},
		{`project = OPS AND statusCategory = Done`, "OPS-2"},
		{`project = OPS AND status != "Done" AND labels = incident`, "OPS-1"},
		{`issuekey in ("OPS-1", OPS-3)`, "OPS-3,OPS-1"},
		// The tracker's Find: a quoted label, created relative, newest first.
		{`project = OPS AND labels = incident AND labels = "INC-1" AND created >= -13m ORDER BY created DESC`, "OPS-1"},
		{`project = OPS AND labels = incident AND created >= -13m ORDER BY created DESC`, "OPS-2,OPS-1"},
		{`project = OPS AND labels = incident AND labels = "INC-1" AND created >= -11m ORDER BY created DESC`, ""},
	} {
		var r searchResponse
		c.do("POST", "/rest/api/3/search/jql", searchBody{JQL: tc.jql, Fields: []string{"summary", "status", "updated"}}, http.StatusOK, &r)
		if got := keys(r); got != tc.want || !r.IsLast || r.NextPageToken != "" {
			t.Errorf("%s: got %q (isLast %v), want %q", tc.jql, got, r.IsLast, tc.want)
		}
		for _, is := range r.Issues {
			if is.Fields == nil || is.Fields.Status == nil || is.Fields.Summary == "" || is.Fields.Assignee != nil {
				t.Errorf("%s: fields %+v", tc.jql, is.Fields)
			}
		}
	}

	// Without fields only ids come back; with expand the changelog tells who
	// closed it.
	var r searchResponse
	c.do("POST", "/rest/api/3/search/jql", searchBody{JQL: "project = OPS AND statusCategory = Done"}, http.StatusOK, &r)
	if len(r.Issues) != 1 || r.Issues[0].ID == "" || r.Issues[0].Key != "" || r.Issues[0].Fields != nil {
		t.Fatalf("without fields: %+v", r.Issues)
	}
	c.do("POST", "/rest/api/3/search/jql", searchBody{JQL: "project = OPS AND statusCategory = Done", Fields: []string{"status"}, Expand: "changelog"}, http.StatusOK, &r)
	if cl := r.Issues[0].Changelog; cl == nil || cl.Histories[0].Author.AccountID != dave {
		t.Fatalf("changelog in search: %+v", r.Issues[0])
	}

	// Pages, through POST then GET.
	var page searchResponse
	c.do("POST", "/rest/api/3/search/jql", searchBody{JQL: "project = OPS ORDER BY created ASC", MaxResults: 2, Fields: []string{"summary"}}, http.StatusOK, &page)
	if keys(page) != "OPS-1,OPS-2" || page.IsLast || page.NextPageToken == "" {
		t.Fatalf("page 1: %q %+v", keys(page), page)
	}
	q := url.Values{"jql": {"project = OPS ORDER BY created ASC"}, "maxResults": {"2"}, "fields": {"summary,status"}, "nextPageToken": {page.NextPageToken}}
	var page2 searchResponse
	c.do("GET", "/rest/api/3/search/jql?"+q.Encode(), nil, http.StatusOK, &page2)
	if keys(page2) != "OPS-3" || !page2.IsLast || page2.NextPageToken != "" || page2.Issues[0].Fields.Status == nil {
		t.Fatalf("page 2: %q %+v", keys(page2), page2)
	}

	for _, jql := range []string{
		"",
		"ORDER BY updated",
		"project = OPS OR labels = x",
		"project = NOPE",
		"status = Closed",
		`updated >= "yesterday"`,
		"priority = High",
		"project = OPS AND resolution is empty",
	} {
		if ec := c.fail("POST", "/rest/api/3/search/jql", searchBody{JQL: jql}, http.StatusBadRequest); len(ec.ErrorMessages) == 0 {
			t.Errorf("%q: no error message", jql)
		}
	}
	c.fail("POST", "/rest/api/3/search/jql", searchBody{JQL: "project = OPS", NextPageToken: "garbage"}, http.StatusBadRequest)
	// The legacy search is gone, as on Jira Cloud.
	if ec := c.fail("GET", "/rest/api/3/search?jql=project%3DOPS", nil, http.StatusGone); !strings.Contains(ec.ErrorMessages[0], "/rest/api/3/search/jql") {
		t.Fatalf("legacy search: %+v", ec)
	}
}

func TestAuthentication(t *testing.T) {
	s, _ := newServer(t)
	for name, c := range map[string]*client{
		"no credentials": {t: t, base: s.URL(), ctx: context.Background()},
		"wrong token":    {t: t, base: s.URL(), email: testEmail, token: "wrong", ctx: context.Background()},
		"wrong email":    {t: t, base: s.URL(), email: "other@example.com", token: testToken, ctx: context.Background()},
	} {
		resp, raw, err := c.send("GET", "/rest/api/3/myself", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || string(raw) != "Client must be authenticated to access this resource." {
			t.Errorf("%s: %d %q", name, resp.StatusCode, raw)
		}
	}
	if len(s.RequestsTo("/rest/api/3/myself")) != 3 {
		t.Error("requests not recorded")
	}
}

func TestFaults(t *testing.T) {
	s, _ := newServer(t)
	c := newClient(t, s)

	s.FailNext("/rest/api/3/issue", 1, http.StatusTooManyRequests)
	resp, _, err := c.send("POST", "/rest/api/3/issue", createRequest{Fields: createFields{Project: keyRef{"OPS"}, Summary: "x", IssueType: nameRef{"Task"}}})
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("429: %v %v", resp, err)
	}
	if len(s.Issues()) != 0 {
		t.Fatal("a failed create made an issue")
	}
	c.create("x")
	s.FailNext("/rest/api/3/issue/", 2, http.StatusServiceUnavailable)
	c.fail("GET", "/rest/api/3/issue/OPS-1", nil, http.StatusServiceUnavailable)
	c.fail("GET", "/rest/api/3/issue/OPS-1/transitions", nil, http.StatusServiceUnavailable)
	c.get("OPS-1", "")

	s.SetDown(true)
	if _, _, err := c.send("GET", "/rest/api/3/issue/OPS-1", nil); err == nil {
		t.Fatal("down: request succeeded")
	}
	s.SetDown(false)
	reqs := s.RequestsTo("/rest/api/3/issue/OPS-1")
	if reqs[len(reqs)-1].Status != 0 {
		t.Errorf("dropped request recorded with status %d", reqs[len(reqs)-1].Status)
	}

	s.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	slow := &client{t: t, base: s.URL(), email: testEmail, token: testToken, ctx: ctx}
	if _, _, err := slow.send("GET", "/rest/api/3/issue/OPS-1", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency: %v", err)
	}
	s.SetLatency(0)
	c.get("OPS-1", "")
}

func TestConcurrentUse(t *testing.T) {
	s, _ := newServer(t)
	erin := s.AddUser("erin@example.com", "Erin")
	c := newClient(t, s)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, raw, err := c.send("POST", "/rest/api/3/issue", createRequest{Fields: createFields{Project: keyRef{"SEC"}, Summary: "x", IssueType: nameRef{"Bug"}}})
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Errorf("create: %v %s", err, raw)
				return
			}
			var ci createdIssue
			if err := json.Unmarshal(raw, &ci); err != nil {
				t.Error(err)
				return
			}
			if err := s.TransitionAs(ci.Key, "Done", erin); err != nil {
				t.Error(err)
			}
			_ = s.Requests()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, is := range s.Issues() {
		if is.Status != "Done" || seen[is.Key] || is.Project != "SEC" {
			t.Errorf("issue %+v (duplicate key: %v)", is, seen[is.Key])
		}
		seen[is.Key] = true
	}
	if len(seen) != 16 {
		t.Fatalf("%d issues", len(seen))
	}
}
