package jiraemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/emuhttp"
)

// maxBody is the largest request body the emulator reads.
const maxBody = 1 << 20

// timeLayout is how Jira writes timestamps: "2026-03-02T09:00:00.000+0000".
const timeLayout = "2006-01-02T15:04:05.000-0700"

// projectKey is the shape of a Jira project key.
var projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)

// Config configures a Server.
type Config struct {
	// Email and APIToken are the credentials the API accepts, as HTTP Basic
	// authentication "email:api_token", the way Jira Cloud takes an API
	// token. Both are required. Email is also a Jira user (the reporter of
	// the issues the API creates).
	Email    string
	APIToken string
	// DisplayName is the display name of the Email user; empty means
	// "incidentbot".
	DisplayName string
	// Projects are the keys of the projects that exist, such as "OPS". At
	// least one is required.
	Projects []string
	// IssueTypes are the issue type names accepted on create; empty means
	// Task, Bug and Story.
	IssueTypes []string
	// Location is the time zone of the API user: JQL dates without a zone
	// are read in it and timestamps are written in it, as Jira does. nil
	// means UTC.
	Location *time.Location
	// Now returns the current time; nil means time.Now. Timestamps are
	// truncated to the millisecond, as Jira's are.
	Now func() time.Time
}

// Request is one HTTP request the Server received, in arrival order: its
// method, path, raw query, headers (Authorization included: the emulator's
// token is a test value), body, the status answered (0 when the connection
// was dropped by SetDown or the server closed before answering) and when it
// was received.
type Request = emuhttp.Request

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg  Config
	now  func() time.Time
	loc  *time.Location
	auth string // the expected Authorization header
	self string // accountId of the Email user
	emu  *emuhttp.Server
	url  string

	mu         sync.Mutex
	projects   map[string]*project // key → project
	issueTypes []string
	users      []*user // in the order added
	issues     []*issue
	byKey      map[string]*issue // key and id → issue
	nextID     int
	nextChange int
}

// project is one Jira project.
type project struct {
	id   string
	key  string
	next int // the number of the next issue key
}

// New starts a Server on 127.0.0.1 at a free port. It fails when Email or
// APIToken is empty, when there is no project or a key is not a Jira
// project key (2 to 10 capital letters, digits or '_', starting with a
// letter), or when no port can be bound.
func New(cfg Config) (*Server, error) {
	if cfg.Email == "" || cfg.APIToken == "" {
		return nil, fmt.Errorf("jiraemu: email and API token are required")
	}
	if len(cfg.Projects) == 0 {
		return nil, fmt.Errorf("jiraemu: no project")
	}
	s := &Server{
		cfg:        cfg,
		now:        cfg.Now,
		loc:        cfg.Location,
		auth:       "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Email+":"+cfg.APIToken)),
		projects:   make(map[string]*project),
		issueTypes: cfg.IssueTypes,
		byKey:      make(map[string]*issue),
		nextID:     10000,
		nextChange: 10100,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if len(s.issueTypes) == 0 {
		s.issueTypes = []string{"Task", "Bug", "Story"}
	}
	for i, k := range cfg.Projects {
		if !projectKey.MatchString(k) {
			return nil, fmt.Errorf("jiraemu: project key %q is not 2-10 capital letters, digits or '_'", k)
		}
		s.projects[k] = &project{id: fmt.Sprint(10000 + i), key: k, next: 1}
	}
	name := cfg.DisplayName
	if name == "" {
		name = "incidentbot"
	}
	s.self = s.addUserLocked(cfg.Email, name)

	s.emu = emuhttp.New(s.now, maxBody)
	const api = "/rest/api/3"
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api+"/issue", s.handleCreate)
	mux.HandleFunc("GET "+api+"/issue/{key}", s.handleGet)
	mux.HandleFunc("PUT "+api+"/issue/{key}", s.handleEdit)
	mux.HandleFunc("PUT "+api+"/issue/{key}/assignee", s.handleAssign)
	mux.HandleFunc("GET "+api+"/issue/{key}/transitions", s.handleTransitions)
	mux.HandleFunc("POST "+api+"/issue/{key}/transitions", s.handleTransition)
	mux.HandleFunc("GET "+api+"/user/search", s.handleUserSearch)
	mux.HandleFunc("GET "+api+"/myself", s.handleMyself)
	mux.HandleFunc("GET "+api+"/search/jql", s.handleSearchGet)
	mux.HandleFunc("POST "+api+"/search/jql", s.handleSearchPost)
	gone := func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusGone, nil, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
	}
	mux.HandleFunc("GET "+api+"/search", gone)
	mux.HandleFunc("POST "+api+"/search", gone)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, nil, "No resource found at "+r.URL.Path+" (the emulator serves a subset of Jira's REST API v3).")
	})
	if err := s.emu.Start("jiraemu", s.middleware(mux)); err != nil {
		return nil, err
	}
	s.url = s.emu.URL()
	return s, nil
}

// URL returns the site's base URL, "http://127.0.0.1:<port>", without a
// trailing slash: the equivalent of "https://your-domain.atlassian.net".
func (s *Server) URL() string { return s.url }

// Close stops the Server: it closes the listener and every connection, and
// wakes requests waiting out a latency. It is safe to call more than once and
// never fails.
func (s *Server) Close() { s.emu.Close() }

// FailNext makes the next n requests whose path is path (for example
// "/rest/api/3/issue" or "/rest/api/3/search/jql"; a path ending in "/"
// matches every path under it) fail with status and Jira's error body; a 429
// also carries "Retry-After: 1", as Jira's rate limiting does. It replaces an
// earlier FailNext for the same path; n <= 0 removes it.
func (s *Server) FailNext(path string, n int, status int) { s.emu.FailNext(path, n, status) }

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

// RequestsTo returns the requests received for path, oldest first.
func (s *Server) RequestsTo(path string) []Request { return s.emu.RequestsTo(path) }

// middleware records the request, then applies, in order: down, latency,
// FailNext and authentication.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, requestID, ok := s.emu.Admit(w, r)
		if !ok {
			return
		}
		w.Header().Set("X-Arequestid", fmt.Sprintf("emu-%d", requestID))

		status, failing := s.emu.TakeFault(r.URL.Path)
		if failing {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("X-RateLimit-Reason", "jira-quota-global-based")
			}
			writeErrors(w, status, nil, http.StatusText(status)+" (injected by the emulator)")
			return
		}
		if r.Header.Get("Authorization") != s.auth {
			// Jira Cloud answers a missing or wrong API token in plain text.
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "Client must be authenticated to access this resource.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	emuhttp.WriteJSON(w, status, "application/json;charset=UTF-8", v)
}

// writeErrors answers Jira's ErrorCollection: errorMessages for the request
// as a whole, errors by field.
func writeErrors(w http.ResponseWriter, status int, fieldErrs map[string]string, messages ...string) {
	if fieldErrs == nil {
		fieldErrs = map[string]string{}
	}
	if messages == nil {
		messages = []string{}
	}
	writeJSON(w, status, struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}{messages, fieldErrs})
}

// decode reads r's JSON body into v, answering 400 as Jira does when it is
// not JSON of the expected shape.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, _ := io.ReadAll(r.Body) // the middleware already read it into memory
	if err := json.Unmarshal(b, v); err != nil {
		writeErrors(w, http.StatusBadRequest, nil, "Invalid request payload. Refer to the REST API documentation and try again.")
		return false
	}
	return true
}
