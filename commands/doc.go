// Package commands is the behaviour of incidentbot: the parser for the
// /incident slash command, what each subcommand does to an incident, and
// the messages the bot posts about it.
//
// Every command is handled in two phases so that a Slack envelope can be
// acknowledged as soon as, and only after, its effect is durable:
//
//  1. Handle parses and validates the text, commits the change to the Store
//     (one group-committed bbolt transaction) and returns a Result whose
//     Reply goes back to the caller inside the acknowledgement.
//  2. Result.Followup, run by the caller after the acknowledgement, makes the
//     slow Slack calls: creating the channel, posting the change for
//     everyone, updating the pinned header, announcing.
//
// Bad input never reaches the store: it is answered with an *incidentbot.Error
// of code EInvalid whose message says what was wrong and shows the right form.
//
// The package knows neither slack-go nor bbolt: it declares the small
// interfaces it needs — Store, and Slack by capability (Poster, Channels,
// Files, Directory, and Marked for posts found again after a crash) — and
// the edge implements them. Operators' settings are
// in Config; collaborators (Slack, PagerDuty, drafts, the clock, an
// Observer of every write) in Deps.
//
// Scheduled work is also behaviour kept here, one piece at a time — Remind
// (one status-update reminder), DeliverPager (one incident's PagerDuty
// calls), RemindOverdueActions (one round of overdue item DMs), PostReviews
// (the follow-up reviews due), ResumeChannels (the channel repair) — while
// package scheduler decides when each runs. A reminder is posted in two
// phases of its own (an attempt recorded, then the post marked with it,
// then the record), so that one whose process died between the post and
// its record is found in the channel rather than posted twice.
package commands
