package emuhttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start runs a Server whose handler answers an injected fault with its
// status and anything else with 201 and the request body.
func start(t *testing.T) *Server {
	t.Helper()
	s := New(nil, 16)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, _, ok := s.Admit(w, r)
		if !ok {
			return
		}
		if status, ok := s.TakeFault(r.URL.Path); ok {
			w.WriteHeader(status)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	})
	if err := s.Start("emuhttp_test", h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, s *Server, path, body string) (int, string, error) {
	t.Helper()
	resp, err := http.Post(s.URL()+path, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestRecordsRequestsAndStatus(t *testing.T) {
	s := start(t)
	if code, body, err := post(t, s, "/a?x=1", "hello"); err != nil || code != http.StatusCreated || body != "hello" {
		t.Fatalf("post = %d %q %v", code, body, err)
	}
	// A body over maxBody is cut to maxBody+1 bytes.
	if _, body, _ := post(t, s, "/b", strings.Repeat("x", 40)); len(body) != 17 {
		t.Fatalf("long body handed on as %d bytes, want 17", len(body))
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/a" || r.Query != "x=1" || string(r.Body) != "hello" || r.Status != http.StatusCreated || r.Header.Get("Content-Type") != "text/plain" || r.Received.IsZero() {
		t.Fatalf("recorded %+v", r)
	}
	reqs[0].Body[0] = 'j'
	if got := s.RequestsTo("/a"); len(got) != 1 || string(got[0].Body) != "hello" {
		t.Fatalf("RequestsTo(/a) = %+v (a copy must not alias the record)", got)
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name   string
		fail   string
		n      int
		paths  []string
		status []int
	}{
		{"exact path, twice", "/a", 2, []string{"/a", "/b", "/a", "/a"}, []int{503, 201, 503, 201}},
		{"prefix", "/x/", 2, []string{"/x/1", "/x", "/x/2/3", "/x/4"}, []int{503, 201, 503, 201}},
		{"removed", "/a", 0, []string{"/a"}, []int{201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t)
			s.FailNext(tt.fail, 5, http.StatusServiceUnavailable)
			s.FailNext(tt.fail, tt.n, http.StatusServiceUnavailable) // replaces
			for i, p := range tt.paths {
				code, _, err := post(t, s, p, "")
				if err != nil || code != tt.status[i] {
					t.Fatalf("request %d to %s = %d %v, want %d", i, p, code, err, tt.status[i])
				}
			}
		})
	}
}

func TestFailNextPrefersExactPath(t *testing.T) {
	s := start(t)
	s.FailNext("/x/", 1, http.StatusBadGateway)
	s.FailNext("/x/y", 1, http.StatusTeapot)
	if code, _, _ := post(t, s, "/x/y", ""); code != http.StatusTeapot {
		t.Fatalf("status %d, want the exact path's 418", code)
	}
	if code, _, _ := post(t, s, "/x/y", ""); code != http.StatusBadGateway {
		t.Fatalf("status %d, want the prefix's 502", code)
	}
}

func TestSetDown(t *testing.T) {
	s := start(t)
	s.SetDown(true)
	if _, _, err := post(t, s, "/a", "x"); err == nil {
		t.Fatal("request to a down server succeeded")
	}
	s.SetDown(false)
	if code, _, err := post(t, s, "/a", "x"); err != nil || code != http.StatusCreated {
		t.Fatalf("after SetDown(false): %d %v", code, err)
	}
	reqs := s.Requests()
	if len(reqs) < 2 || reqs[0].Status != 0 || reqs[len(reqs)-1].Status != http.StatusCreated {
		t.Fatalf("recorded %+v, want the dropped one with Status 0", reqs)
	}
}

func TestSetLatency(t *testing.T) {
	s := start(t)
	s.SetLatency(50 * time.Millisecond)
	t0 := time.Now()
	if code, _, err := post(t, s, "/a", ""); err != nil || code != http.StatusCreated {
		t.Fatalf("post = %d %v", code, err)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, want at least the latency", d)
	}
	// A client that gives up does not stop the request: it is carried out
	// (its status recorded) when the latency ends, as on a real server.
	s.SetLatency(200 * time.Millisecond)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/gone", strings.NewReader("x"))
	short := &http.Client{Timeout: 20 * time.Millisecond}
	if resp, err := short.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("answered before the latency")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if r := s.RequestsTo("/gone"); len(r) == 1 && r[0].Status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request of a client gone not carried out: %+v", s.RequestsTo("/gone"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close wakes a request waiting out the latency: it is not answered.
	s.SetLatency(time.Hour)
	errc := make(chan error, 1)
	go func() { _, _, err := post(t, s, "/b", ""); errc <- err }()
	for len(s.RequestsTo("/b")) == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("request pending at Close was answered")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the pending request")
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name   string
		v      any
		status int
		body   string
	}{
		{"object", map[string]int{"a": 1}, http.StatusAccepted, "{\"a\":1}\n"},
		{"unencodable", func() {}, http.StatusInternalServerError, "json: unsupported type: func()\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil, 16)
			if err := s.Start("emuhttp_test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				WriteJSON(w, http.StatusAccepted, "application/json; x=y", tt.v)
			})); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			resp, err := http.Get(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(b) != tt.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.status, tt.body)
			}
			if tt.status == http.StatusAccepted && resp.Header.Get("Content-Type") != "application/json; x=y" {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}
