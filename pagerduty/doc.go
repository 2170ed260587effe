// Package pagerduty is incidentbot's adapter over PagerDuty, built on
// github.com/PagerDuty/go-pagerduty. It pages through the Events API v2
// (Trigger, Resolve) with the integration's routing key, and finds who is on
// call now for an escalation policy through the REST API (OnCallNow) with an
// API token.
//
// Every call finishes within Config.Timeout. A call that fails in a way that
// may pass (a network error, a timeout, HTTP 5xx) is tried once more inside
// that time when room is left; the durable retry, across minutes and restarts,
// is the caller's (the bot's outbox), and Retryable tells it which errors are
// worth retrying. Errors are *incidentbot.Error values: EUnavailable for
// timeouts, network errors, 429 and 5xx; EInvalid for requests PagerDuty
// rejects (400) and for missing configuration; EUnauthorized for 401 and 403.
// Their messages may be shown to users. The routing key and the API token
// never appear in an error's text, even when PagerDuty echoes them.
package pagerduty
