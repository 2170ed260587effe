package scheduler

import (
	"context"
	"time"
)

// Backfill works off the gaps in the captured timelines that the bot
// records when it (re)connects: it reads what Slack has for each and
// reconciles the timeline with it.
type Backfill interface {
	// Backfill works off the pending gaps that are due, until none is left
	// that can be worked now or ctx ends. It returns how long until a gap
	// left pending (after a failure) is due again; zero when none is. It
	// logs its own failures; an error it returns (the store cannot be
	// read) is logged by the scheduler and Backfill is called again later.
	Backfill(ctx context.Context) (retryIn time.Duration, err error)
	// BackfillWake receives when new gaps are recorded.
	BackfillWake() <-chan struct{}
}

// backfillPoll is how often the backfill looks for gaps when it was not
// woken: gaps recorded by another replica, or a wake missed.
const backfillPoll = time.Minute

// runBackfill runs Jobs.Backfill when woken, when a failed gap is due
// again, and every backfillPoll, until ctx ends. It runs on its own
// goroutine so that a backfill waiting out Slack's rate limits delays no
// other scheduled work.
func (s *Scheduler) runBackfill(ctx context.Context) {
	job := s.jobs.Backfill
	for {
		wait := backfillPoll
		retry, err := job.Backfill(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.WithError(err).Warn("backfill failed; retrying later")
			retry = 10 * s.cfg.Tick
		}
		if retry > 0 && retry < wait {
			wait = retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-job.BackfillWake():
		case <-t.C:
		}
		t.Stop()
	}
}
