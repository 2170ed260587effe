package jiraemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
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

// Request is one HTTP request the Server received, in arrival order.
type Request struct {
	Method string
	Path   string
	Query  string // the raw query, without '?'
	// Header is a copy of the request headers, Authorization included: the
	// emulator's token is a test value.
	Header http.Header
	Body   []byte
	// Status is the status answered, 0 when the connection was dropped
	// (SetDown) or the server closed before answering.
	Status   int
	Received time.Time
}

// fault is a pending FailNext.
type fault struct {
	n      int
	status int
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg  Config
	now  func() time.Time
	loc  *time.Location
	auth string // the expected Authorization header
	self string // accountId of the Email user
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{}

	closeOnce sync.Once

	// recMu guards requests and their Status; it is separate from mu so
	// that handlers may answer while holding mu.
	recMu    sync.Mutex
	requests []*Request

	mu         sync.Mutex
	projects   map[string]*project // key → project
	issueTypes []string
	users      []*user // in the order added
	issues     []*issue
	byKey      map[string]*issue // key and id → issue
	nextID     int
	nextChange int
	faults     map[string]*fault
	down       bool
	latency    time.Duration
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
		done:       make(chan struct{}),
		projects:   make(map[string]*project),
		issueTypes: cfg.IssueTypes,
		byKey:      make(map[string]*issue),
		nextID:     10000,
		nextChange: 10100,
		faults:     make(map[string]*fault),
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

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("jiraemu: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()

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
	s.srv = &http.Server{Handler: s.middleware(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the site's base URL, "http://127.0.0.1:<port>", without a
// trailing slash: the equivalent of "https://your-domain.atlassian.net".
func (s *Server) URL() string { return s.url }

// Close stops the Server: it closes the listener and every connection, and
// wakes requests waiting out a latency. It is safe to call more than once and
// never fails.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.srv.Close()
	})
}

// FailNext makes the next n requests whose path is path (for example
// "/rest/api/3/issue" or "/rest/api/3/search/jql"; a path ending in "/"
// matches every path under it) fail with status and Jira's error body; a 429
// also carries "Retry-After: 1", as Jira's rate limiting does. It replaces an
// earlier FailNext for the same path; n <= 0 removes it.
func (s *Server) FailNext(path string, n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults, path)
		return
	}
	s.faults[path] = &fault{n: n, status: status}
}

// SetDown makes the Server unreachable (true) or reachable again (false).
// While down, every request is read and its connection closed without an
// answer, so clients see a network error. Requests are still recorded, with
// Status 0.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetLatency delays every answer by d (0 removes the delay). A request whose
// client gives up, or that is pending when the Server closes, is not answered.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
		out[i].Header = r.Header.Clone()
		out[i].Body = bytes.Clone(r.Body)
	}
	return out
}

// RequestsTo returns the requests received for path, oldest first.
func (s *Server) RequestsTo(path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	rec *Request
	mu  *sync.Mutex
}

func (w *statusRecorder) WriteHeader(code int) {
	w.mu.Lock()
	if w.rec.Status == 0 {
		w.rec.Status = code
	}
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.mu.Lock()
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	w.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

// middleware records the request, then applies, in order: down, latency,
// FailNext and authentication.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			body = nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &Request{
			Method:   r.Method,
			Path:     r.URL.Path,
			Query:    r.URL.RawQuery,
			Header:   r.Header.Clone(),
			Body:     body,
			Received: s.now(),
		}
		s.recMu.Lock()
		s.requests = append(s.requests, rec)
		requestID := len(s.requests)
		s.recMu.Unlock()

		s.mu.Lock()
		down, latency := s.down, s.latency
		s.mu.Unlock()
		if down {
			dropConnection(w)
			return
		}
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				panic(http.ErrAbortHandler)
			case <-s.done:
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		w = &statusRecorder{ResponseWriter: w, rec: rec, mu: &s.recMu}
		w.Header().Set("X-Arequestid", fmt.Sprintf("emu-%d", requestID))

		s.mu.Lock()
		status, failing := s.takeFaultLocked(r.URL.Path)
		s.mu.Unlock()
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

// takeFaultLocked consumes one pending FailNext for path, the exact path
// first, then the longest matching prefix ending in "/".
func (s *Server) takeFaultLocked(path string) (int, bool) {
	key := ""
	if _, ok := s.faults[path]; ok {
		key = path
	} else {
		for p := range s.faults {
			if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(p) > len(key) {
				key = p
			}
		}
	}
	f, ok := s.faults[key]
	if !ok {
		return 0, false
	}
	f.n--
	if f.n <= 0 {
		delete(s.faults, key)
	}
	return f.status, true
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
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
