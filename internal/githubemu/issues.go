package githubemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Issue is the state of one issue, as read back by tests.
type Issue struct {
	Number int
	Title  string
	Body   string
	// State is "open" or "closed".
	State string
	// StateReason is "", "completed", "not_planned" or "reopened".
	StateReason string
	Labels      []string
	Assignees   []string // logins
	Author      string   // login
	// ClosedBy is the login that last closed the issue; "" while open.
	ClosedBy  string
	HTMLURL   string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ClosedAt is zero while the issue is open.
	ClosedAt time.Time
}

// user is a GitHub account that is a collaborator of the repository.
type user struct {
	login string
	id    int64
}

// label is a repository label, created the first time an issue uses it.
type label struct {
	id   int64
	name string
}

// issue is the stored state of one issue.
type issue struct {
	Issue
}

// AddUser registers login as a GitHub user with push access to the
// repository, so that issues can be assigned to it and CloseIssue and
// ReopenIssue can act as it. Adding a login twice is harmless. Logins are
// matched case-insensitively, as on GitHub.
func (s *Server) AddUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(login)
}

func (s *Server) addUserLocked(login string) *user {
	if u, ok := s.users[strings.ToLower(login)]; ok {
		return u
	}
	s.nextUserID++
	u := &user{login: login, id: 1000 + s.nextUserID}
	s.users[strings.ToLower(login)] = u
	return u
}

// CloseIssue closes issue number as login would in GitHub's web page, with
// state_reason "completed": closed_by becomes login, closed_at and
// updated_at the current time. It fails when the issue does not exist, is
// already closed, or login was not added with AddUser.
func (s *Server) CloseIssue(number int, login string) error {
	return s.setState(number, login, "closed")
}

// ReopenIssue reopens issue number as login would, with state_reason
// "reopened". It fails when the issue does not exist, is open, or login was
// not added with AddUser.
func (s *Server) ReopenIssue(number int, login string) error {
	return s.setState(number, login, "open")
}

func (s *Server) setState(number int, login, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[strings.ToLower(login)]
	if !ok {
		return fmt.Errorf("githubemu: set issue #%d %s: unknown user %q", number, state, login)
	}
	is := s.issueLocked(number)
	if is == nil {
		return fmt.Errorf("githubemu: set issue #%d %s: no such issue", number, state)
	}
	if is.State == state {
		return fmt.Errorf("githubemu: set issue #%d %s: already %s", number, state, state)
	}
	s.changeStateLocked(is, state, "", u.login)
	return nil
}

// changeStateLocked moves is to state ("open" or "closed") as login did,
// with reason (defaulted as GitHub does).
func (s *Server) changeStateLocked(is *issue, state, reason, login string) {
	now := s.nowSecond()
	is.State = state
	if state == "closed" {
		if reason == "" {
			reason = "completed"
		}
		is.StateReason = reason
		is.ClosedBy = login
		is.ClosedAt = now
	} else {
		is.StateReason = "reopened"
		is.ClosedBy = ""
		is.ClosedAt = time.Time{}
	}
	is.UpdatedAt = now
}

// Issues returns a copy of every issue, by number.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.issues))
	for i, is := range s.issues {
		out[i] = copyIssue(is.Issue)
	}
	return out
}

// Issue returns a copy of issue number, and false when there is none.
func (s *Server) Issue(number int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueLocked(number)
	if is == nil {
		return Issue{}, false
	}
	return copyIssue(is.Issue), true
}

func copyIssue(i Issue) Issue {
	i.Labels = slices.Clone(i.Labels)
	i.Assignees = slices.Clone(i.Assignees)
	return i
}

func (s *Server) issueLocked(number int) *issue {
	if number < 1 || number > len(s.issues) {
		return nil
	}
	return s.issues[number-1]
}

func (s *Server) nowSecond() time.Time { return s.now().UTC().Truncate(time.Second) }

// --- JSON shapes -----------------------------------------------------------

type userJSON struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	AvatarURL string `json:"avatar_url"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
}

type labelJSON struct {
	ID          int64  `json:"id"`
	NodeID      string `json:"node_id"`
	URL         string `json:"url"`
	Name        string `json:"name"`
	Color       string `json:"color"`
	Default     bool   `json:"default"`
	Description string `json:"description"`
}

type issueJSON struct {
	ID                int64       `json:"id"`
	NodeID            string      `json:"node_id"`
	URL               string      `json:"url"`
	RepositoryURL     string      `json:"repository_url"`
	LabelsURL         string      `json:"labels_url"`
	CommentsURL       string      `json:"comments_url"`
	EventsURL         string      `json:"events_url"`
	HTMLURL           string      `json:"html_url"`
	Number            int         `json:"number"`
	State             string      `json:"state"`
	StateReason       *string     `json:"state_reason"`
	Title             string      `json:"title"`
	Body              *string     `json:"body"`
	User              userJSON    `json:"user"`
	Labels            []labelJSON `json:"labels"`
	Assignee          *userJSON   `json:"assignee"`
	Assignees         []userJSON  `json:"assignees"`
	Milestone         any         `json:"milestone"`
	Locked            bool        `json:"locked"`
	Comments          int         `json:"comments"`
	CreatedAt         string      `json:"created_at"`
	UpdatedAt         string      `json:"updated_at"`
	ClosedAt          *string     `json:"closed_at"`
	AuthorAssociation string      `json:"author_association"`
	// ClosedBy is only in the answer to "Get an issue", as on GitHub: list
	// and search results leave it out.
	ClosedBy *userJSON `json:"closed_by,omitempty"`
	Score    *float64  `json:"score,omitempty"`
}

func (s *Server) userJSON(login string) userJSON {
	u := s.users[strings.ToLower(login)]
	id := int64(0)
	if u != nil {
		id, login = u.id, u.login
	}
	return userJSON{
		Login:     login,
		ID:        id,
		NodeID:    fmt.Sprintf("U_emu%d", id),
		AvatarURL: s.url + "/avatars/" + login,
		URL:       s.url + "/users/" + login,
		HTMLURL:   s.url + "/" + login,
		Type:      "User",
	}
}

// issueJSONLocked renders is; single adds closed_by, as "Get an issue" does.
func (s *Server) issueJSONLocked(is *issue, single bool) issueJSON {
	api := fmt.Sprintf("%s/repos/%s/%s", s.url, s.owner, s.name)
	out := issueJSON{
		ID:                int64(500000 + is.Number),
		NodeID:            fmt.Sprintf("I_emu%d", is.Number),
		URL:               fmt.Sprintf("%s/issues/%d", api, is.Number),
		RepositoryURL:     api,
		LabelsURL:         fmt.Sprintf("%s/issues/%d/labels{/name}", api, is.Number),
		CommentsURL:       fmt.Sprintf("%s/issues/%d/comments", api, is.Number),
		EventsURL:         fmt.Sprintf("%s/issues/%d/events", api, is.Number),
		HTMLURL:           is.HTMLURL,
		Number:            is.Number,
		State:             is.State,
		Title:             is.Title,
		User:              s.userJSON(is.Author),
		Labels:            []labelJSON{},
		Assignees:         []userJSON{},
		CreatedAt:         is.CreatedAt.Format(time.RFC3339),
		UpdatedAt:         is.UpdatedAt.Format(time.RFC3339),
		AuthorAssociation: "COLLABORATOR",
	}
	if is.StateReason != "" {
		r := is.StateReason
		out.StateReason = &r
	}
	if is.Body != "" {
		b := is.Body
		out.Body = &b
	}
	for _, name := range is.Labels {
		l := s.labels[strings.ToLower(name)]
		out.Labels = append(out.Labels, labelJSON{
			ID: l.id, NodeID: fmt.Sprintf("LA_emu%d", l.id), URL: api + "/labels/" + url.PathEscape(l.name),
			Name: l.name, Color: "ededed",
		})
	}
	for _, a := range is.Assignees {
		out.Assignees = append(out.Assignees, s.userJSON(a))
	}
	if len(out.Assignees) > 0 {
		a := out.Assignees[0]
		out.Assignee = &a
	}
	if !is.ClosedAt.IsZero() {
		c := is.ClosedAt.Format(time.RFC3339)
		out.ClosedAt = &c
	}
	if single && is.ClosedBy != "" {
		u := s.userJSON(is.ClosedBy)
		out.ClosedBy = &u
	}
	return out
}

// --- handlers ----------------------------------------------------------------

// issueRequest is the body of "Create an issue" and "Update an issue". A
// field left out is not changed; json.RawMessage tells "null" from absent.
type issueRequest struct {
	Title       *json.RawMessage   `json:"title"`
	Body        *string            `json:"body"`
	State       *string            `json:"state"`
	StateReason *string            `json:"state_reason"`
	Labels      *[]json.RawMessage `json:"labels"`
	Assignees   *[]string          `json:"assignees"`
	Assignee    *string            `json:"assignee"`
}

// title returns the title as a string; GitHub accepts a string or an integer.
func (r *issueRequest) title() (string, bool) {
	if r.Title == nil {
		return "", false
	}
	var str string
	if err := json.Unmarshal(*r.Title, &str); err == nil {
		return str, true
	}
	var n json.Number
	if err := json.Unmarshal(*r.Title, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

// labelNames returns the label names; GitHub accepts strings or objects with
// a name.
func (r *issueRequest) labelNames() ([]string, error) {
	if r.Labels == nil {
		return nil, nil
	}
	var out []string
	for _, raw := range *r.Labels {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			var obj struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil || obj.Name == "" {
				return nil, errors.New("labels must be strings or objects with a name")
			}
			name = obj.Name
		}
		if strings.TrimSpace(name) == "" {
			return nil, errors.New("empty label name")
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, name) }) {
			out = append(out, name)
		}
	}
	return out, nil
}

// assigneesLocked resolves logins to collaborators; the 422 GitHub answers
// for a login that cannot be assigned is returned as fieldErrors.
func (s *Server) assigneesLocked(logins []string) ([]string, []fieldError) {
	var out, bad []string
	for _, l := range logins {
		u, ok := s.users[strings.ToLower(l)]
		if !ok {
			bad = append(bad, l)
			continue
		}
		if !slices.Contains(out, u.login) {
			out = append(out, u.login)
		}
	}
	if len(bad) > 0 {
		return nil, []fieldError{{
			Resource: "Issue", Field: "assignees", Code: "invalid", Value: bad,
			Message: fmt.Sprintf("assignees %s cannot be assigned to this issue", strings.Join(bad, ", ")),
		}}
	}
	return out, nil
}

// useLabelsLocked creates the labels that do not exist yet and returns the
// names as the repository spells them.
func (s *Server) useLabelsLocked(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		l, ok := s.labels[strings.ToLower(n)]
		if !ok {
			s.nextLabelID++
			l = &label{id: 9000 + s.nextLabelID, name: n}
			s.labels[strings.ToLower(n)] = l
		}
		out = append(out, l.name)
	}
	return out
}

func decodeRequest(w http.ResponseWriter, r *http.Request, doc string) (*issueRequest, bool) {
	var req issueRequest
	if err := json.Unmarshal(readBody(r), &req); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return nil, false
	}
	return &req, true
}

func readBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body) // the middleware already read it into memory
	return b
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRequest(w, r, docCreateIssue)
	if !ok {
		return
	}
	title, ok := req.title()
	if !ok || strings.TrimSpace(title) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"title\" wasn't supplied.", docCreateIssue)
		return
	}
	labels, err := req.labelNames()
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error(), docCreateIssue)
		return
	}
	var logins []string
	if req.Assignees != nil {
		logins = *req.Assignees
	}
	if req.Assignee != nil && *req.Assignee != "" {
		logins = append([]string{*req.Assignee}, logins...)
	}

	s.mu.Lock()
	assignees, ferrs := s.assigneesLocked(logins)
	if ferrs != nil {
		s.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docCreateIssue, ferrs...)
		return
	}
	now := s.nowSecond()
	n := len(s.issues) + 1
	is := &issue{Issue{
		Number:    n,
		Title:     title,
		State:     "open",
		Labels:    s.useLabelsLocked(labels),
		Assignees: assignees,
		Author:    s.login,
		HTMLURL:   fmt.Sprintf("%s/%s/%s/issues/%d", s.url, s.owner, s.name, n),
		CreatedAt: now,
		UpdatedAt: now,
	}}
	if req.Body != nil {
		is.Body = *req.Body
	}
	s.issues = append(s.issues, is)
	out := s.issueJSONLocked(is, true)
	s.mu.Unlock()

	w.Header().Set("Location", out.URL)
	writeJSON(w, http.StatusCreated, out)
}

// issueFromPath finds the issue of the {number} path value, answering 404
// when there is none. It is called with s.mu held.
func (s *Server) issueFromPathLocked(w http.ResponseWriter, r *http.Request, doc string) *issue {
	n, err := strconv.Atoi(r.PathValue("number"))
	is := (*issue)(nil)
	if err == nil {
		is = s.issueLocked(n)
	}
	if is == nil {
		writeError(w, http.StatusNotFound, "Not Found", doc)
	}
	return is
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r, docGetIssue)
	if is == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.issueJSONLocked(is, true))
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRequest(w, r, docUpdateIssue)
	if !ok {
		return
	}
	labels, err := req.labelNames()
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error(), docUpdateIssue)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r, docUpdateIssue)
	if is == nil {
		return
	}
	// Validate everything before changing anything.
	title, hasTitle := req.title()
	if req.Title != nil && (!hasTitle || strings.TrimSpace(title) == "") {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docUpdateIssue, fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docUpdateIssue, fieldError{Resource: "Issue", Field: "state", Code: "invalid", Value: *req.State})
		return
	}
	reason := ""
	if req.StateReason != nil {
		reason = *req.StateReason
		if !slices.Contains([]string{"completed", "not_planned", "reopened"}, reason) {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docUpdateIssue, fieldError{Resource: "Issue", Field: "state_reason", Code: "invalid", Value: reason})
			return
		}
	}
	var assignees []string
	if req.Assignees != nil || req.Assignee != nil {
		var logins []string
		if req.Assignees != nil {
			logins = *req.Assignees
		}
		if req.Assignee != nil && *req.Assignee != "" {
			logins = append([]string{*req.Assignee}, logins...)
		}
		var ferrs []fieldError
		if assignees, ferrs = s.assigneesLocked(logins); ferrs != nil {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docUpdateIssue, ferrs...)
			return
		}
	}

	changed := false
	if hasTitle && title != is.Title {
		is.Title, changed = title, true
	}
	if req.Body != nil && *req.Body != is.Body {
		is.Body, changed = *req.Body, true
	}
	if req.Labels != nil {
		if l := s.useLabelsLocked(labels); !slices.Equal(l, is.Labels) {
			is.Labels, changed = l, true
		}
	}
	if req.Assignees != nil || req.Assignee != nil {
		if !slices.Equal(assignees, is.Assignees) {
			is.Assignees, changed = assignees, true
		}
	}
	if req.State != nil && *req.State != is.State {
		s.changeStateLocked(is, *req.State, reason, s.login)
	} else if req.State != nil && is.State == "closed" && reason != "" && reason != is.StateReason && reason != "reopened" {
		is.StateReason, changed = reason, true
	}
	if changed {
		is.UpdatedAt = s.nowSecond()
	}
	writeJSON(w, http.StatusOK, s.issueJSONLocked(is, true))
}

func (s *Server) handleCheckAssignee(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, ok := s.users[strings.ToLower(r.PathValue("assignee"))]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", docAssignee)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docListIssues, fieldError{Resource: "Issue", Field: "state", Code: "invalid"})
		return
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docListIssues, fieldError{Resource: "Issue", Field: "since", Code: "invalid"})
			return
		}
		since = t
	}
	var wantLabels []string
	if v := q.Get("labels"); v != "" {
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				wantLabels = append(wantLabels, l)
			}
		}
	}
	assignee := q.Get("assignee")
	sortBy, dir := q.Get("sort"), q.Get("direction")

	s.mu.Lock()
	var matched []*issue
	for _, is := range s.issues {
		if state != "all" && is.State != state {
			continue
		}
		if !since.IsZero() && is.UpdatedAt.Before(since) {
			continue
		}
		if !hasAllLabels(is.Labels, wantLabels) {
			continue
		}
		switch assignee {
		case "":
		case "none":
			if len(is.Assignees) > 0 {
				continue
			}
		case "*":
			if len(is.Assignees) == 0 {
				continue
			}
		default:
			if !slices.ContainsFunc(is.Assignees, func(a string) bool { return strings.EqualFold(a, assignee) }) {
				continue
			}
		}
		matched = append(matched, is)
	}
	sortIssues(matched, sortBy, dir)
	page, ok := s.paginate(w, r, len(matched))
	if !ok {
		s.mu.Unlock()
		return
	}
	out := make([]issueJSON, 0, page.hi-page.lo)
	for _, is := range matched[page.lo:page.hi] {
		out = append(out, s.issueJSONLocked(is, false))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func hasAllLabels(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

// sortIssues orders issues by "created" (default), "updated" or "comments",
// "desc" (default) or "asc"; ties are broken by number.
func sortIssues(issues []*issue, by, dir string) {
	key := func(is *issue) time.Time { return is.CreatedAt }
	if by == "updated" {
		key = func(is *issue) time.Time { return is.UpdatedAt }
	}
	asc := dir == "asc"
	sort.SliceStable(issues, func(i, j int) bool {
		a, b := key(issues[i]), key(issues[j])
		if by == "comments" || a.Equal(b) {
			if asc {
				return issues[i].Number < issues[j].Number
			}
			return issues[i].Number > issues[j].Number
		}
		if asc {
			return a.Before(b)
		}
		return a.After(b)
	})
}

// pageRange is the slice [lo, hi) of the results a page covers.
type pageRange struct{ lo, hi int }

// paginate reads page and per_page (default 30, at most 100), sets GitHub's
// Link header and returns the range of this page.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, total int) (pageRange, bool) {
	q := r.URL.Query()
	perPage, page := 30, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docREST, fieldError{Field: "per_page", Code: "invalid"})
			return pageRange{}, false
		}
		perPage = min(n, 100)
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			n = 1
		}
		page = n
	}
	last := max((total+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		q2 := r.URL.Query()
		q2.Set("page", strconv.Itoa(p))
		q2.Set("per_page", strconv.Itoa(perPage))
		prefix, _ := r.Context().Value(prefixKey{}).(string)
		return fmt.Sprintf("<%s%s%s?%s>; rel=%q", s.url, prefix, r.URL.Path, q2.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo := min((page-1)*perPage, total)
	return pageRange{lo: lo, hi: min(lo+perPage, total)}, true
}
