package pagerduty

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/incidentbot/incidentbot"
)

// Limits of the Events API v2.
const (
	maxDedupKey = 255
	maxSummary  = 1024
)

// DefaultSource is an alert's payload.source when incidentbot.Alert.Source
// is empty.
const DefaultSource = "incidentbot"

// What each call is, in error messages.
const (
	whatPage    = "the page"
	whatResolve = "the resolve event"
	whatOnCall  = "the on-call look-up"
	whatUser    = "the on-call person's details"
)

// MapSeverity returns the Events API severity for s: sev1 critical, sev2
// error, sev3 warning, sev4 info, and "" for an invalid severity.
func MapSeverity(s incidentbot.Severity) string {
	switch s {
	case incidentbot.Sev1:
		return "critical"
	case incidentbot.Sev2:
		return "error"
	case incidentbot.Sev3:
		return "warning"
	case incidentbot.Sev4:
		return "info"
	}
	return ""
}

// Trigger opens (or adds to) the PagerDuty alert a.DedupKey (its severity
// mapped with MapSeverity), which notifies
// the on-call people of the routing key's service. It fails with EInvalid
// when paging is not configured or a is incomplete (nothing is sent then) or
// PagerDuty rejects the event, EUnauthorized on 401 or 403, and EUnavailable
// on a timeout, a network error, 429 or 5xx, which are worth retrying with
// the same Alert.
func (c *Client) Trigger(ctx context.Context, a incidentbot.Alert) error {
	op := "pagerduty: trigger alert " + a.DedupKey
	if err := c.checkPaging(op, a.DedupKey); err != nil {
		return err
	}
	ev, err := c.triggerEvent(op, a)
	if err != nil {
		return err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	return c.call(ctx, op, whatPage, func(ctx context.Context) error {
		_, err := c.pd.ManageEventWithContext(ctx, ev)
		return err
	})
}

// Resolve resolves the PagerDuty alert dedupKey. Resolving an alert that is
// already resolved, or was never triggered, succeeds: PagerDuty accepts and
// drops such events. Its errors are those of Trigger.
func (c *Client) Resolve(ctx context.Context, dedupKey string) error {
	op := "pagerduty: resolve alert " + dedupKey
	if err := c.checkPaging(op, dedupKey); err != nil {
		return err
	}
	ev := &pagerduty.V2Event{RoutingKey: c.cfg.RoutingKey, Action: "resolve", DedupKey: dedupKey}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	return c.call(ctx, op, whatResolve, func(ctx context.Context) error {
		_, err := c.pd.ManageEventWithContext(ctx, ev)
		return err
	})
}

// checkPaging fails with EInvalid when no routing key is configured or the
// dedup key is unusable.
func (c *Client) checkPaging(op, dedupKey string) error {
	switch {
	case !c.CanPage():
		return &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "PagerDuty paging is not configured: set PAGERDUTY_ROUTING_KEY"}
	case strings.TrimSpace(dedupKey) == "":
		return &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "A PagerDuty alert needs a dedup key"}
	case utf8.RuneCountInString(dedupKey) > maxDedupKey:
		return &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "A PagerDuty dedup key has at most 255 characters"}
	}
	return nil
}

// triggerEvent builds the Events API v2 trigger for a.
func (c *Client) triggerEvent(op string, a incidentbot.Alert) (*pagerduty.V2Event, error) {
	severity := MapSeverity(a.Severity)
	if severity == "" {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "A PagerDuty alert needs a severity from sev1 to sev4"}
	}
	summary := strings.TrimSpace(a.Summary)
	if summary == "" {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "A PagerDuty alert needs a summary"}
	}
	if r := []rune(summary); len(r) > maxSummary {
		summary = string(r[:maxSummary-1]) + "…"
	}
	source := strings.TrimSpace(a.Source)
	if source == "" {
		source = DefaultSource
	}
	var links []any
	for _, l := range a.Links {
		if strings.TrimSpace(l.Href) == "" {
			continue
		}
		link := map[string]string{"href": l.Href}
		if l.Text != "" {
			link["text"] = l.Text
		}
		links = append(links, link)
	}
	payload := &pagerduty.V2Payload{
		Summary:   summary,
		Source:    source,
		Severity:  severity,
		Component: a.Component,
	}
	if len(a.Details) > 0 {
		payload.Details = a.Details
	}
	return &pagerduty.V2Event{
		RoutingKey: c.cfg.RoutingKey,
		Action:     "trigger",
		DedupKey:   a.DedupKey,
		Client:     "incidentbot",
		Links:      links,
		Payload:    payload,
	}, nil
}
