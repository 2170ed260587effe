package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v84/github"
	"gopkg.in/yaml.v3"

	"github.com/incidentbot/incidentbot"
)

// Defaults for Config.
const (
	DefaultAPIURL  = "https://api.github.com/"
	DefaultTimeout = 10 * time.Second
)

// maxPages bounds the search pages read by one Changes (100 issues each).
const maxPages = 10

// Config configures a Client. The token is trimmed of surrounding white
// space (secrets mounted from files often end in a newline).
type Config struct {
	Token string // a token with issues read/write on Repo
	Repo  string // "owner/name"
	// APIURL is the REST API base URL; default DefaultAPIURL. For GitHub
	// Enterprise Server: "https://HOST/api/v3/".
	APIURL string
	// UserMap maps Slack emails (lower case) to GitHub logins.
	UserMap map[string]string
	Timeout time.Duration // limit of each call; default DefaultTimeout
}

// Client mirrors action items to GitHub Issues. It is safe for concurrent
// use.
type Client struct {
	cfg         Config
	owner, name string
	gh          *gh.Client
}

// New returns a Client for cfg. With a nil httpClient it uses one whose
// Timeout is cfg.Timeout. It fails with EInvalid when Repo is not
// "owner/name" or APIURL is not a URL; it does not contact GitHub.
func New(cfg Config, httpClient *http.Client) (*Client, error) {
	cfg.Token = strings.TrimSpace(cfg.Token)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	owner, name, ok := strings.Cut(strings.TrimSpace(cfg.Repo), "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, incidentbot.Errorf(incidentbot.EInvalid, "INCIDENTBOT_GITHUB_REPO=%q is not owner/name", cfg.Repo)
	}
	api := strings.TrimSpace(cfg.APIURL)
	if api == "" {
		api = DefaultAPIURL
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, incidentbot.Errorf(incidentbot.EInvalid, "INCIDENTBOT_GITHUB_API_URL=%q is not an http(s) URL", cfg.APIURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.Timeout}
	}
	c := gh.NewClient(httpClient).WithAuthToken(cfg.Token)
	c.BaseURL = u
	m := make(map[string]string, len(cfg.UserMap))
	for k, v := range cfg.UserMap {
		m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimPrefix(strings.TrimSpace(v), "@")
	}
	cfg.UserMap = m
	return &Client{cfg: cfg, owner: owner, name: name, gh: c}, nil
}

// Name returns incidentbot.TrackerGitHub.
func (c *Client) Name() string { return incidentbot.TrackerGitHub }

// LoadUserMap reads a mapping from Slack email to GitHub login: a YAML or
// JSON object ({"alice@example.com": "alice-gh"}); a .json file must be
// JSON. Emails are matched case-insensitively. It fails when the file
// cannot be read or is not such an object.
func LoadUserMap(path string) (map[string]string, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the user map: %w", err)
	}
	m := map[string]string{}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		err = json.Unmarshal(buf, &m)
	} else {
		err = yaml.Unmarshal(buf, &m) // YAML is a superset of JSON
	}
	if err != nil {
		return nil, fmt.Errorf("parse the user map %s (an object from Slack email to GitHub login): %w", path, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimPrefix(strings.TrimSpace(v), "@")
	}
	return out, nil
}

// login returns the GitHub login of a Slack email, or "".
func (c *Client) login(email string) string {
	if email == "" {
		return ""
	}
	return c.cfg.UserMap[strings.ToLower(email)]
}

// Body is the issue body of an item: what it is, the incident with a link
// to its channel, the due date line that the bot keeps current, and last
// the item's marker in an HTML comment (hidden when rendered), by which
// Find knows the issue.
func Body(it incidentbot.TrackerItem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Action item %s of incident %s: %s\n\n", it.Item, it.Incident, it.IncidentTitle)
	switch {
	case it.ChannelURL != "" && it.ChannelName != "":
		fmt.Fprintf(&b, "Slack channel: [#%s](%s)\n\n", it.ChannelName, it.ChannelURL)
	case it.ChannelName != "":
		fmt.Fprintf(&b, "Slack channel: #%s\n\n", it.ChannelName)
	}
	if it.Due != "" {
		fmt.Fprintf(&b, "Due: %s\n\n", it.Due)
	}
	b.WriteString("_Created by incidentbot. Closing or reopening this issue closes or reopens the action item._\n\n")
	b.WriteString(markerLine(it) + "\n")
	return b.String()
}

// markerLine is the body line that carries the item's marker.
func markerLine(it incidentbot.TrackerItem) string { return "<!-- " + it.Marker() + " -->" }

// hasMarker reports whether body has the marker line of it, as a whole
// line (GitHub may have turned the newlines into CRLF).
func hasMarker(body string, it incidentbot.TrackerItem) bool {
	want := markerLine(it)
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

// Create creates the issue of it, assigned to the login UserMap gives the
// owner's email (unassigned when none). It fails as the package says.
func (c *Client) Create(ctx context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	op := fmt.Sprintf("github: create the issue of %s %s", it.Incident, it.Item)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req := &gh.IssueRequest{Title: gh.Ptr(it.Title), Body: gh.Ptr(Body(it)), Labels: gh.Ptr(append([]string(nil), it.Labels...))}
	if l := c.login(it.OwnerEmail); l != "" {
		req.Assignees = &[]string{l}
	}
	is, resp, err := c.gh.Issues.Create(ctx, c.owner, c.name, req)
	if err != nil {
		return incidentbot.TrackerIssue{}, c.classify(ctx, op, "creating the issue", resp, err)
	}
	return incidentbot.TrackerIssue{Tracker: incidentbot.TrackerGitHub, Key: fmt.Sprintf("%s/%s#%d", c.owner, c.name, is.GetNumber()), URL: is.GetHTMLURL()}, nil
}

// Find looks for the issue of it created at or after since: it lists the
// repository's issues labelled "incident", open or closed, updated since
// then (an issue created since then was), newest created first, and
// returns the newest whose body has it's marker line, reading pages until
// the issues were created before since (at most maxPages of 100). It uses
// the list endpoint, not the search API, whose index lags behind a create.
// It fails as the package says; false with a nil error means there is no
// such issue.
func (c *Client) Find(ctx context.Context, it incidentbot.TrackerItem, since time.Time) (incidentbot.TrackerIssue, bool, error) {
	op := fmt.Sprintf("github: look for the issue of %s %s", it.Incident, it.Item)
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Timeout)
	defer cancel()
	opts := &gh.IssueListByRepoOptions{State: "all", Labels: []string{"incident"}, Since: since.UTC().Truncate(time.Second),
		Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < maxPages; page++ {
		list, resp, err := c.gh.Issues.ListByRepo(ctx, c.owner, c.name, opts)
		if err != nil {
			return incidentbot.TrackerIssue{}, false, c.classify(ctx, op, "looking for an issue it may have created", resp, err)
		}
		for _, is := range list {
			if is.IsPullRequest() {
				continue
			}
			if is.GetCreatedAt().Before(opts.Since) {
				return incidentbot.TrackerIssue{}, false, nil
			}
			if hasMarker(is.GetBody(), it) {
				return incidentbot.TrackerIssue{Tracker: incidentbot.TrackerGitHub, Key: fmt.Sprintf("%s/%s#%d", c.owner, c.name, is.GetNumber()), URL: is.GetHTMLURL()}, true, nil
			}
		}
		// The Link header pages by number or, on some servers, by cursor.
		switch {
		case resp.NextPage != 0:
			opts.ListOptions.Page = resp.NextPage
		case resp.After != "":
			opts.ListCursorOptions.After = resp.After
		default:
			return incidentbot.TrackerIssue{}, false, nil
		}
	}
	return incidentbot.TrackerIssue{}, false, nil
}

// number parses the issue number of a key "owner/name#12".
func number(key string) (int, error) {
	_, n, ok := strings.Cut(key, "#")
	num, err := strconv.Atoi(n)
	if !ok || err != nil || num <= 0 {
		return 0, incidentbot.Errorf(incidentbot.EInvalid, "%q is not a GitHub issue key", key)
	}
	return num, nil
}

// Update sets the issue's assignee (none when the owner maps to no login)
// and rewrites its body with the due date line. It fails as the package
// says.
func (c *Client) Update(ctx context.Context, key string, it incidentbot.TrackerItem) error {
	op := "github: update issue " + key
	n, err := number(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	assignees := []string{}
	if l := c.login(it.OwnerEmail); l != "" {
		assignees = []string{l}
	}
	_, resp, err := c.gh.Issues.Edit(ctx, c.owner, c.name, n, &gh.IssueRequest{Body: gh.Ptr(Body(it)), Assignees: &assignees})
	if err != nil {
		return c.classify(ctx, op, "updating the issue", resp, err)
	}
	return nil
}

// SetDone closes the issue as completed (done) or reopens it. It fails as
// the package says.
func (c *Client) SetDone(ctx context.Context, key string, done bool) error {
	op, what, req := "github: close issue "+key, "closing the issue", &gh.IssueRequest{State: gh.Ptr("closed"), StateReason: gh.Ptr("completed")}
	if !done {
		op, what, req = "github: reopen issue "+key, "reopening the issue", &gh.IssueRequest{State: gh.Ptr("open"), StateReason: gh.Ptr("reopened")}
	}
	n, err := number(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, resp, err := c.gh.Issues.Edit(ctx, c.owner, c.name, n, req); err != nil {
		return c.classify(ctx, op, what, resp, err)
	}
	return nil
}

// Changes returns the issues labelled "incident" updated at or after since:
// one search (paged, at most 1,000 issues), then one read of each closed
// issue for who closed it. It fails as the package says.
func (c *Client) Changes(ctx context.Context, since time.Time) ([]incidentbot.TrackerChange, error) {
	op := "github: look for changed issues"
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Timeout)
	defer cancel()
	q := fmt.Sprintf("repo:%s/%s label:incident is:issue updated:>=%s", c.owner, c.name, since.UTC().Format(time.RFC3339))
	opts := &gh.SearchOptions{Sort: "updated", Order: "asc", ListOptions: gh.ListOptions{PerPage: 100}}
	var out []incidentbot.TrackerChange
	for page := 0; page < maxPages; page++ {
		res, resp, err := c.gh.Search.Issues(ctx, q, opts)
		if err != nil {
			return out, c.classify(ctx, op, "searching the issues", resp, err)
		}
		for _, is := range res.Issues {
			ch := incidentbot.TrackerChange{Tracker: incidentbot.TrackerGitHub, Key: fmt.Sprintf("%s/%s#%d", c.owner, c.name, is.GetNumber()),
				URL: is.GetHTMLURL(), Done: is.GetState() == "closed"}
			for _, l := range is.Labels {
				ch.Labels = append(ch.Labels, l.GetName())
			}
			if ch.Done {
				// Only the single-issue answer carries closed_by.
				full, resp, err := c.gh.Issues.Get(ctx, c.owner, c.name, is.GetNumber())
				if err != nil {
					return out, c.classify(ctx, op, "reading a closed issue", resp, err)
				}
				ch.Done = full.GetState() == "closed"
				if l := full.GetClosedBy().GetLogin(); l != "" {
					ch.By = "@" + l
				}
			}
			out = append(out, ch)
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// classify turns a failed call into an *incidentbot.Error.
func (c *Client) classify(ctx context.Context, op, what string, resp *gh.Response, err error) error {
	e := &incidentbot.Error{Op: op, Err: errors.New(c.redact(err.Error()))}
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	switch {
	case errors.As(err, &rl):
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("GitHub's rate limit is used up; %s waits until it resets", what)
		if d := time.Until(rl.Rate.Reset.Time); d > 0 {
			e.RetryAfter = d
		}
	case errors.As(err, &abuse):
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("GitHub's secondary rate limit holds %s back", what)
		e.RetryAfter = abuse.GetRetryAfter()
	case status == 0 || !errors.As(err, &er):
		e.Code = incidentbot.EUnavailable
		var ne net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			e.Message = fmt.Sprintf("GitHub did not answer %s in time (limit %s)", what, c.cfg.Timeout)
		case ctx.Err() != nil:
			e.Message = fmt.Sprintf("%s was cancelled before GitHub answered", what)
		case status >= 200 && status < 300:
			e.Message = fmt.Sprintf("GitHub's answer to %s could not be read", what)
		default:
			e.Message = fmt.Sprintf("GitHub could not be reached for %s", what)
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = incidentbot.EUnauthorized
		e.Message = fmt.Sprintf("GitHub refused the token for %s (HTTP %d: %s); check GITHUB_TOKEN and its access to %s/%s", what, status, c.redact(er.Message), c.owner, c.name)
	case status == http.StatusNotFound:
		e.Code = incidentbot.ENotFound
		e.Message = fmt.Sprintf("GitHub found nothing for %s (HTTP 404); check INCIDENTBOT_GITHUB_REPO=%s/%s and that the token can see it", what, c.owner, c.name)
	case status == http.StatusTooManyRequests || status >= 500:
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("GitHub could not take %s now (HTTP %d)", what, status)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	default:
		e.Code = incidentbot.EInvalid
		msg := c.redact(er.Message)
		for _, fe := range er.Errors {
			msg += fmt.Sprintf("; %s %s %s", fe.Resource, fe.Field, fe.Code)
		}
		e.Message = fmt.Sprintf("GitHub refused %s (HTTP %d: %s)", what, status, msg)
	}
	return e
}

// redact removes the token from s.
func (c *Client) redact(s string) string {
	if c.cfg.Token != "" {
		s = strings.ReplaceAll(s, c.cfg.Token, "[redacted]")
	}
	return s
}
