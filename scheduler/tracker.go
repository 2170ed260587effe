package scheduler

import (
	"context"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TrackerOutbox delivers the tracker calls (GitHub Issues, Jira) recorded
// in incidents, as Outbox does PagerDuty's, on an index of its own so that
// a tracker's rate limit never holds up a page.
type TrackerOutbox interface {
	// TrackerDue returns when inc next has a tracker call to attempt.
	TrackerDue(inc *incidentbot.Incident) (time.Time, bool)
	// DeliverTracker attempts incident id's due tracker calls in order and
	// records the outcome; an attempt that may succeed later is scheduled
	// backoff(n) after its nth failure. It returns the errors of failed
	// attempts.
	DeliverTracker(ctx context.Context, id int64, backoff func(attempt int) time.Duration) error
}

// TrackerSync brings back what people changed in the tracker.
type TrackerSync interface {
	// SyncTrackers asks each tracker once for the linked issues changed at
	// or after since and records their closing or reopening; it returns
	// how many items changed.
	SyncTrackers(ctx context.Context, since time.Time) (int, error)
}

// DefaultTrackerPoll is the default Config.TrackerPoll.
const DefaultTrackerPoll = 2 * time.Minute

// TrackerLookback is how far back the first poll after Run starts looks:
// what was closed in the tracker while no replica ran is found if it is
// more recent than this. Later polls look back to the previous one's start
// less trackerOverlap.
const TrackerLookback = 24 * time.Hour

// trackerOverlap widens each poll over the previous one: an issue updated
// while a poll ran, or stamped by a clock a little behind, is not missed.
// Seeing an issue twice is harmless, as its item's state is compared.
const trackerOverlap = time.Minute

// SweepTracker attempts the tracker calls due at now and returns for how
// many incidents every due call succeeded.
func (s *Scheduler) SweepTracker(ctx context.Context, now time.Time) (int, error) {
	if s.tracker == nil {
		return 0, nil
	}
	return s.tracker.sweep(ctx, now, s.cfg.Parallel)
}

// pollTrackers runs Jobs.TrackerSync at start and then every
// Config.TrackerPoll until ctx ends. A poll that fails is tried again at
// the next one, from the same time.
func (s *Scheduler) pollTrackers(ctx context.Context, start time.Time) {
	since := start.Add(-TrackerLookback)
	poll := func(now time.Time) {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.TrackerPoll)
		defer cancel()
		n, err := s.jobs.TrackerSync.SyncTrackers(pctx, since)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WithError(err).Warn("could not bring back the issues changed in the tracker; trying again at the next poll")
			}
			return
		}
		since = now.Add(-trackerOverlap)
		if n > 0 {
			s.log.WithField("items", n).Info("action items changed in the tracker recorded")
		}
	}
	poll(start)
	next := start.Add(s.cfg.TrackerPoll)
	s.every(ctx, func(now time.Time) {
		if now.Before(next) {
			return
		}
		next = now.Add(s.cfg.TrackerPoll)
		poll(now)
	})
}

// logTracker logs the failures of a tracker outbox sweep: a call worth
// retrying as a warning, a refusal (a bad token, no repository or project:
// told once in the channel, not retried) as an error.
func (s *Scheduler) logTracker(err error) { s.logCalls(err, "a tracker call") }
