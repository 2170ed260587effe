// Package demo is the scripted incident that `incidentbot demo` plays
// against the built-in Slack and PagerDuty emulators, and the transcript
// that shows a newcomer what each participant sees and what was recorded.
// The bot itself is wired by cmd/incidentbot exactly as for serve.
package demo
