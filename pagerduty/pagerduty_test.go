package pagerduty_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pagerdutyemu"
	"github.com/incidentbot/incidentbot/pagerduty"
)

const (
	routingKey = "R0utingKeyR0utingKeyR0utingKey42"
	token      = "u+tok3n_S3cret-value"
	policy     = "PEP1234"
)

// setup starts an emulator knowing routingKey and token, and a Client
// pointed at it.
func setup(t *testing.T, mutate ...func(*pagerduty.Config)) (*pagerdutyemu.Server, *pagerduty.Client) {
	t.Helper()
	return setupEmu(t, pagerdutyemu.Config{}, mutate...)
}

func setupEmu(t *testing.T, ecfg pagerdutyemu.Config, mutate ...func(*pagerduty.Config)) (*pagerdutyemu.Server, *pagerduty.Client) {
	t.Helper()
	t.Parallel()
	ecfg.RoutingKeys = []string{routingKey}
	ecfg.Token = token
	emu, err := pagerdutyemu.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg := pagerduty.Config{
		RoutingKey:       routingKey,
		Token:            token,
		EscalationPolicy: policy,
		APIURL:           emu.URL(),
		EventsURL:        emu.URL(),
		Timeout:          3 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	return emu, pagerduty.New(cfg, nil)
}

func alert(dedup string) incidentbot.Alert {
	return incidentbot.Alert{DedupKey: dedup, Summary: "INC-7: checkout is down", Severity: incidentbot.Sev1}
}

// assertCode fails unless err carries code and Retryable agrees with it.
func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := incidentbot.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
	if want := code == incidentbot.EUnavailable; pagerduty.Retryable(err) != want {
		t.Fatalf("Retryable(%v) = %v, want %v", err, !want, want)
	}
	if incidentbot.ErrorMessage(err) == "" {
		t.Fatal("error has no user message")
	}
}

// assertNoSecrets fails when err's text or user message holds a secret.
func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{err.Error(), incidentbot.ErrorMessage(err)} {
		if strings.Contains(s, routingKey) || strings.Contains(s, token) {
			t.Fatalf("error text holds a secret: %q", s)
		}
	}
}

func TestMapSeverity(t *testing.T) {
	tests := []struct {
		sev  incidentbot.Severity
		want string
	}{
		{incidentbot.Sev1, "critical"},
		{incidentbot.Sev2, "error"},
		{incidentbot.Sev3, "warning"},
		{incidentbot.Sev4, "info"},
		{0, ""},
		{5, ""},
	}
	for _, tt := range tests {
		if got := pagerduty.MapSeverity(tt.sev); got != tt.want {
			t.Errorf("MapSeverity(%d) = %q, want %q", tt.sev, got, tt.want)
		}
	}
}

func TestTriggerSeverities(t *testing.T) {
	emu, c := setup(t)
	tests := []struct {
		sev  incidentbot.Severity
		want string
	}{
		{incidentbot.Sev1, "critical"},
		{incidentbot.Sev2, "error"},
		{incidentbot.Sev3, "warning"},
		{incidentbot.Sev4, "info"},
	}
	for _, tt := range tests {
		a := alert("INC-7-" + tt.sev.String())
		a.Severity = tt.sev
		if err := c.Trigger(context.Background(), a); err != nil {
			t.Fatalf("%s: %v", tt.sev, err)
		}
		got := emu.Alerts()[a.DedupKey]
		if got.Status != pagerdutyemu.Triggered || got.Severity != tt.want {
			t.Errorf("%s: alert %+v, want severity %s", tt.sev, got, tt.want)
		}
	}
}

func TestTriggerSendsTheAlert(t *testing.T) {
	emu, c := setup(t, func(cfg *pagerduty.Config) {
		// Trailing slashes, a path suffix and white space are tolerated.
		cfg.EventsURL += "/v2/enqueue/"
		cfg.RoutingKey = " " + routingKey + "\n"
	})
	a := incidentbot.Alert{
		DedupKey:  "INC-7-page-1",
		Summary:   "INC-7: checkout is down",
		Severity:  incidentbot.Sev2,
		Component: "checkout",
		Links: []incidentbot.AlertLink{
			{Href: "https://example.slack.com/archives/C7", Text: "#inc-7-checkout"},
			{Href: "", Text: "dropped"},
		},
		Details: map[string]string{"commander": "Ann", "note": "paged by Bob"},
	}
	if err := c.Trigger(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	evs := emu.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Action != "trigger" || ev.RoutingKey != routingKey || ev.DedupKey != a.DedupKey || ev.Summary != a.Summary ||
		ev.Source != pagerduty.DefaultSource || ev.Severity != "error" || ev.Component != "checkout" || ev.Client != "incidentbot" {
		t.Errorf("event = %+v", ev)
	}
	if ev.Details["commander"] != "Ann" || ev.Details["note"] != "paged by Bob" || len(ev.Details) != 2 {
		t.Errorf("details = %v", ev.Details)
	}
	if len(ev.Links) != 1 || ev.Links[0] != (pagerdutyemu.Link{Href: "https://example.slack.com/archives/C7", Text: "#inc-7-checkout"}) {
		t.Errorf("links = %+v", ev.Links)
	}

	// The body on the wire, field by field.
	var body map[string]any
	if err := json.Unmarshal(emu.RequestsTo("/v2/enqueue")[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	payload, _ := body["payload"].(map[string]any)
	if body["routing_key"] != routingKey || body["event_action"] != "trigger" || body["dedup_key"] != "INC-7-page-1" ||
		payload["summary"] != a.Summary || payload["severity"] != "error" || payload["source"] != "incidentbot" {
		t.Errorf("request body = %v", body)
	}
}

func TestTriggerCutsLongSummaries(t *testing.T) {
	emu, c := setup(t)
	a := alert("INC-8")
	a.Summary = strings.Repeat("é", 3000)
	if err := c.Trigger(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(emu.Events()[0].Summary); n != 1024 {
		t.Fatalf("summary of %d characters sent, want 1024", n)
	}
}

func TestTriggerRejectsIncompleteAlerts(t *testing.T) {
	emu, c := setup(t)
	tests := []struct {
		name string
		a    incidentbot.Alert
	}{
		{"no dedup key", incidentbot.Alert{Summary: "s", Severity: incidentbot.Sev1}},
		{"dedup key too long", incidentbot.Alert{DedupKey: strings.Repeat("k", 256), Summary: "s", Severity: incidentbot.Sev1}},
		{"no summary", incidentbot.Alert{DedupKey: "k", Summary: " ", Severity: incidentbot.Sev1}},
		{"no severity", incidentbot.Alert{DedupKey: "k", Summary: "s"}},
	}
	for _, tt := range tests {
		err := c.Trigger(context.Background(), tt.a)
		if incidentbot.ErrorCode(err) != incidentbot.EInvalid || pagerduty.Retryable(err) {
			t.Errorf("%s: err = %v, want a non-retryable EInvalid", tt.name, err)
		}
	}
	if err := c.Resolve(context.Background(), ""); incidentbot.ErrorCode(err) != incidentbot.EInvalid {
		t.Errorf("Resolve(\"\") = %v, want EInvalid", err)
	}
	if n := len(emu.Requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid alerts", n)
	}
}

func TestResolve(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()
	if err := c.Trigger(ctx, alert("INC-9")); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(ctx, "INC-9"); err != nil {
		t.Fatal(err)
	}
	if a := emu.Alerts()["INC-9"]; a.Status != pagerdutyemu.Resolved {
		t.Fatalf("alert after Resolve = %+v", a)
	}
	// Resolving twice, or an alert never triggered, succeeds.
	if err := c.Resolve(ctx, "INC-9"); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(ctx, "INC-404"); err != nil {
		t.Fatal(err)
	}
	evs := emu.Events()
	if len(evs) != 4 || evs[1].Action != "resolve" || evs[1].DedupKey != "INC-9" || evs[1].Dropped || !evs[3].Dropped {
		t.Fatalf("events = %+v", evs)
	}
}

func TestNotConfigured(t *testing.T) {
	_, c := setup(t, func(cfg *pagerduty.Config) { *cfg = pagerduty.Config{APIURL: cfg.APIURL, EventsURL: cfg.EventsURL} })
	if c.CanPage() || c.CanLookUpOnCall() {
		t.Fatal("an empty Config claims to page or look up on-call")
	}
	assertCode(t, c.Trigger(context.Background(), alert("INC-1")), incidentbot.EInvalid)
	assertCode(t, c.Resolve(context.Background(), "INC-1"), incidentbot.EInvalid)
	_, err := c.OnCallNow(context.Background())
	assertCode(t, err, incidentbot.EInvalid)

	c = pagerduty.New(pagerduty.Config{RoutingKey: routingKey, Token: token}, nil)
	if !c.CanPage() || c.CanLookUpOnCall() {
		t.Fatal("CanPage/CanLookUpOnCall wrong without an escalation policy")
	}
}

func TestServerErrorRetriedOnceInside(t *testing.T) {
	emu, c := setup(t)
	emu.FailNext("/v2/enqueue", 1, http.StatusInternalServerError)
	if err := c.Trigger(context.Background(), alert("INC-10")); err != nil {
		t.Fatalf("Trigger after one 500 = %v, want the inner retry to succeed", err)
	}
	if n := len(emu.RequestsTo("/v2/enqueue")); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestServerErrorThenCallerRetries(t *testing.T) {
	emu, c := setup(t)
	emu.FailNext("/v2/enqueue", 2, http.StatusServiceUnavailable)
	err := c.Trigger(context.Background(), alert("INC-11"))
	assertCode(t, err, incidentbot.EUnavailable)
	assertNoSecrets(t, err)
	if n := len(emu.RequestsTo("/v2/enqueue")); n != 2 {
		t.Fatalf("%d requests, want 2 (one inner retry)", n)
	}
	if len(emu.Alerts()) != 0 {
		t.Fatal("an alert exists after two 503s")
	}
	// The caller's retry, with the same alert, pages once.
	if err := c.Trigger(context.Background(), alert("INC-11")); err != nil {
		t.Fatal(err)
	}
	if a := emu.Alerts()["INC-11"]; a.Status != pagerdutyemu.Triggered || a.Triggers != 1 {
		t.Fatalf("alert = %+v", a)
	}
}

func TestRateLimitIsRetryableButNotRetriedInside(t *testing.T) {
	emu, c := setup(t)
	emu.FailNext("/v2/enqueue", 1, http.StatusTooManyRequests)
	err := c.Trigger(context.Background(), alert("INC-12"))
	assertCode(t, err, incidentbot.EUnavailable)
	if n := len(emu.RequestsTo("/v2/enqueue")); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestBadRequestIsNotRetryable(t *testing.T) {
	emu, c := setup(t, func(cfg *pagerduty.Config) { cfg.RoutingKey = strings.Repeat("Z", 32) })
	err := c.Trigger(context.Background(), alert("INC-13"))
	assertCode(t, err, incidentbot.EInvalid)
	if msg := incidentbot.ErrorMessage(err); !strings.Contains(msg, "Invalid routing key") || !strings.Contains(msg, "PAGERDUTY_ROUTING_KEY") {
		t.Errorf("message %q does not explain the rejection", msg)
	}
	if strings.Contains(err.Error(), strings.Repeat("Z", 32)) {
		t.Errorf("error holds the routing key: %v", err)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1: a 400 is not retried", n)
	}
}

func TestUnauthorized(t *testing.T) {
	emu, c := setup(t, func(cfg *pagerduty.Config) { cfg.Token = "wrong-token" })
	_, err := c.OnCallNow(context.Background())
	assertCode(t, err, incidentbot.EUnauthorized)
	if !strings.Contains(incidentbot.ErrorMessage(err), "PAGERDUTY_TOKEN") {
		t.Errorf("message %q does not name the setting", incidentbot.ErrorMessage(err))
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error holds the token: %v", err)
	}
	emu.FailNext("/v2/enqueue", 1, http.StatusForbidden)
	assertCode(t, c.Trigger(context.Background(), alert("INC-14")), incidentbot.EUnauthorized)
}

func TestTimeout(t *testing.T) {
	emu, c := setup(t, func(cfg *pagerduty.Config) { cfg.Timeout = 150 * time.Millisecond })
	emu.SetLatency(5 * time.Second)
	for name, call := range map[string]func() error{
		"trigger": func() error { return c.Trigger(context.Background(), alert("INC-15")) },
		"resolve": func() error { return c.Resolve(context.Background(), "INC-15") },
		"oncall":  func() error { _, err := c.OnCallNow(context.Background()); return err },
	} {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: failed after %v with a 150ms timeout", name, d)
		}
		assertCode(t, err, incidentbot.EUnavailable)
		assertNoSecrets(t, err)
		if !strings.Contains(incidentbot.ErrorMessage(err), "in time") {
			t.Errorf("%s: message %q does not say it timed out", name, incidentbot.ErrorMessage(err))
		}
	}
	// The caller's own deadline is honoured as well.
	emu.SetLatency(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	assertCode(t, c.Trigger(ctx, alert("INC-15")), incidentbot.EUnavailable)
	if d := time.Since(start); d > time.Second {
		t.Errorf("caller deadline: failed after %v", d)
	}
}

func TestUnreachable(t *testing.T) {
	emu, c := setup(t)
	emu.SetDown(true)
	err := c.Trigger(context.Background(), alert("INC-16"))
	assertCode(t, err, incidentbot.EUnavailable)
	assertNoSecrets(t, err)
	if n := len(emu.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one inner retry)", n)
	}
	_, err = c.OnCallNow(context.Background())
	assertCode(t, err, incidentbot.EUnavailable)

	emu.SetDown(false)
	if err := c.Trigger(context.Background(), alert("INC-16")); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedURL(t *testing.T) {
	_, c := setup(t, func(cfg *pagerduty.Config) { cfg.EventsURL = "http://[::1" })
	err := c.Trigger(context.Background(), alert("INC-17"))
	assertCode(t, err, incidentbot.EInvalid)
}

// TestSecretsNeverInErrors runs against a server that echoes everything it
// received in its error answers, so that only redaction keeps the secrets
// out of the error text.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusUnauthorized} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				seen := string(body) + " " + r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				if r.URL.Path == "/v2/enqueue" {
					_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "bad: " + seen, "errors": []string{seen}})
					return
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "bad: " + seen, "code": 2001, "errors": []string{seen}}})
			}))
			defer echo.Close()
			c := pagerduty.New(pagerduty.Config{
				RoutingKey: routingKey, Token: token, EscalationPolicy: policy,
				APIURL: echo.URL, EventsURL: echo.URL, Timeout: 2 * time.Second,
			}, nil)

			err := c.Trigger(context.Background(), alert("INC-18"))
			if err == nil {
				t.Fatal("Trigger succeeded against an error server")
			}
			assertNoSecrets(t, err)
			if !strings.Contains(err.Error(), "[redacted]") {
				t.Errorf("trigger error %q does not show the redaction", err)
			}
			err = c.Resolve(context.Background(), "INC-18")
			assertNoSecrets(t, err)
			_, err = c.OnCallNow(context.Background())
			if err == nil {
				t.Fatal("OnCallNow succeeded against an error server")
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestOnCallNow(t *testing.T) {
	emu, c := setup(t)
	emu.SetOnCall(policy,
		pagerdutyemu.User{ID: "PCARL", Name: "Carl", Email: "carl@example.com", Level: 3},
		pagerdutyemu.User{ID: "PBOB", Name: "Bob", Email: "bob@example.com", Level: 2},
		pagerdutyemu.User{ID: "PANN", Name: "Ann", Email: "ann@example.com", Level: 1, ScheduleID: "PSCHED"},
		pagerdutyemu.User{ID: "PCARL", Name: "Carl", Email: "carl@example.com", Level: 1, ScheduleID: "PSCHED2"},
	)
	emu.SetOnCall("POTHER", pagerdutyemu.User{ID: "PZED", Name: "Zed", Email: "zed@example.com", Level: 1})

	got, err := c.OnCallNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []incidentbot.OnCall{
		{UserID: "PCARL", Name: "Carl", Email: "carl@example.com", Level: 1},
		{UserID: "PANN", Name: "Ann", Email: "ann@example.com", Level: 1},
		{UserID: "PBOB", Name: "Bob", Email: "bob@example.com", Level: 2},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnCallNow = %+v\nwant        %+v", got, want)
	}

	reqs := emu.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/oncalls" {
		t.Fatalf("requests = %+v, want one /oncalls", reqs)
	}
	q, _ := url.ParseQuery(reqs[0].Query)
	if q.Get("escalation_policy_ids[]") != policy || q.Get("include[]") != "users" || q.Get("earliest") != "true" {
		t.Errorf("query = %v", q)
	}
	if reqs[0].Header.Get("Authorization") != "Token token="+token {
		t.Errorf("Authorization header not sent as PagerDuty expects")
	}

	// Nobody on call is an empty answer, not an error.
	emu.SetOnCall(policy)
	if got, err := c.OnCallNow(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("nobody on call: %v, %v", got, err)
	}
}

func TestOnCallNowFetchesMissingEmails(t *testing.T) {
	emu, c := setupEmu(t, pagerdutyemu.Config{IgnoreIncludes: true})
	emu.SetOnCall(policy,
		pagerdutyemu.User{ID: "PANN", Name: "Ann", Email: "ann@example.com", Level: 1},
		pagerdutyemu.User{ID: "PBOB", Name: "Bob", Email: "bob@example.com", Level: 2},
	)
	emu.FailNext("/users/PBOB", 1, http.StatusNotFound) // deleted meanwhile
	got, err := c.OnCallNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []incidentbot.OnCall{
		{UserID: "PANN", Name: "Ann", Email: "ann@example.com", Level: 1},
		{UserID: "PBOB", Name: "Bob", Level: 2},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnCallNow = %+v\nwant        %+v", got, want)
	}
	if n := len(emu.RequestsTo("/users/PANN")); n != 1 {
		t.Fatalf("%d /users/PANN requests, want 1", n)
	}

	// A user look-up that keeps failing fails the call.
	emu.FailNext("/users/", 2, http.StatusBadGateway)
	_, err = c.OnCallNow(context.Background())
	assertCode(t, err, incidentbot.EUnavailable)
}

func TestOnCallNowPages(t *testing.T) {
	emu, c := setup(t)
	var users []pagerdutyemu.User
	for i := range 150 {
		users = append(users, pagerdutyemu.User{ID: fmt.Sprintf("P%03d", i), Name: fmt.Sprint("user ", i), Email: fmt.Sprintf("u%d@example.com", i), Level: uint(3 - i%3)})
	}
	emu.SetOnCall(policy, users...)
	got, err := c.OnCallNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 {
		t.Fatalf("%d on-calls, want 150", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Level > got[i].Level {
			t.Fatalf("not ordered by level at %d: %+v, %+v", i, got[i-1], got[i])
		}
	}
	if got[0].UserID != "P002" || got[0].Level != 1 {
		t.Errorf("first on-call = %+v, want P002 at level 1", got[0])
	}
	if n := len(emu.RequestsTo("/oncalls")); n != 2 {
		t.Fatalf("%d /oncalls requests, want 2 pages", n)
	}
}

func TestOnCallNowServerErrorRetriedInside(t *testing.T) {
	emu, c := setup(t)
	emu.SetOnCall(policy, pagerdutyemu.User{ID: "PANN", Name: "Ann", Email: "ann@example.com"})
	emu.FailNext("/oncalls", 1, http.StatusInternalServerError)
	got, err := c.OnCallNow(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("OnCallNow after one 500 = %v, %v", got, err)
	}
	emu.FailNext("/oncalls", 1, http.StatusBadRequest)
	_, err = c.OnCallNow(context.Background())
	assertCode(t, err, incidentbot.EInvalid)
}
