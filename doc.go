// Package incidentbot holds the domain of the incident bot: incidents, their
// severities, statuses and roles, hypotheses, action items, timeline events,
// and the error type whose message is safe to show to a Slack user.
//
// The package imports nothing but the standard library. Storage lives in
// store/, the behaviour of each /incident subcommand in commands/, the Slack
// edge in bot/, and the wiring in cmd/incidentbot.
package incidentbot
