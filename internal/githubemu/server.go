package githubemu

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/emuhttp"
)

// maxBody is the largest request body the emulator reads; GitHub refuses
// issue bodies over 65,536 characters, so this is generous.
const maxBody = 1 << 20

// enterprisePrefix is the path under which GitHub Enterprise Server serves
// its REST API; go-github's WithEnterpriseURLs adds it to the base URL.
const enterprisePrefix = "/api/v3"

// Documentation URLs that GitHub puts in its error bodies. go-github tells a
// secondary rate limit from other 403s by the suffix of documentation_url.
const (
	docRateLimits   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	docSecondary    = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docREST         = "https://docs.github.com/rest"
	docCreateIssue  = "https://docs.github.com/rest/issues/issues#create-an-issue"
	docUpdateIssue  = "https://docs.github.com/rest/issues/issues#update-an-issue"
	docGetIssue     = "https://docs.github.com/rest/issues/issues#get-an-issue"
	docListIssues   = "https://docs.github.com/rest/issues/issues#list-repository-issues"
	docSearchIssues = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests"
	docAssignee     = "https://docs.github.com/rest/issues/assignees#check-if-a-user-can-be-assigned"
)

// Config configures a Server.
type Config struct {
	// Repo is the one repository served, "owner/name". Every other
	// repository is answered 404. Required.
	Repo string
	// Token is the token the API accepts, sent as "Authorization: Bearer
	// <Token>" or "Authorization: token <Token>". Required.
	Token string
	// Login is the user the token belongs to: the author of the issues the
	// API creates and the closer of the issues it closes. It is a
	// collaborator of Repo. Empty means "incidentbot".
	Login string
	// CoreLimit is the primary rate limit of the issues endpoints per hour
	// (x-ratelimit-resource "core"); 0 means 5000, GitHub's limit for a
	// personal access token.
	CoreLimit int
	// SearchLimit is the primary rate limit of /search/issues per minute
	// (x-ratelimit-resource "search"); 0 means 30, as on GitHub.
	SearchLimit int
	// Now returns the current time; nil means time.Now. Timestamps are
	// truncated to the second, as GitHub's are.
	Now func() time.Time
}

// Request is one HTTP request the Server received, in arrival order: its
// method, path (without the "/api/v3" prefix of GitHub Enterprise, so that
// tests see the same paths whichever base URL the client used), raw query,
// headers (Authorization included: the emulator's token is a test value),
// body, the status answered (0 when the connection was dropped by SetDown or
// the server closed before answering) and when it was received.
type Request = emuhttp.Request

// rateWindow counts the requests of one rate-limit resource.
type rateWindow struct {
	limit  int
	period time.Duration
	used   int
	reset  time.Time
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	now   func() time.Time
	owner string
	name  string
	login string
	emu   *emuhttp.Server
	url   string

	mu             sync.Mutex
	users          map[string]*user // lower-case login → user
	nextUserID     int64
	issues         []*issue // by number - 1
	labels         map[string]*label
	nextLabelID    int64
	rates          map[string]*rateWindow
	secondaryN     int
	secondaryAfter time.Duration
}

// New starts a Server on 127.0.0.1 at a free port. It fails when Repo is not
// "owner/name", when Token is empty, or when no port can be bound.
func New(cfg Config) (*Server, error) {
	owner, name, ok := strings.Cut(cfg.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("githubemu: repo %q is not owner/name", cfg.Repo)
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("githubemu: empty token")
	}
	s := &Server{
		cfg:    cfg,
		now:    cfg.Now,
		owner:  owner,
		name:   name,
		login:  cfg.Login,
		users:  make(map[string]*user),
		labels: make(map[string]*label),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.login == "" {
		s.login = "incidentbot"
	}
	core, search := cfg.CoreLimit, cfg.SearchLimit
	if core <= 0 {
		core = 5000
	}
	if search <= 0 {
		search = 30
	}
	s.rates = map[string]*rateWindow{
		"core":   {limit: core, period: time.Hour},
		"search": {limit: search, period: time.Minute},
	}
	s.addUserLocked(s.login)

	s.emu = emuhttp.New(s.now, maxBody)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues", s.repo(s.handleCreate))
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues", s.repo(s.handleList))
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}", s.repo(s.handleGet))
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{number}", s.repo(s.handleUpdate))
	mux.HandleFunc("GET /repos/{owner}/{repo}/assignees/{assignee}", s.repo(s.handleCheckAssignee))
	mux.HandleFunc("GET /search/issues", s.handleSearch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found", docREST)
	})
	if err := s.emu.Start("githubemu", s.middleware(mux)); err != nil {
		return nil, err
	}
	s.url = s.emu.URL()
	return s, nil
}

// URL returns the base URL, "http://127.0.0.1:<port>", without a trailing
// slash. The API is served both at its root (set go-github's Client.BaseURL
// to URL()+"/") and under "/api/v3" as GitHub Enterprise Server does (pass
// URL() to go-github's WithEnterpriseURLs).
func (s *Server) URL() string { return s.url }

// Close stops the Server: it closes the listener and every connection, and
// wakes requests waiting out a latency. It is safe to call more than once and
// never fails.
func (s *Server) Close() { s.emu.Close() }

// FailNext makes the next n requests whose path is path (without the
// "/api/v3" prefix, for example "/repos/acme/ops/issues" or "/search/issues";
// a path ending in "/" matches every path under it) fail with status and a
// GitHub error body. It replaces an earlier FailNext for the same path; n <= 0
// removes it. A 429 or 403 injected this way is a plain error, not a rate
// limit: use SecondaryRateLimit or Config.CoreLimit for those.
func (s *Server) FailNext(path string, n int, status int) { s.emu.FailNext(path, n, status) }

// SecondaryRateLimit makes the next n requests fail as GitHub's secondary
// rate limit does: 403, a "retry-after" header of retryAfter (whole seconds,
// omitted when retryAfter < 1s) and a body whose documentation_url ends in
// "secondary-rate-limits", which go-github turns into an
// *github.AbuseRateLimitError. The primary x-ratelimit-* headers are sent as
// usual and are not exhausted. n <= 0 removes a pending one.
func (s *Server) SecondaryRateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondaryN = max(n, 0)
	s.secondaryAfter = retryAfter
}

// SetDown makes the Server unreachable (true) or reachable again (false).
// While down, every request is read and its connection closed without an
// answer, so clients see a network error. Requests are still recorded, with
// Status 0.
func (s *Server) SetDown(down bool) { s.emu.SetDown(down) }

// SetLatency delays every answer by d (0 removes the delay). A request whose
// client gives up meanwhile is still carried out when the delay ends (an
// issue is created all the same, as on the real server); one pending when
// the Server closes is not.
func (s *Server) SetLatency(d time.Duration) { s.emu.SetLatency(d) }

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request { return s.emu.Requests() }

// RequestsTo returns the requests received for path (without "/api/v3"),
// oldest first.
func (s *Server) RequestsTo(path string) []Request { return s.emu.RequestsTo(path) }

// prefixKey is the context key of the path prefix ("" or "/api/v3") the
// request came with, which Link headers repeat.
type prefixKey struct{}

// middleware strips the Enterprise prefix, records the request, then applies,
// in order: down, latency, the secondary rate limit, FailNext,
// authentication and the primary rate limit. Every answer carries the
// x-ratelimit-* headers of the request's resource.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := ""
		if p, ok := strings.CutPrefix(r.URL.Path, enterprisePrefix); ok && (p == "" || p[0] == '/') {
			prefix = enterprisePrefix
			r.URL.Path = p
			r.URL.RawPath = ""
		}
		r = r.WithContext(context.WithValue(r.Context(), prefixKey{}, prefix))
		w, _, ok := s.emu.Admit(w, r)
		if !ok {
			return
		}
		w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
		w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")

		resource := "core"
		if strings.HasPrefix(r.URL.Path, "/search/") {
			resource = "search"
		}
		authed := s.authenticated(r)

		s.mu.Lock()
		secondary, retryAfter := s.secondaryN > 0, s.secondaryAfter
		if secondary {
			s.secondaryN--
		}
		status, failing := s.emu.TakeFault(r.URL.Path)
		exceeded := false
		if !secondary && !failing && authed {
			exceeded = !s.consumeLocked(resource)
		}
		s.setRateHeadersLocked(w.Header(), resource)
		s.mu.Unlock()

		switch {
		case secondary:
			if secs := int(retryAfter / time.Second); secs > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			writeError(w, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID emulator.", docSecondary)
		case failing:
			writeError(w, status, http.StatusText(status), docREST)
		case !authed:
			if r.Header.Get("Authorization") == "" {
				writeError(w, http.StatusUnauthorized, "Requires authentication", docREST)
			} else {
				writeError(w, http.StatusUnauthorized, "Bad credentials", docREST)
			}
		case exceeded:
			writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID emulator.", docRateLimits)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// authenticated reports whether r carries the configured token.
func (s *Server) authenticated(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return (scheme == "bearer" || scheme == "token") && strings.TrimSpace(tok) == s.cfg.Token
}

// consumeLocked counts one request against resource and reports whether it
// was within the limit. Windows start at the first request, as GitHub's do.
func (s *Server) consumeLocked(resource string) bool {
	rw := s.rates[resource]
	now := s.now()
	if rw.reset.IsZero() || !now.Before(rw.reset) {
		rw.used = 0
		rw.reset = now.Add(rw.period).Truncate(time.Second)
	}
	if rw.used >= rw.limit {
		return false
	}
	rw.used++
	return true
}

// setRateHeadersLocked sets GitHub's primary rate-limit headers.
func (s *Server) setRateHeadersLocked(h http.Header, resource string) {
	rw := s.rates[resource]
	reset := rw.reset
	if reset.IsZero() || !s.now().Before(reset) {
		reset = s.now().Add(rw.period)
	}
	used := rw.used
	if !s.now().Before(rw.reset) {
		used = 0
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(rw.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(rw.limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

// fieldError is one entry of a 422's "errors" array.
type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Value    any    `json:"value,omitempty"`
	Message  string `json:"message,omitempty"`
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	emuhttp.WriteJSON(w, status, "application/json; charset=utf-8", v)
}

// writeError answers GitHub's error object: message, documentation_url, the
// status as a string, and the field errors of a 422.
func writeError(w http.ResponseWriter, status int, message, doc string, errs ...fieldError) {
	type errorBody struct {
		Message          string       `json:"message"`
		Errors           []fieldError `json:"errors,omitempty"`
		DocumentationURL string       `json:"documentation_url"`
		Status           string       `json:"status"`
	}
	writeJSON(w, status, errorBody{Message: message, Errors: errs, DocumentationURL: doc, Status: strconv.Itoa(status)})
}

// repo wraps a handler of /repos/{owner}/{repo}/...: another repository is
// answered 404, as GitHub answers one that does not exist or that the token
// cannot see.
func (s *Server) repo(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.PathValue("owner"), s.owner) || !strings.EqualFold(r.PathValue("repo"), s.name) {
			writeError(w, http.StatusNotFound, "Not Found", docREST)
			return
		}
		h(w, r)
	}
}
