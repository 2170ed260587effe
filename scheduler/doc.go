// Package scheduler runs incidentbot's scheduled work: status-update
// reminders, the PagerDuty outbox, the overdue action item DMs and the
// follow-up reviews of the action reminder cron, and the repair, at start,
// of incidents left without a channel. It decides when work is done; what
// one piece of work does (post one reminder, deliver one incident's pager
// actions, send one round of DMs, post the reviews due, set up one channel)
// stays in package commands, behind the small interfaces
// declared here.
//
// Everything runs under one Scheduler.Run, independent of the Slack socket,
// so that with several replicas only the one holding a lease needs to run it.
//
// Reminders and the outbox keep an in-memory index from incident to the time
// its work is due, derived from the stored incident (last update, last
// reminder, snooze, next attempt of each pending pager action). Run loads it
// from the store; after that, the writer of every incident tells the
// Scheduler through Observe. A sweep, on every tick, then costs one
// comparison per incident, and because due times derive from what is stored,
// a restart neither loses nor repeats work. Time is the injected Config.Now:
// tests drive the scheduler with a fake clock; the tick only says how often
// that clock is looked at.
//
// The backfill of the gaps the bot records when it (re)connects runs on its
// own goroutine (backfill.go), woken when gaps are recorded, so that one
// waiting out Slack's rate limits delays nothing else.
//
// Failed PagerDuty calls are retried with Backoff, the one exponential
// backoff with jitter of the project (the Slack socket reconnects with it
// too).
package scheduler
