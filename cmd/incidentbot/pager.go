package main

import (
	"context"
	"net/http"
	"time"

	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/pagerduty"
)

// pagerAdapter lets commands page through the pagerduty package.
type pagerAdapter struct{ c *pagerduty.Client }

var (
	_ commands.Pager        = pagerAdapter{}
	_ commands.OnCallFinder = pagerAdapter{}
)

func (p pagerAdapter) Trigger(ctx context.Context, a commands.Alert) error {
	alert := pagerduty.Alert{
		DedupKey: a.DedupKey, Summary: a.Summary, Severity: a.Severity,
		Source: pagerduty.DefaultSource, Component: "incident", Details: a.Details,
	}
	if a.Link != "" {
		alert.Links = []pagerduty.Link{{Href: a.Link, Text: "Incident channel in Slack"}}
	}
	return p.c.Trigger(ctx, alert)
}

func (p pagerAdapter) Resolve(ctx context.Context, dedupKey string) error {
	return p.c.Resolve(ctx, dedupKey)
}

func (p pagerAdapter) OnCallNow(ctx context.Context) ([]commands.OnCall, error) {
	calls, err := p.c.OnCallNow(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]commands.OnCall, len(calls))
	for i, c := range calls {
		out[i] = commands.OnCall{Name: c.Name, Email: c.Email, Level: c.Level}
	}
	return out, nil
}

// pagerConfig wires PagerDuty into the commands when it is configured.
func (m *Main) pagerConfig(cfg *commands.Config, metrics *ops.Metrics) {
	c := m.Config
	const timeout = 10 * time.Second
	pd := pagerduty.New(pagerduty.Config{
		RoutingKey: c.PDRoutingKey, Token: c.PDToken, EscalationPolicy: c.PDEscalationPolicy,
		APIURL: c.PDAPIURL, EventsURL: c.PDEventsURL, Timeout: timeout,
	}, &http.Client{Timeout: timeout, Transport: metrics.Transport("pagerduty", nil)})
	cfg.PageSeverity = c.PageSeverity
	if pd.CanPage() {
		cfg.Pager = pagerAdapter{pd}
	}
	if pd.CanLookUpOnCall() {
		cfg.OnCall = pagerAdapter{pd}
	}
}
