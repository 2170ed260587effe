package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/incidentbot/incidentbot"
)

// Defaults for Config.
const (
	DefaultAPIURL    = "https://api.pagerduty.com"
	DefaultEventsURL = "https://events.pagerduty.com"
	DefaultTimeout   = 10 * time.Second
)

const (
	// retryDelay is the pause before the one retry a call makes inside its
	// timeout.
	retryDelay = 200 * time.Millisecond
	// maxErrorBody is how much of an error answer is kept for its message.
	maxErrorBody = 64 << 10
	// maxDetail bounds the PagerDuty text quoted in an error message.
	maxDetail = 300
)

// Config configures a Client. Keys and the token are trimmed of surrounding
// white space (secrets mounted from files often end in a newline).
type Config struct {
	RoutingKey       string        // Events API v2 integration key; empty disables paging
	Token            string        // REST API token, for the on-call look-up
	EscalationPolicy string        // escalation policy ID whose on-call is looked up
	APIURL           string        // REST API base URL without path; default DefaultAPIURL
	EventsURL        string        // Events API base URL without path; default DefaultEventsURL; /v2/enqueue is appended
	Timeout          time.Duration // limit of each call, retry included; default DefaultTimeout
}

// Client pages and looks up on-call people in PagerDuty. It is safe for
// concurrent use.
type Client struct {
	cfg Config
	pd  *pagerduty.Client
}

// New returns a Client for cfg. With a nil httpClient it uses one whose
// Timeout is cfg.Timeout. New does not contact PagerDuty and does not fail: a
// missing key or token shows in CanPage and CanLookUpOnCall, and a malformed
// URL in the first call's error.
func New(cfg Config, httpClient *http.Client) *Client {
	cfg.RoutingKey = strings.TrimSpace(cfg.RoutingKey)
	cfg.Token = strings.TrimSpace(cfg.Token)
	cfg.EscalationPolicy = strings.TrimSpace(cfg.EscalationPolicy)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.APIURL = baseURL(cfg.APIURL, DefaultAPIURL, "")
	cfg.EventsURL = baseURL(cfg.EventsURL, DefaultEventsURL, "/v2/enqueue")
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.Timeout}
	}
	pd := pagerduty.NewClient(cfg.Token,
		pagerduty.WithAPIEndpoint(cfg.APIURL),
		pagerduty.WithV2EventsAPIEndpoint(cfg.EventsURL),
	)
	pd.HTTPClient = &recordingDoer{hc: httpClient}
	return &Client{cfg: cfg, pd: pd}
}

// baseURL returns u, or def when u is empty, without trailing slashes or the
// path suffix the client appends itself.
func baseURL(u, def, suffix string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return def
	}
	u = strings.TrimRight(u, "/")
	if suffix != "" {
		u = strings.TrimRight(strings.TrimSuffix(u, suffix), "/")
	}
	return u
}

// CanPage reports whether a routing key is configured, so that Trigger and
// Resolve can work.
func (c *Client) CanPage() bool { return c.cfg.RoutingKey != "" }

// CanLookUpOnCall reports whether an API token and an escalation policy are
// configured, so that OnCallNow can work.
func (c *Client) CanLookUpOnCall() bool {
	return c.cfg.Token != "" && c.cfg.EscalationPolicy != ""
}

// Retryable reports whether err is worth trying again later: a timeout, a
// network error, HTTP 429 or 5xx (code EUnavailable). Rejected requests,
// refused credentials and missing configuration are not.
func Retryable(err error) bool {
	return incidentbot.ErrorCode(err) == incidentbot.EUnavailable
}

// exchange is what recordingDoer saw of one HTTP request: go-pagerduty
// flattens transport errors into text and drops the Events API's error body,
// and the adapter needs both to classify a failure.
type exchange struct {
	status       int
	body         []byte // start of a non-2xx answer's body
	transportErr error
}

type exchangeKey struct{}

// recordingDoer is the HTTP client handed to go-pagerduty. It notes the
// outcome of each request in the exchange carried by the request's context.
type recordingDoer struct{ hc *http.Client }

type readCloser struct {
	io.Reader
	io.Closer
}

// Do sends req with the wrapped client.
func (d *recordingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.hc.Do(req)
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return resp, err
	}
	if err != nil {
		ex.transportErr = err
		return resp, err
	}
	ex.status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		peek, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		ex.body = peek
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	}
	return resp, nil
}

// call runs fn, one PagerDuty request, under ctx (which carries the call's
// deadline). When the request fails in a way that may pass and the deadline
// leaves room, it is tried once more after retryDelay. Rate limiting (429) is
// not retried here: PagerDuty's limits reset by the minute, which is the
// caller's time scale. The error is an *incidentbot.Error for op.
func (c *Client) call(ctx context.Context, op, what string, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		ex := &exchange{}
		err := fn(context.WithValue(ctx, exchangeKey{}, ex))
		if err == nil {
			return nil
		}
		err = c.classify(ctx, op, what, ex, err)
		if attempt > 0 || !retryInside(ctx, ex, err) {
			return err
		}
		t := time.NewTimer(retryDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// retryInside reports whether a failed request may be tried again inside the
// call's deadline.
func retryInside(ctx context.Context, ex *exchange, err error) bool {
	if !Retryable(err) || ex.status == http.StatusTooManyRequests || ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > 2*retryDelay
}

// classify turns a failed request into an *incidentbot.Error whose message is
// safe to show and whose text holds neither the routing key nor the token.
func (c *Client) classify(ctx context.Context, op, what string, ex *exchange, err error) error {
	e := &incidentbot.Error{Op: op, Err: errors.New(c.redact(err.Error()))}
	auth := "PAGERDUTY_TOKEN"
	if what == whatPage || what == whatResolve {
		auth = "PAGERDUTY_ROUTING_KEY"
	}
	switch st := ex.status; {
	case st == 0 && (ex.transportErr != nil || ctx.Err() != nil):
		e.Code = incidentbot.EUnavailable
		var ne net.Error
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(ex.transportErr, &ne) && ne.Timeout():
			e.Message = fmt.Sprintf("PagerDuty did not answer %s in time (limit %s)", what, c.cfg.Timeout)
		case ctx.Err() != nil:
			e.Message = fmt.Sprintf("%s was cancelled before PagerDuty answered", capitalize(what))
		default:
			e.Message = fmt.Sprintf("PagerDuty could not be reached for %s", what)
		}
	case st == 0:
		// The request never left: a malformed base URL.
		e.Code = incidentbot.EInvalid
		e.Message = fmt.Sprintf("Could not send %s to PagerDuty; check INCIDENTBOT_PAGERDUTY_API_URL and INCIDENTBOT_PAGERDUTY_EVENTS_URL", what)
	case st >= 200 && st <= 299:
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("PagerDuty's answer to %s could not be read", what)
	case st == http.StatusBadRequest:
		e.Code = incidentbot.EInvalid
		e.Message = fmt.Sprintf("PagerDuty rejected %s (HTTP 400%s)", what, c.detail(ex.body))
		if what == whatPage || what == whatResolve {
			e.Message += "; check PAGERDUTY_ROUTING_KEY"
		}
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		e.Code = incidentbot.EUnauthorized
		e.Message = fmt.Sprintf("PagerDuty refused the credentials for %s (HTTP %d%s); check %s", what, st, c.detail(ex.body), auth)
	case st == http.StatusNotFound:
		e.Code = incidentbot.ENotFound
		e.Message = fmt.Sprintf("PagerDuty found nothing for %s (HTTP 404%s)", what, c.detail(ex.body))
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
		e.Code = incidentbot.EUnavailable
		e.Message = fmt.Sprintf("PagerDuty could not take %s now (HTTP %d%s)", what, st, c.statusDetail(st, ex.body))
	default:
		e.Code = incidentbot.EInvalid
		e.Message = fmt.Sprintf("PagerDuty refused %s (HTTP %d%s)", what, st, c.detail(ex.body))
	}
	return e
}

// detail extracts PagerDuty's explanation from an error body, either the
// Events API's {"message","errors"} or the REST API's {"error":{...}}, as
// ": <text>", redacted and shortened; "" when there is none.
func (c *Client) detail(body []byte) string {
	var doc struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
		Error   *struct {
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	msg, errs := doc.Message, doc.Errors
	if doc.Error != nil {
		msg, errs = doc.Error.Message, doc.Error.Errors
	}
	parts := make([]string, 0, 1+len(errs))
	if msg != "" {
		parts = append(parts, msg)
	}
	parts = append(parts, errs...)
	s := strings.Join(parts, "; ")
	if s == "" {
		return ""
	}
	s = c.redact(s)
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail]) + "…"
	}
	return ": " + s
}

// statusDetail is detail, or " <status text>" when PagerDuty gave no
// detail.
func (c *Client) statusDetail(status int, body []byte) string {
	if d := c.detail(body); d != "" {
		return d
	}
	if t := http.StatusText(status); t != "" {
		return " " + t
	}
	return ""
}

// redact removes the routing key and the token from s.
func (c *Client) redact(s string) string {
	for _, secret := range []string{c.cfg.RoutingKey, c.cfg.Token} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// deadline bounds one public call, retry included, by the configured timeout.
func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}
