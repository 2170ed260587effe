// Package bot is incidentbot's Slack edge: the Socket Mode loop, decoding of
// envelopes (slash commands, Events API events, interactive payloads),
// acknowledgement after commit, and the Slack Web API calls that commands
// need, with retries.
//
// Each envelope is handled on its own goroutine so that concurrent writes
// share one bbolt commit (the store's group commit); an envelope is
// acknowledged only after what it carries is durable, and slow Slack calls
// happen after the acknowledgement. An envelope whose data could not be
// stored is not acknowledged, so that Slack delivers it again.
//
// New wires the command service (package commands) to Slack and to the
// scheduled work (package scheduler); Run runs the socket and the scheduler
// side by side.
package bot
