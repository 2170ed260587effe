// Package ops is incidentbot's operations surface: the HTTP server with
// /healthz (the process is alive), /readyz (the database is open and
// writable and the Slack socket is connected) and /metrics (Prometheus),
// the metrics themselves, and an HTTP transport that counts the errors of
// the Slack and PagerDuty APIs by method.
package ops
