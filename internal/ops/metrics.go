package ops

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are incidentbot's Prometheus metrics. The zero value is not
// usable; a nil *Metrics records nothing.
type Metrics struct {
	reg        *prometheus.Registry
	received   *prometheus.CounterVec
	acked      *prometheus.CounterVec
	stored     prometheus.Counter
	commands   *prometheus.HistogramVec
	reminders  prometheus.Counter
	apiErrors  *prometheus.CounterVec
	storeWrite prometheus.Histogram
	storeFail  prometheus.Counter
	gaps       *gapCollector // the backfill's (backfill.go)
}

// OpenIncidents counts open incidents by severity ("sev1".."sev4").
type OpenIncidents func() (map[string]int, error)

// NewMetrics registers the metrics; open is asked at each scrape.
func NewMetrics(open OpenIncidents) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentbot_envelopes_received_total", Help: "Socket Mode envelopes received, by type.",
		}, []string{"type"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentbot_envelopes_acked_total", Help: "Socket Mode envelopes acknowledged (after what they carry was committed), by type.",
		}, []string{"type"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentbot_events_stored_total", Help: "Captured Slack events stored in the timeline (duplicates not counted).",
		}),
		commands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "incidentbot_command_seconds", Help: "Time from receiving a slash command to acknowledging it, by subcommand.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"subcommand"}),
		reminders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentbot_reminders_sent_total", Help: "Status-update reminders posted.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentbot_api_errors_total", Help: "Failed calls to Slack and PagerDuty (HTTP 401, 403, 429, 5xx, network errors, Slack error codes), by API, method and code.",
		}, []string{"api", "method", "code"}),
		storeWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "incidentbot_store_write_seconds", Help: "bbolt write latency, group-commit wait included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		storeFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentbot_store_write_errors_total", Help: "bbolt writes that failed.",
		}),
		gaps: newGapCollector(),
	}
	reg.MustRegister(m.received, m.acked, m.stored, m.commands, m.reminders, m.apiErrors, m.storeWrite, m.storeFail, m.gaps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		openCollector{open: open, desc: prometheus.NewDesc("incidentbot_open_incidents", "Open incidents, by severity.", []string{"severity"}, nil)})
	return m
}

// openCollector asks the store at each scrape.
type openCollector struct {
	open OpenIncidents
	desc *prometheus.Desc
}

func (c openCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c openCollector) Collect(ch chan<- prometheus.Metric) {
	if c.open == nil {
		return
	}
	counts, err := c.open()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, sev := range []string{"sev1", "sev2", "sev3", "sev4"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[sev]), sev)
	}
}

// EnvelopeReceived counts an envelope of a type.
func (m *Metrics) EnvelopeReceived(typ string) {
	if m != nil {
		m.received.WithLabelValues(typ).Inc()
	}
}

// EnvelopeAcked counts an acknowledged envelope.
func (m *Metrics) EnvelopeAcked(typ string) {
	if m != nil {
		m.acked.WithLabelValues(typ).Inc()
	}
}

// EventsStored counts stored timeline events.
func (m *Metrics) EventsStored(n int) {
	if m != nil {
		m.stored.Add(float64(n))
	}
}

// CommandDone observes a slash command's time to acknowledgement.
func (m *Metrics) CommandDone(subcommand string, d time.Duration) {
	if m != nil {
		m.commands.WithLabelValues(subcommand).Observe(d.Seconds())
	}
}

// ReminderSent counts a reminder.
func (m *Metrics) ReminderSent() {
	if m != nil {
		m.reminders.Inc()
	}
}

// APIError counts a failed call of api ("slack", "pagerduty").
func (m *Metrics) APIError(api, method, code string) {
	if m != nil {
		m.apiErrors.WithLabelValues(api, method, code).Inc()
	}
}

// StoreWrite observes a store write; store.Options.OnWrite takes it.
func (m *Metrics) StoreWrite(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeWrite.Observe(d.Seconds())
	if err != nil {
		m.storeFail.Inc()
	}
}

// Transport wraps base (nil: http.DefaultTransport) so that every HTTP 429,
// 5xx, network error and refusal of the credentials (401, 403: a revoked
// key, which retrying cannot mend) of api is counted by method: the last path element
// for Slack ("chat.postMessage"), the path for PagerDuty ("/v2/enqueue").
// Retried attempts are counted one by one.
func (m *Metrics) Transport(api string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if m == nil {
		return base
	}
	return countingTransport{m: m, api: api, base: base}
}

type countingTransport struct {
	m    *Metrics
	api  string
	base http.RoundTripper
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	method := req.URL.Path
	if t.api == "slack" {
		method = method[strings.LastIndexByte(method, '/')+1:]
	} else if strings.HasPrefix(method, "/users/") {
		method = "/users/{id}"
	}
	switch {
	case err != nil:
		code := "network"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			code = "timeout"
		}
		t.m.APIError(t.api, method, code)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500,
		resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		t.m.APIError(t.api, method, strconv.Itoa(resp.StatusCode))
	}
	return resp, err
}
