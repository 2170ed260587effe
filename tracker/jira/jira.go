package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
)

// Defaults for Config.
const (
	DefaultIssueType = "Task"
	DefaultTimeout   = 10 * time.Second
)

const (
	maxErrorBody = 64 << 10
	maxDetail    = 300
	maxPages     = 10
)

// Config configures a Client. The token is trimmed of surrounding white
// space.
type Config struct {
	URL       string // the site, "https://example.atlassian.net"
	Email     string // the account the API token belongs to
	Token     string // its API token
	Project   string // project key, "OPS"
	IssueType string // default DefaultIssueType
	Timeout   time.Duration
	// Now is the clock of Changes' relative JQL dates; nil means time.Now.
	Now func() time.Time
}

// Client mirrors action items to Jira Cloud. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	hc   *http.Client
}

// New returns a Client for cfg. With a nil httpClient it uses one whose
// Timeout is cfg.Timeout. It fails with EInvalid when URL is not an http(s)
// URL or Project is empty; it does not contact Jira.
func New(cfg Config, httpClient *http.Client) (*Client, error) {
	cfg.Token = strings.TrimSpace(cfg.Token)
	cfg.Email = strings.TrimSpace(cfg.Email)
	cfg.Project = strings.TrimSpace(cfg.Project)
	if cfg.IssueType == "" {
		cfg.IssueType = DefaultIssueType
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, incidentbot.Errorf(incidentbot.EInvalid, "JIRA_URL=%q is not an http(s) URL like https://example.atlassian.net", cfg.URL)
	}
	if cfg.Project == "" {
		return nil, incidentbot.Errorf(incidentbot.EInvalid, "INCIDENTBOT_JIRA_PROJECT is empty: name the project key, like OPS")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, base: strings.TrimRight(u.String(), "/"), hc: httpClient}, nil
}

// Name returns incidentbot.TrackerJira.
func (c *Client) Name() string { return incidentbot.TrackerJira }

// adf is a node of the Atlassian Document Format.
type adf struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []adfMark      `json:"marks,omitempty"`
	Content []adf          `json:"content,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
}

type adfMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

func text(s string) adf { return adf{Type: "text", Text: s} }

// Description is the issue description of an item, in Atlassian Document
// Format: what it is, the incident with a link to its channel, and last a
// paragraph with the item's marker, by which Find knows the issue.
func Description(it incidentbot.TrackerItem) any {
	paras := []adf{{Type: "paragraph", Content: []adf{text(fmt.Sprintf("Action item %s of incident %s: %s", it.Item, it.Incident, it.IncidentTitle))}}}
	if it.ChannelName != "" {
		link := text("#" + it.ChannelName)
		if it.ChannelURL != "" {
			link.Marks = []adfMark{{Type: "link", Attrs: map[string]any{"href": it.ChannelURL}}}
		}
		paras = append(paras, adf{Type: "paragraph", Content: []adf{text("Slack channel: "), link}})
	}
	paras = append(paras, adf{Type: "paragraph", Content: []adf{text("Created by incidentbot. Moving this issue to done, or out of it, closes or reopens the action item.")}})
	paras = append(paras, adf{Type: "paragraph", Content: []adf{text(it.Marker())}})
	return adf{Type: "doc", Version: 1, Content: paras}
}

// hasMarker reports whether the description doc has a paragraph (or any
// block) whose text is it's marker, whole.
func hasMarker(doc *adf, it incidentbot.TrackerItem) bool {
	if doc == nil {
		return false
	}
	want := it.Marker()
	var walk func(n adf) bool
	walk = func(n adf) bool {
		var b strings.Builder
		leaf := true
		for _, c := range n.Content {
			if c.Type == "text" {
				b.WriteString(c.Text)
			} else {
				leaf = false
			}
		}
		if strings.TrimSpace(b.String()) == want {
			return true
		}
		if !leaf {
			for _, c := range n.Content {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(*doc)
}

// Find looks for the issue of it created at or after since: one JQL
// search of the project's issues labelled "incident" and with the
// incident's key, created since then (a relative date a minute wider, as
// in Changes), newest first, and returns the newest whose description has
// it's marker paragraph. The marker is matched here rather than with JQL's
// text search (~), which matches words and stems, not a line. Jira's search
// is eventually consistent: an issue created seconds ago may be missing
// yet (see TrackerSettle). It fails as the package says; false with a nil
// error means there is no such issue.
func (c *Client) Find(ctx context.Context, it incidentbot.TrackerItem, since time.Time) (incidentbot.TrackerIssue, bool, error) {
	op := fmt.Sprintf("jira: look for the issue of %s %s", it.Incident, it.Item)
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Timeout)
	defer cancel()
	jql := fmt.Sprintf("project = %s AND labels = incident AND labels = %s AND created >= -%dm ORDER BY created DESC",
		c.cfg.Project, strconv.Quote(it.Incident), c.minutesSince(since))
	type issue struct {
		Key    string `json:"key"`
		Fields struct {
			Description *adf `json:"description"`
		} `json:"fields"`
	}
	var found incidentbot.TrackerIssue
	err := searchJQL(ctx, c, op, "looking for an issue it may have created",
		map[string]any{"jql": jql, "fields": []string{"description", "created"}}, func(is issue) bool {
			if !hasMarker(is.Fields.Description, it) {
				return false
			}
			found = incidentbot.TrackerIssue{Tracker: incidentbot.TrackerJira, Key: is.Key, URL: c.base + "/browse/" + is.Key}
			return true
		})
	return found, found.Key != "" && err == nil, err
}

// Create creates the issue of it, assigned to the Jira user with the
// owner's email when there is one. It fails as the package says.
func (c *Client) Create(ctx context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	op := fmt.Sprintf("jira: create the issue of %s %s", it.Incident, it.Item)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	fields := map[string]any{
		"project":     map[string]string{"key": c.cfg.Project},
		"issuetype":   map[string]string{"name": c.cfg.IssueType},
		"summary":     summary(it.Title),
		"description": Description(it),
		"labels":      it.Labels,
	}
	if it.Due != "" {
		fields["duedate"] = it.Due
	}
	id, err := c.accountID(ctx, op, it.OwnerEmail)
	if err != nil {
		return incidentbot.TrackerIssue{}, err
	}
	if id != "" {
		fields["assignee"] = map[string]string{"accountId": id}
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := c.do(ctx, op, "creating the issue", http.MethodPost, "/rest/api/3/issue", nil, map[string]any{"fields": fields}, &out); err != nil {
		return incidentbot.TrackerIssue{}, err
	}
	return incidentbot.TrackerIssue{Tracker: incidentbot.TrackerJira, Key: out.Key, URL: c.base + "/browse/" + out.Key}, nil
}

// summary fits an item's text into Jira's one-line summary of 255
// characters.
func summary(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return s
}

// accountID finds the active Jira user whose email is email; "" when there
// is none (or email is empty).
func (c *Client) accountID(ctx context.Context, op, email string) (string, error) {
	if email == "" {
		return "", nil
	}
	var users []struct {
		AccountID string `json:"accountId"`
		Email     string `json:"emailAddress"`
		Active    bool   `json:"active"`
	}
	if err := c.do(ctx, op, "looking up the owner", http.MethodGet, "/rest/api/3/user/search", url.Values{"query": {email}}, nil, &users); err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Active && strings.EqualFold(u.Email, email) {
			return u.AccountID, nil
		}
	}
	return "", nil
}

// Update sets the issue's assignee (none when the owner has no Jira
// account) and its due date. It fails as the package says.
func (c *Client) Update(ctx context.Context, key string, it incidentbot.TrackerItem) error {
	op := "jira: update issue " + key
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	id, err := c.accountID(ctx, op, it.OwnerEmail)
	if err != nil {
		return err
	}
	fields := map[string]any{"assignee": nil, "duedate": nil}
	if id != "" {
		fields["assignee"] = map[string]string{"accountId": id}
	}
	if it.Due != "" {
		fields["duedate"] = it.Due
	}
	return c.do(ctx, op, "updating the issue", http.MethodPut, "/rest/api/3/issue/"+url.PathEscape(key), nil, map[string]any{"fields": fields}, nil)
}

// status is an issue status with its category.
type status struct {
	Name     string `json:"name"`
	Category struct {
		Key string `json:"key"`
	} `json:"statusCategory"`
}

// SetDone moves the issue to a status of the done category (done) or out
// of it (a "new" status when the workflow has one, else "indeterminate"),
// choosing the transition by its target's category. An issue already
// there is left alone. It fails as the package says, and with EInvalid
// when the workflow has no such transition.
func (c *Client) SetDone(ctx context.Context, key string, done bool) error {
	op, what := "jira: close issue "+key, "moving the issue to done"
	if !done {
		op, what = "jira: reopen issue "+key, "reopening the issue"
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	path := "/rest/api/3/issue/" + url.PathEscape(key)
	var cur struct {
		Fields struct {
			Status status `json:"status"`
		} `json:"fields"`
	}
	if err := c.do(ctx, op, what, http.MethodGet, path, url.Values{"fields": {"status"}}, nil, &cur); err != nil {
		return err
	}
	if (cur.Fields.Status.Category.Key == "done") == done {
		return nil
	}
	var ts struct {
		Transitions []struct {
			ID string `json:"id"`
			To status `json:"to"`
		} `json:"transitions"`
	}
	if err := c.do(ctx, op, what, http.MethodGet, path+"/transitions", nil, nil, &ts); err != nil {
		return err
	}
	rank := func(cat string) int {
		switch {
		case done && cat == "done":
			return 0
		case !done && cat == "new":
			return 0
		case !done && cat == "indeterminate":
			return 1
		}
		return -1
	}
	best, bestRank := "", math.MaxInt
	for _, t := range ts.Transitions {
		if r := rank(t.To.Category.Key); r >= 0 && r < bestRank {
			best, bestRank = t.ID, r
		}
	}
	if best == "" {
		return &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: fmt.Sprintf("Jira's workflow offers no transition for %s of %s from %q", what, key, cur.Fields.Status.Name)}
	}
	return c.do(ctx, op, what, http.MethodPost, path+"/transitions", nil, map[string]any{"transition": map[string]string{"id": best}}, nil)
}

// Changes returns the issues of the project labelled "incident" updated at
// or after since, with one JQL search (paged) and their changelogs. JQL
// dates have minute precision and no zone of their own, so the search asks
// for a relative time ("updated >= -Nm") a minute wider than since. It
// fails as the package says.
func (c *Client) Changes(ctx context.Context, since time.Time) ([]incidentbot.TrackerChange, error) {
	op := "jira: look for changed issues"
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Timeout)
	defer cancel()
	jql := fmt.Sprintf("project = %s AND labels = incident AND updated >= -%dm ORDER BY updated ASC", c.cfg.Project, c.minutesSince(since))
	type issue struct {
		Key    string `json:"key"`
		Fields struct {
			Status status   `json:"status"`
			Labels []string `json:"labels"`
		} `json:"fields"`
		Changelog struct {
			Histories []struct {
				Author struct {
					DisplayName string `json:"displayName"`
				} `json:"author"`
				Created string `json:"created"`
				Items   []struct {
					Field string `json:"field"`
				} `json:"items"`
			} `json:"histories"`
		} `json:"changelog"`
	}
	var out []incidentbot.TrackerChange
	err := searchJQL(ctx, c, op, "searching the issues",
		map[string]any{"jql": jql, "fields": []string{"status", "labels"}, "expand": "changelog"}, func(is issue) bool {
			ch := incidentbot.TrackerChange{Tracker: incidentbot.TrackerJira, Key: is.Key, URL: c.base + "/browse/" + is.Key,
				Labels: is.Fields.Labels, Done: is.Fields.Status.Category.Key == "done"}
			// Histories come newest first; sort to be sure.
			hs := is.Changelog.Histories
			sort.SliceStable(hs, func(i, j int) bool { return hs[i].Created > hs[j].Created })
		find:
			for _, h := range hs {
				for _, item := range h.Items {
					if item.Field == "status" {
						ch.By = h.Author.DisplayName
						break find
					}
				}
			}
			out = append(out, ch)
			return false
		})
	return out, err
}

// minutesSince is since as a JQL relative date: JQL dates have minute
// precision and no zone of their own, so searches ask for "-Nm", a minute
// wider than since (at least a minute).
func (c *Client) minutesSince(since time.Time) int {
	return max(int(math.Ceil(c.cfg.Now().Sub(since).Minutes()))+1, 1)
}

// searchJQL runs the JQL search req (jql, fields, expand) page by page, at
// most maxPages pages of 100, handing each issue, decoded as I, to each
// until it returns true. It fails as Client.do does.
func searchJQL[I any](ctx context.Context, c *Client, op, why string, req map[string]any, each func(I) bool) error {
	req["maxResults"] = 100
	for range maxPages {
		var res struct {
			Issues        []I    `json:"issues"`
			NextPageToken string `json:"nextPageToken"`
			IsLast        bool   `json:"isLast"`
		}
		if err := c.do(ctx, op, why, http.MethodPost, "/rest/api/3/search/jql", nil, req, &res); err != nil {
			return err
		}
		for _, is := range res.Issues {
			if each(is) {
				return nil
			}
		}
		if res.IsLast || res.NextPageToken == "" {
			return nil
		}
		req["nextPageToken"] = res.NextPageToken
	}
	return nil
}

// do sends one request with a JSON body (when body is not nil) and decodes
// a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, op, what, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return &incidentbot.Error{Code: incidentbot.EInternal, Op: op, Err: err}
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &incidentbot.Error{Code: incidentbot.EInvalid, Op: op, Message: "Could not make a Jira request; check JIRA_URL", Err: err}
	}
	req.SetBasicAuth(c.cfg.Email, c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		e := &incidentbot.Error{Code: incidentbot.EUnavailable, Op: op, Err: errors.New(c.redact(err.Error()))}
		var ne net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			e.Message = fmt.Sprintf("Jira did not answer %s in time (limit %s)", what, c.cfg.Timeout)
		case ctx.Err() != nil:
			e.Message = fmt.Sprintf("%s was cancelled before Jira answered", what)
		default:
			e.Message = fmt.Sprintf("Jira could not be reached for %s", what)
		}
		return e
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			return nil
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return &incidentbot.Error{Code: incidentbot.EUnavailable, Op: op, Message: fmt.Sprintf("Jira's answer to %s could not be read", what), Err: err}
		}
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return c.classify(op, what, resp, raw)
}

// classify turns a non-2xx answer into an *incidentbot.Error.
func (c *Client) classify(op, what string, resp *http.Response, body []byte) error {
	st := resp.StatusCode
	d := c.detail(body)
	e := &incidentbot.Error{Op: op, Err: fmt.Errorf("HTTP %d%s", st, d)}
	switch {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		e.Code = incidentbot.EUnauthorized
		e.Message = fmt.Sprintf("Jira refused the credentials for %s (HTTP %d%s); check JIRA_EMAIL and JIRA_API_TOKEN and the account's access to %s", what, st, d, c.cfg.Project)
	case st == http.StatusNotFound:
		e.Code = incidentbot.ENotFound
		e.Message = fmt.Sprintf("Jira found nothing for %s (HTTP 404%s); check JIRA_URL and INCIDENTBOT_JIRA_PROJECT", what, d)
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("Jira could not take %s now (HTTP %d%s)", what, st, d)
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	default:
		e.Code = incidentbot.EInvalid
		e.Message = fmt.Sprintf("Jira refused %s (HTTP %d%s)", what, st, d)
	}
	return e
}

// detail extracts Jira's explanation ({"errorMessages": […], "errors":
// {field: msg}} or plain text) as ": <text>", redacted and shortened.
func (c *Client) detail(body []byte) string {
	var doc struct {
		Messages []string          `json:"errorMessages"`
		Errors   map[string]string `json:"errors"`
	}
	var parts []string
	if json.Unmarshal(body, &doc) == nil {
		parts = append(parts, doc.Messages...)
		keys := make([]string, 0, len(doc.Errors))
		for k := range doc.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+": "+doc.Errors[k])
		}
	} else if t := strings.TrimSpace(string(body)); t != "" && !strings.HasPrefix(t, "<") {
		parts = append(parts, t)
	}
	s := strings.Join(parts, "; ")
	if s == "" {
		return ""
	}
	s = c.redact(s)
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail]) + "…"
	}
	return ": " + s
}

// redact removes the token from s.
func (c *Client) redact(s string) string {
	if c.cfg.Token != "" {
		s = strings.ReplaceAll(s, c.cfg.Token, "[redacted]")
	}
	return s
}
