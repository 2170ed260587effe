package pagerdutyemu

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/emuhttp"
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

// Request is one HTTP request the Server received, in arrival order: its
// method, path, raw query, headers (Authorization included: the emulator's
// token is a test value), body, the status answered (0 when the connection
// was dropped by SetDown or the server closed before answering) and when it
// was received.
type Request = emuhttp.Request

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	now func() time.Time
	emu *emuhttp.Server
	url string

	mu          sync.Mutex
	keys        map[string]bool
	events      []Event
	alerts      map[string]*Alert
	policies    map[string][]onCall // policy ID → on-call entries, in the order set
	policyOrder []string            // policy IDs in the order first set
	users       map[string]User
}

// New starts a Server on 127.0.0.1 at a free port. It fails when a routing
// key is not 32 letters or digits, or when no port can be bound.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		now:      cfg.Now,
		keys:     make(map[string]bool),
		alerts:   make(map[string]*Alert),
		policies: make(map[string][]onCall),
		users:    make(map[string]User),
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
	s.emu = emuhttp.New(s.now, maxBody)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", s.handleEnqueue)
	mux.HandleFunc("GET /oncalls", s.rest(s.handleOnCalls))
	mux.HandleFunc("GET /users/{id}", s.rest(s.handleUser))
	mux.HandleFunc("/", s.rest(func(w http.ResponseWriter, r *http.Request) {
		writeRESTError(w, http.StatusNotFound, 2100, "Not Found")
	}))
	if err := s.emu.Start("pagerdutyemu", s.middleware(mux)); err != nil {
		return nil, err
	}
	s.url = s.emu.URL()
	return s, nil
}

// URL returns the base URL, "http://127.0.0.1:<port>", without a trailing
// slash. Both the Events API and the REST API are served under it.
func (s *Server) URL() string { return s.url }

// Close stops the Server: it closes the listener and every connection, and
// wakes requests waiting out a latency. It is safe to call more than once and
// never fails.
func (s *Server) Close() { s.emu.Close() }

// FailNext makes the next n requests whose path is path (for example
// "/v2/enqueue", "/oncalls" or "/users/PABC123"; a path ending in "/" matches
// every path under it) fail with status, and a body shaped like PagerDuty's
// errors for that API. It replaces an earlier FailNext for the same path; n <=
// 0 removes it.
func (s *Server) FailNext(path string, n int, status int) { s.emu.FailNext(path, n, status) }

// SetDown makes the Server unreachable (true) or reachable again (false).
// While down, every request is read and its connection closed without an
// answer, so clients see a network error as if PagerDuty could not be
// reached. Requests are still recorded, with Status 0.
func (s *Server) SetDown(down bool) { s.emu.SetDown(down) }

// SetLatency delays every answer by d (0 removes the delay). A request whose
// client gives up, or that is pending when the Server closes, is not answered.
func (s *Server) SetLatency(d time.Duration) { s.emu.SetLatency(d) }

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request { return s.emu.Requests() }

// RequestsTo returns the requests received for path, oldest first.
func (s *Server) RequestsTo(path string) []Request { return s.emu.RequestsTo(path) }

// middleware records the request, then applies the faults: down, latency,
// FailNext, in that order.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, _, ok := s.emu.Admit(w, r)
		if !ok {
			return
		}
		if status, ok := s.emu.TakeFault(r.URL.Path); ok {
			writeFault(w, r.URL.Path, status)
			return
		}
		next.ServeHTTP(w, r)
	})
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
	emuhttp.WriteJSON(w, status, "application/json", v)
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
