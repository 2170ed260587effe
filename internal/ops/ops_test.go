package ops

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTransportCountsFailuresByMethod(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	m := NewMetrics(func() (map[string]int, error) { return map[string]int{"sev1": 2}, nil })
	c := &http.Client{Transport: m.Transport("slack", nil)}
	for _, st := range []int{200, 429, 429, 503, 404} {
		status = st
		resp, err := c.Get(srv.URL + "/api/chat.postMessage")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	pd := &http.Client{Transport: m.Transport("pagerduty", nil)}
	if _, err := pd.Get("http://127.0.0.1:1/users/PABC"); err == nil {
		t.Fatal("expected a connection error")
	}
	// A revoked key: refused, not worth retrying, and counted.
	for _, st := range []int{401, 403} {
		status = st
		resp, err := pd.Post(srv.URL+"/v2/enqueue", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	h := Handler(m, func() (bool, string) { return false, "not connected to Slack" })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`incidentbot_api_errors_total{api="slack",code="429",method="chat.postMessage"} 2`,
		`incidentbot_api_errors_total{api="slack",code="503",method="chat.postMessage"} 1`,
		`incidentbot_api_errors_total{api="pagerduty",code="network",method="/users/{id}"} 1`,
		`incidentbot_api_errors_total{api="pagerduty",code="401",method="/v2/enqueue"} 1`,
		`incidentbot_api_errors_total{api="pagerduty",code="403",method="/v2/enqueue"} 1`,
		`incidentbot_open_incidents{severity="sev1"} 2`,
		`incidentbot_open_incidents{severity="sev4"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), `code="404"`) {
		t.Error("a 404 was counted as an API failure")
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "not connected") {
		t.Errorf("/readyz = %d %q", rec.Code, rec.Body.String())
	}
}

func TestCheck(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Handler(nil, func() (bool, string) { return true, "" }))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(s.Addr(), ":")
	if err := Check(context.Background(), "0.0.0.0:"+port); err != nil {
		t.Errorf("healthy: %v", err)
	}
	s.Close()
	if err := Check(context.Background(), "127.0.0.1:"+port); err == nil {
		t.Error("a stopped server passed the health check")
	}
}
