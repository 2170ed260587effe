package emuhttp

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

// Request is one HTTP request a Server received, in arrival order.
type Request struct {
	Method string
	Path   string
	Query  string // the raw query, without '?'
	// Header is a copy of the request headers, Authorization included: the
	// emulators' tokens are test values.
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

// Server is the shared part of a running emulator. Its methods are safe for
// concurrent use.
type Server struct {
	now     func() time.Time
	maxBody int64
	srv     *http.Server
	url     string
	done    chan struct{}

	closeOnce sync.Once

	// recMu guards requests and their Status; it is separate from mu so that
	// a handler may answer while the emulator holds its own lock.
	recMu    sync.Mutex
	requests []*Request

	mu      sync.Mutex
	faults  map[string]*fault
	down    bool
	latency time.Duration
}

// New returns a Server that is not listening yet. now stamps the requests
// (nil means time.Now); maxBody is the largest request body read, a longer
// one is cut to maxBody+1 bytes so that a handler can tell it is too long.
func New(now func() time.Time, maxBody int64) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{now: now, maxBody: maxBody, done: make(chan struct{}), faults: make(map[string]*fault)}
}

// Start listens on 127.0.0.1 at a free port and serves h there until Close.
// It fails when no port can be bound; name prefixes the error.
func (s *Server) Start(name string, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL returns the base URL, "http://127.0.0.1:<port>", without a trailing
// slash; "" before Start.
func (s *Server) URL() string { return s.url }

// Close stops the Server: it closes the listener and every connection, and
// wakes requests waiting out a latency. It is safe to call more than once and
// never fails.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.srv != nil {
			_ = s.srv.Close()
		}
	})
}

// FailNext makes TakeFault report status for the next n requests whose path
// is path (a path ending in "/" matches every path under it). It replaces an
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
// While down, Admit reads every request and closes its connection without an
// answer, so clients see a network error. Requests are still recorded, with
// Status 0.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetLatency makes Admit delay every answer by d (0 removes the delay). A
// request whose client gives up meanwhile (it timed out, or its process
// died) is still carried out when the delay ends, as a real server carries
// out a request it received whether or not anyone reads the answer; one
// pending when the Server closes is dropped, not carried out.
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

// Admit records r (its body read into memory, up to maxBody+1 bytes, and
// put back for the handler), then applies the faults down and latency. It
// returns a writer that records the status answered and the request's
// number, 1 for the first; ok false means the connection was dropped and
// the caller must not answer. A request whose client goes away during a
// latency is still handed to the caller when the latency ends (the answer
// goes nowhere, the request takes effect); one pending when the Server
// closes is aborted with http.ErrAbortHandler.
func (s *Server) Admit(w http.ResponseWriter, r *http.Request) (_ http.ResponseWriter, seq int, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
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
	seq = len(s.requests)
	s.recMu.Unlock()

	s.mu.Lock()
	down, latency := s.down, s.latency
	s.mu.Unlock()
	if down {
		dropConnection(w)
		return nil, seq, false
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	return &statusRecorder{ResponseWriter: w, rec: rec, mu: &s.recMu}, seq, true
}

// TakeFault consumes one pending FailNext for path, the exact path first,
// then the longest matching prefix ending in "/", and returns its status.
func (s *Server) TakeFault(path string) (int, bool) {
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

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot be hijacked; abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// WriteJSON answers v as JSON and a newline, with status and contentType
// (each API spells its charset its own way). A v that cannot be encoded is
// answered 500 with the encoding error.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
