package pagerdutyemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBody is the largest request body the emulator reads. PagerDuty refuses
// events larger than 512 KB.
const maxBody = 512 * 1024

// Config configures a Server.
type Config struct {
	// RoutingKeys are the Events API v2 integration keys that /v2/enqueue
	// accepts. Each is 32 letters or digits, as PagerDuty's are.
	RoutingKeys []string
	// Token is the REST API token that /oncalls and /users/{id} accept. With
	// an empty Token every REST request is answered 401.
	Token string
	// IgnoreIncludes makes /oncalls answer with user references (no email)
	// even when include[]=users is asked, as a proxy that strips query
	// parameters would; it lets tests exercise a client's /users/{id}
	// fallback.
	IgnoreIncludes bool
	// Now returns the current time; nil means time.Now.
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
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{}

	closeOnce sync.Once

	mu          sync.Mutex
	keys        map[string]bool
	requests    []*Request
	events      []Event
	alerts      map[string]*Alert
	policies    map[string][]onCall // policy ID → on-call entries, in the order set
	policyOrder []string            // policy IDs in the order first set
	users       map[string]User
	faults      map[string]*fault
	down        bool
	latency     time.Duration
}

// New starts a Server on 127.0.0.1 at a free port. It fails when a routing
// key is not 32 letters or digits, or when no port can be bound.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		now:      cfg.Now,
		done:     make(chan struct{}),
		keys:     make(map[string]bool),
		alerts:   make(map[string]*Alert),
		policies: make(map[string][]onCall),
		users:    make(map[string]User),
		faults:   make(map[string]*fault),
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range cfg.RoutingKeys {
		if errs := routingKeyFormatErrors(k); len(errs) > 0 {
			return nil, fmt.Errorf("pagerdutyemu: routing key %d of %d: %s", len(s.keys)+1, len(cfg.RoutingKeys), strings.Join(errs, "; "))
		}
		s.keys[k] = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pagerdutyemu: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", s.handleEnqueue)
	mux.HandleFunc("GET /oncalls", s.rest(s.handleOnCalls))
	mux.HandleFunc("GET /users/{id}", s.rest(s.handleUser))
	mux.HandleFunc("/", s.rest(func(w http.ResponseWriter, r *http.Request) {
		writeRESTError(w, http.StatusNotFound, 2100, "Not Found")
	}))
	s.srv = &http.Server{Handler: s.middleware(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the base URL, "http://127.0.0.1:<port>", without a trailing
// slash. Both the Events API and the REST API are served under it.
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
// "/v2/enqueue", "/oncalls" or "/users/PABC123"; a path ending in "/" matches
// every path under it) fail with status, and a body shaped like PagerDuty's
// errors for that API. It replaces an earlier FailNext for the same path; n <=
// 0 removes it.
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
// answer, so clients see a network error as if PagerDuty could not be
// reached. Requests are still recorded, with Status 0.
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
	s.mu.Lock()
	defer s.mu.Unlock()
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

// middleware records the request, then applies the faults: down, latency,
// FailNext, in that order.
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

		s.mu.Lock()
		s.requests = append(s.requests, rec)
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
				panic(http.ErrAbortHandler) // no answer, not even an empty 200
			case <-s.done:
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		w = &statusRecorder{ResponseWriter: w, rec: rec, mu: &s.mu}
		if status, ok := s.takeFault(r.URL.Path); ok {
			writeFault(w, r.URL.Path, status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// takeFault consumes one pending FailNext for path, the exact path first.
func (s *Server) takeFault(path string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
		// HTTP/2 cannot be hijacked; abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// writeFault answers an injected failure in the error shape of the API the
// path belongs to.
func writeFault(w http.ResponseWriter, path string, status int) {
	if path == "/v2/enqueue" {
		switch {
		case status == http.StatusBadRequest:
			writeEventError(w, status, "invalid event", "Event object is invalid", "injected fault")
		case status == http.StatusTooManyRequests:
			writeEventError(w, status, "throttle event", "Requests for this service are arriving too quickly. Please retry later.")
		default:
			writeEventError(w, status, "error", http.StatusText(status), "injected fault")
		}
		return
	}
	code := 2001
	switch {
	case status == http.StatusUnauthorized:
		code = 2006
	case status == http.StatusForbidden:
		code = 2010
	case status == http.StatusNotFound:
		code = 2100
	case status == http.StatusTooManyRequests:
		code = 2020
	case status >= 500:
		code = 2000
	}
	writeRESTError(w, status, code, http.StatusText(status), "injected fault")
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeRESTError answers the REST API's error object:
// {"error":{"message":...,"code":...,"errors":[...]}}.
func writeRESTError(w http.ResponseWriter, status, code int, message string, details ...string) {
	type errObj struct {
		Message string   `json:"message"`
		Code    int      `json:"code"`
		Errors  []string `json:"errors,omitempty"`
	}
	writeJSON(w, status, map[string]errObj{"error": {Message: message, Code: code, Errors: details}})
}

// rest wraps a REST handler with PagerDuty's token authentication.
func (s *Server) rest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		const prefix = "Token token="
		auth := r.Header.Get("Authorization")
		if s.cfg.Token == "" || !strings.HasPrefix(auth, prefix) || auth[len(prefix):] != s.cfg.Token {
			writeRESTError(w, http.StatusUnauthorized, 2006, "Authentication failed")
			return
		}
		h(w, r)
	}
}
