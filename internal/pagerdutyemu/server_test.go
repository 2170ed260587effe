package pagerdutyemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testKey   = "0123456789abcdef0123456789ABCDEF"
	otherKey  = "ffffffffffffffffffffffffffffffff"
	testToken = "y_NbAkKc66ryYTWUXYEu"
)

func newServer(t *testing.T, mutate ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{RoutingKeys: []string{testKey, otherKey}, Token: testToken}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Token token="+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

type eventAnswer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

func trigger(key, dedup, summary, severity string) map[string]any {
	return map[string]any{
		"routing_key":  key,
		"event_action": "trigger",
		"dedup_key":    dedup,
		"payload":      map[string]any{"summary": summary, "source": "incidentbot", "severity": severity},
	}
}

func TestNewRejectsMalformedRoutingKeys(t *testing.T) {
	for _, k := range []string{"", "short", testKey + "x", "0123456789abcdef0123456789ABCDE-"} {
		if s, err := New(Config{RoutingKeys: []string{k}}); err == nil {
			s.Close()
			t.Errorf("New accepted routing key %q", k)
		}
	}
}

func TestEnqueueTriggerAcknowledgeResolve(t *testing.T) {
	s := newServer(t)
	ev := trigger(testKey, "INC-1", "Checkout is down", "critical")
	ev["links"] = []map[string]string{{"href": "https://slack.example/C1", "text": "channel"}}
	ev["payload"].(map[string]any)["custom_details"] = map[string]any{"commander": "U1"}
	ev["payload"].(map[string]any)["component"] = "checkout"

	var ans eventAnswer
	if st := do(t, "POST", s.URL()+"/v2/enqueue", "", ev, &ans); st != http.StatusAccepted {
		t.Fatalf("trigger: status %d %+v", st, ans)
	}
	if ans.Status != "success" || ans.Message != "Event processed" || ans.DedupKey != "INC-1" || ans.Errors != nil {
		t.Fatalf("trigger answer = %+v", ans)
	}
	a := s.Alerts()["INC-1"]
	if a.Status != Triggered || a.Severity != "critical" || a.Summary != "Checkout is down" || a.Triggers != 1 {
		t.Fatalf("alert after trigger = %+v", a)
	}

	// A second trigger is added to the open alert.
	do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "INC-1", "Checkout is down", "error"), nil)
	if a := s.Alerts()["INC-1"]; a.Triggers != 2 || a.Severity != "error" {
		t.Fatalf("alert after second trigger = %+v", a)
	}

	// An acknowledge through another routing key is dropped.
	do(t, "POST", s.URL()+"/v2/enqueue", "", map[string]any{"routing_key": otherKey, "event_action": "acknowledge", "dedup_key": "INC-1"}, nil)
	if a := s.Alerts()["INC-1"]; a.Status != Triggered {
		t.Fatalf("acknowledge through another key changed the alert: %+v", a)
	}
	do(t, "POST", s.URL()+"/v2/enqueue", "", map[string]any{"routing_key": testKey, "event_action": "acknowledge", "dedup_key": "INC-1"}, nil)
	if a := s.Alerts()["INC-1"]; a.Status != Acknowledged {
		t.Fatalf("after acknowledge: %+v", a)
	}
	if st := do(t, "POST", s.URL()+"/v2/enqueue", "", map[string]any{"routing_key": testKey, "event_action": "resolve", "dedup_key": "INC-1"}, &ans); st != http.StatusAccepted {
		t.Fatalf("resolve: status %d", st)
	}
	if a := s.Alerts()["INC-1"]; a.Status != Resolved {
		t.Fatalf("after resolve: %+v", a)
	}
	// Resolving again, or an unknown key, is accepted and dropped.
	do(t, "POST", s.URL()+"/v2/enqueue", "", map[string]any{"routing_key": testKey, "event_action": "resolve", "dedup_key": "INC-1"}, nil)
	do(t, "POST", s.URL()+"/v2/enqueue", "", map[string]any{"routing_key": testKey, "event_action": "resolve", "dedup_key": "nope"}, nil)
	if _, ok := s.Alerts()["nope"]; ok {
		t.Fatal("resolve of an unknown dedup key created an alert")
	}
	// A trigger after the resolve opens a new alert.
	do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "INC-1", "Again", "warning"), nil)
	if a := s.Alerts()["INC-1"]; a.Status != Triggered || a.Triggers != 1 || a.Summary != "Again" {
		t.Fatalf("after re-trigger: %+v", a)
	}

	evs := s.Events()
	wantActions := []string{"trigger", "trigger", "acknowledge", "acknowledge", "resolve", "resolve", "resolve", "trigger"}
	wantDropped := []bool{false, false, true, false, false, true, true, false}
	if len(evs) != len(wantActions) {
		t.Fatalf("got %d events, want %d", len(evs), len(wantActions))
	}
	for i, e := range evs {
		if e.Action != wantActions[i] || e.Dropped != wantDropped[i] {
			t.Errorf("event %d = %s dropped=%v, want %s dropped=%v", i, e.Action, e.Dropped, wantActions[i], wantDropped[i])
		}
		if e.Received.IsZero() {
			t.Errorf("event %d has no received time", i)
		}
	}
	first := evs[0]
	if first.Component != "checkout" || first.Details["commander"] != "U1" || first.Source != "incidentbot" ||
		len(first.Links) != 1 || first.Links[0] != (Link{Href: "https://slack.example/C1", Text: "channel"}) || first.RoutingKey != testKey {
		t.Errorf("first event = %+v", first)
	}
}

func TestEnqueueGeneratesDedupKey(t *testing.T) {
	s := newServer(t)
	var ans eventAnswer
	ev := trigger(testKey, "", "x", "info")
	delete(ev, "dedup_key")
	if st := do(t, "POST", s.URL()+"/v2/enqueue", "", ev, &ans); st != http.StatusAccepted {
		t.Fatalf("status %d", st)
	}
	if len(ans.DedupKey) != 32 {
		t.Fatalf("generated dedup key %q", ans.DedupKey)
	}
	if _, ok := s.Alerts()[ans.DedupKey]; !ok {
		t.Fatal("no alert under the generated key")
	}
}

func TestEnqueueValidation(t *testing.T) {
	long := strings.Repeat("x", 1025)
	tests := []struct {
		name string
		body any
		want []string // each must appear among the answer's errors
	}{
		{"not JSON", "{", []string{"JSON parse error"}},
		{"no routing key", map[string]any{"event_action": "resolve", "dedup_key": "k"}, []string{"'routing_key' is missing or blank"}},
		{"short routing key", map[string]any{"routing_key": "abc", "event_action": "resolve", "dedup_key": "k"}, []string{"Length of 'routing_key' is incorrect (should be 32 characters)"}},
		{"bad characters", map[string]any{"routing_key": "0123456789abcdef0123456789abcde+", "event_action": "resolve", "dedup_key": "k"}, []string{"'routing_key' cannot contain non-alphanumeric characters."}},
		{"unknown routing key", map[string]any{"routing_key": strings.Repeat("a", 32), "event_action": "resolve", "dedup_key": "k"}, []string{"Invalid routing key"}},
		{"no action", map[string]any{"routing_key": testKey, "dedup_key": "k"}, []string{"'event_action' is missing or blank"}},
		{"bad action", map[string]any{"routing_key": testKey, "event_action": "page", "dedup_key": "k"}, []string{"'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"}},
		{"resolve without dedup key", map[string]any{"routing_key": testKey, "event_action": "resolve"}, []string{"'dedup_key' is missing or blank"}},
		{"dedup key too long", trigger(testKey, strings.Repeat("k", 256), "s", "info"), []string{"Length of 'dedup_key' is too long (maximum is 255 characters)"}},
		{"trigger without payload", map[string]any{"routing_key": testKey, "event_action": "trigger"}, []string{"'payload' is missing or blank"}},
		{"blank summary", trigger(testKey, "k", "  ", "info"), []string{"'payload.summary' is missing or blank"}},
		{"summary too long", trigger(testKey, "k", long, "info"), []string{"Length of 'payload.summary' is too long (maximum is 1024 characters)"}},
		{"bad severity", trigger(testKey, "k", "s", "sev1"), []string{"'payload.severity' is invalid (must be one of: critical, error, warning, info)"}},
		{"no source and no severity", map[string]any{"routing_key": testKey, "event_action": "trigger", "payload": map[string]any{"summary": "s"}},
			[]string{"'payload.source' is missing or blank", "'payload.severity' is missing or blank"}},
		{"bad timestamp", func() any {
			ev := trigger(testKey, "k", "s", "info")
			ev["payload"].(map[string]any)["timestamp"] = "yesterday"
			return ev
		}(), []string{"'payload.timestamp' is invalid (must be an ISO 8601 date-time)"}},
		{"details not an object", func() any {
			ev := trigger(testKey, "k", "s", "info")
			ev["payload"].(map[string]any)["custom_details"] = []int{1}
			return ev
		}(), []string{"'payload.custom_details' must be an object"}},
		{"link without href", func() any {
			ev := trigger(testKey, "k", "s", "info")
			ev["links"] = []map[string]string{{"text": "t"}}
			return ev
		}(), []string{"'links[0].href' is missing or blank"}},
	}
	s := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ans eventAnswer
			if st := do(t, "POST", s.URL()+"/v2/enqueue", "", tt.body, &ans); st != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%+v)", st, ans)
			}
			if ans.Status == "" || ans.Message == "" {
				t.Errorf("answer lacks status or message: %+v", ans)
			}
			for _, w := range tt.want {
				found := false
				for _, e := range ans.Errors {
					found = found || e == w
				}
				if !found {
					t.Errorf("errors %q lack %q", ans.Errors, w)
				}
			}
		})
	}
	if n := len(s.Events()); n != 0 {
		t.Fatalf("%d invalid events were accepted", n)
	}
	if n := len(s.RequestsTo("/v2/enqueue")); n != len(tests) {
		t.Fatalf("recorded %d requests, want %d", n, len(tests))
	}
}

type onCallsAnswer struct {
	OnCalls []struct {
		EscalationPolicy struct{ ID, Type string } `json:"escalation_policy"`
		EscalationLevel  uint                      `json:"escalation_level"`
		Schedule         *struct{ ID string }      `json:"schedule"`
		User             struct {
			ID    string `json:"id"`
			Type  string `json:"type"`
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"user"`
		Start *string `json:"start"`
		End   *string `json:"end"`
	} `json:"oncalls"`
	Limit  int  `json:"limit"`
	Offset int  `json:"offset"`
	More   bool `json:"more"`
	Total  *int `json:"total"`
}

func TestOnCallsAuthentication(t *testing.T) {
	s := newServer(t)
	for _, token := range []string{"", "wrong"} {
		var ans struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
			} `json:"error"`
		}
		if st := do(t, "GET", s.URL()+"/oncalls", token, nil, &ans); st != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d", token, st)
		}
		if ans.Error.Code != 2006 || ans.Error.Message == "" {
			t.Fatalf("token %q: error %+v", token, ans.Error)
		}
	}
	if st := do(t, "GET", s.URL()+"/users/P1", "wrong", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("/users with a wrong token: status %d", st)
	}
}

func TestOnCalls(t *testing.T) {
	s := newServer(t)
	s.SetOnCall("PEP1",
		User{ID: "PB", Name: "Bob", Email: "bob@example.com", Level: 2},
		User{ID: "PA", Name: "Ann", Email: "ann@example.com", Level: 1, ScheduleID: "PSCHED"},
		User{ID: "PA", Name: "Ann", Email: "ann@example.com", Level: 1, ScheduleID: "PSCHED"},
	)
	s.SetOnCall("PEP2", User{ID: "PC", Name: "Cid", Email: "cid@example.com"})

	var ans onCallsAnswer
	q := "/oncalls?escalation_policy_ids%5B%5D=PEP1&include%5B%5D=users&earliest=true"
	if st := do(t, "GET", s.URL()+q, testToken, nil, &ans); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	if len(ans.OnCalls) != 2 || ans.More || ans.Total != nil || ans.Limit != 25 || ans.Offset != 0 {
		t.Fatalf("answer = %+v", ans)
	}
	bob, ann := ans.OnCalls[0], ans.OnCalls[1]
	if bob.User.ID != "PB" || bob.User.Type != "user" || bob.User.Email != "bob@example.com" || bob.EscalationLevel != 2 ||
		bob.Schedule != nil || bob.Start != nil || bob.End != nil || bob.EscalationPolicy.ID != "PEP1" {
		t.Errorf("direct target on-call = %+v", bob)
	}
	if ann.User.ID != "PA" || ann.Schedule == nil || ann.Schedule.ID != "PSCHED" || ann.Start == nil || ann.End == nil || ann.EscalationLevel != 1 {
		t.Errorf("scheduled on-call = %+v", ann)
	}

	// Without include[]=users the users are references, without email.
	ans = onCallsAnswer{}
	do(t, "GET", s.URL()+"/oncalls?escalation_policy_ids%5B%5D=PEP2", testToken, nil, &ans)
	if len(ans.OnCalls) != 1 || ans.OnCalls[0].User.Type != "user_reference" || ans.OnCalls[0].User.Email != "" || ans.OnCalls[0].EscalationLevel != 1 {
		t.Fatalf("without include: %+v", ans)
	}

	// Without earliest the duplicate entry is listed; without a policy
	// filter every policy is.
	ans = onCallsAnswer{}
	do(t, "GET", s.URL()+"/oncalls?total=true", testToken, nil, &ans)
	if len(ans.OnCalls) != 4 || ans.Total == nil || *ans.Total != 4 {
		t.Fatalf("unfiltered: %d on-calls, total %v", len(ans.OnCalls), ans.Total)
	}

	// A window after the scheduled rotation leaves only direct targets.
	ans = onCallsAnswer{}
	later := time.Now().Add(8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	do(t, "GET", s.URL()+"/oncalls?escalation_policy_ids%5B%5D=PEP1&since="+later+"&until="+later, testToken, nil, &ans)
	if len(ans.OnCalls) != 1 || ans.OnCalls[0].User.ID != "PB" {
		t.Fatalf("next week: %+v", ans)
	}
	if st := do(t, "GET", s.URL()+"/oncalls?since=yesterday", testToken, nil, nil); st != http.StatusBadRequest {
		t.Fatalf("bad since: status %d", st)
	}

	var user struct {
		User struct{ ID, Type, Name, Email string } `json:"user"`
	}
	if st := do(t, "GET", s.URL()+"/users/PC", testToken, nil, &user); st != http.StatusOK {
		t.Fatalf("/users/PC status %d", st)
	}
	if user.User.ID != "PC" || user.User.Type != "user" || user.User.Name != "Cid" || user.User.Email != "cid@example.com" {
		t.Fatalf("/users/PC = %+v", user)
	}
	if st := do(t, "GET", s.URL()+"/users/PNOPE", testToken, nil, nil); st != http.StatusNotFound {
		t.Fatalf("/users/PNOPE status %d", st)
	}
}

func TestOnCallsPagination(t *testing.T) {
	s := newServer(t)
	var users []User
	for i := range 30 {
		users = append(users, User{ID: fmt.Sprintf("P%02d", i), Name: "n", Email: "e", Level: 1})
	}
	s.SetOnCall("PEP", users...)
	var ids []string
	for offset := 0; ; {
		var ans onCallsAnswer
		do(t, "GET", s.URL()+"/oncalls?limit=12&offset="+strconv.Itoa(offset), testToken, nil, &ans)
		for _, o := range ans.OnCalls {
			ids = append(ids, o.User.ID)
		}
		if ans.Limit != 12 || ans.Offset != offset {
			t.Fatalf("limit/offset echoed as %d/%d", ans.Limit, ans.Offset)
		}
		if !ans.More {
			break
		}
		offset += ans.Limit
	}
	if len(ids) != 30 || ids[0] != "P00" || ids[29] != users[29].ID {
		t.Fatalf("paged ids = %v", ids)
	}
	if st := do(t, "GET", s.URL()+"/oncalls?limit=100&offset=9950", testToken, nil, nil); st != http.StatusBadRequest {
		t.Fatalf("offset+limit over 10000: status %d", st)
	}
}

func TestFailNext(t *testing.T) {
	s := newServer(t)
	s.FailNext("/v2/enqueue", 2, http.StatusInternalServerError)
	s.FailNext("/users/", 1, http.StatusForbidden)
	var ans eventAnswer
	for i := range 2 {
		if st := do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "k", "s", "info"), &ans); st != http.StatusInternalServerError {
			t.Fatalf("attempt %d: status %d", i, st)
		}
		if ans.Status == "" || ans.Message == "" {
			t.Fatalf("fault body %+v", ans)
		}
	}
	if st := do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "k", "s", "info"), nil); st != http.StatusAccepted {
		t.Fatalf("after the faults: status %d", st)
	}
	if n := len(s.Events()); n != 1 {
		t.Fatalf("%d events accepted, want 1", n)
	}
	var rest struct {
		Error struct{ Code int } `json:"error"`
	}
	if st := do(t, "GET", s.URL()+"/users/PX", testToken, nil, &rest); st != http.StatusForbidden || rest.Error.Code != 2010 {
		t.Fatalf("/users fault: status %d code %d", st, rest.Error.Code)
	}
	reqs := s.RequestsTo("/v2/enqueue")
	if len(reqs) != 3 || reqs[0].Status != 500 || reqs[2].Status != 202 || !bytes.Contains(reqs[2].Body, []byte(`"event_action":"trigger"`)) {
		t.Fatalf("recorded requests: %+v", reqs)
	}
}

func TestSetDownDropsConnections(t *testing.T) {
	s := newServer(t)
	s.SetDown(true)
	resp, err := http.Post(s.URL()+"/v2/enqueue", "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request to a down server answered %d", resp.StatusCode)
	}
	s.SetDown(false)
	if st := do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "k", "s", "info"), nil); st != http.StatusAccepted {
		t.Fatalf("after coming back: status %d", st)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Status != 0 || reqs[1].Status != http.StatusAccepted {
		t.Fatalf("requests = %+v", reqs)
	}
}

func TestSetLatency(t *testing.T) {
	s := newServer(t)
	s.SetLatency(150 * time.Millisecond)
	start := time.Now()
	do(t, "POST", s.URL()+"/v2/enqueue", "", trigger(testKey, "k", "s", "info"), nil)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least 150ms", d)
	}

	// A client that gives up is not answered, and Close does not wait for
	// the latency.
	s.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/oncalls", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Close()
	}()
	start = time.Now()
	if resp, err := http.Get(s.URL() + "/oncalls"); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d while closing", resp.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v to wake a delayed request", d)
	}
	s.Close() // twice is fine
}
