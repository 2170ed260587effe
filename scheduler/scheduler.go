package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot"
)

// Incidents lists stored incidents; Run loads the due times from it.
type Incidents interface {
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
}

// ChangedIncidents is what a store shared by several replicas offers (with
// Incidents) so that the replica running the scheduler learns of the
// incidents the others write: opened, updated, paged, resolved.
type ChangedIncidents interface {
	// IncidentsChangedSince returns the incidents written at or after
	// since by the store's clock, and the store's time when it read them.
	IncidentsChangedSince(ctx context.Context, since time.Time) ([]*incidentbot.Incident, time.Time, error)
}

// Reminders are the status-update reminders.
type Reminders interface {
	// ReminderDue returns when inc's next reminder is due; false when none is.
	ReminderDue(inc *incidentbot.Incident) (time.Time, bool)
	// Remind posts and records the reminder of incident id if it is (still)
	// due. On error it is not recorded and stays due.
	Remind(ctx context.Context, id int64) error
}

// Outbox delivers the PagerDuty calls recorded in incidents.
type Outbox interface {
	// PagerDue returns when inc next has a pager action to attempt.
	PagerDue(inc *incidentbot.Incident) (time.Time, bool)
	// DeliverPager attempts incident id's due pager actions and records the
	// outcome; an attempt that may succeed later is scheduled backoff(n)
	// after its nth failure. It returns the errors of failed attempts.
	DeliverPager(ctx context.Context, id int64, backoff func(attempt int) time.Duration) error
}

// OverdueActions sends the overdue action item DMs.
type OverdueActions interface {
	// RemindOverdueActions messages every owner of overdue items once for
	// the cron firing at firing, and returns how many were messaged. Run
	// again for the same firing (it was cut short), it messages only the
	// owners not messaged yet.
	RemindOverdueActions(ctx context.Context, firing time.Time) (int, error)
}

// FollowUpReviews posts the follow-up reviews of resolved incidents.
type FollowUpReviews interface {
	// PostReviews posts every follow-up review due and not yet posted,
	// recording each, and returns how many were posted.
	PostReviews(ctx context.Context) (int, error)
}

// ChannelRepair sets up the channels that incidents lack.
type ChannelRepair interface {
	// ResumeChannels sets up the channel of every open incident opened
	// before the given time that has none.
	ResumeChannels(ctx context.Context, before time.Time) error
}

// CronFirings remembers the last firing of a cron job (the store: bbolt's
// meta bucket, PostgreSQL's cron_firings). A firing is recorded, fenced,
// before it runs: one that came while no process ran the scheduler (a
// restart, the lease changing hands across it) runs when the scheduler
// starts, and a firing is not run twice.
type CronFirings interface {
	// LastFiring returns when job last fired, zero if never.
	LastFiring(ctx context.Context, job string) (time.Time, error)
	// RecordFiring records that job fired at at; EConflict when ctx's
	// fence no longer holds its lease.
	RecordFiring(ctx context.Context, job string, at time.Time) error
}

// actionCronJob names the firings of Config.ActionCron in CronFirings;
// actionCronDoneJob names those whose run ended (cut short by nothing:
// its failures were reported). A firing recorded and not done — its
// holder died or lost the lease in the middle of it — is run again when
// the scheduler next starts (OverdueActions skips the owners it messaged).
const (
	actionCronJob     = "action_reminders"
	actionCronDoneJob = "action_reminders_done"
)

// Jobs is the work scheduled. Incidents is required; a nil job is not run.
type Jobs struct {
	Incidents Incidents
	Reminders Reminders
	Outbox    Outbox
	// Overdue runs on the firings of Config.ActionCron.
	Overdue OverdueActions
	// Reviews runs on the firings of Config.ActionCron too: a review due
	// is posted at the first firing on or after its date.
	Reviews  FollowUpReviews
	Channels ChannelRepair
	// Backfill works off the gaps in captured timelines (backfill.go).
	Backfill Backfill
	// Tracker delivers the tracker calls; TrackerSync runs every
	// Config.TrackerPoll (tracker.go).
	Tracker     TrackerOutbox
	TrackerSync TrackerSync
	// Firings, if set, remembers the action cron's firings (CronFirings);
	// without it the first firing is the first after Run starts.
	Firings CronFirings
}

// Config says when work is done.
type Config struct {
	// Now is the clock of due times and cron firings; nil means time.Now.
	Now func() time.Time
	// Tick is how often the clock is looked at. Zero means 200ms.
	Tick time.Duration
	// Parallel bounds the incidents handled at once by a sweep (and, in
	// Run, the reminders, and the outbox deliveries, in progress at once).
	// Zero means 32.
	Parallel int
	// SlowRetry is how long an incident's work waits after failing for
	// good for now: its channel gone (archived, deleted, the bot removed;
	// EGone), an action the workspace forbids (EForbidden) or a rejected
	// token (EAuth). A write to the incident (its channel coming back) ends
	// the wait early. Zero means DefaultSlowRetry.
	SlowRetry time.Duration
	// ActionCron is when Jobs.Overdue and Jobs.Reviews run: a cron spec (robfig/cron's
	// standard parser: five fields, or a descriptor like "@every 1h") in
	// Location. Empty means never.
	ActionCron string
	// Location is the time zone of ActionCron; nil means UTC.
	Location *time.Location
	// OutboxBackoff spaces the retries of PagerDuty calls; zero means
	// OutboxBackoff().
	OutboxBackoff Backoff
	// ChannelRepair is how often Jobs.Channels runs after its first run at
	// start-up; zero means ChannelRepairInterval.
	ChannelRepair time.Duration
	// Shared says that several replicas share the store: the first channel
	// repair then also leaves out the incidents opened in the last
	// minutes, whose own replica may still be creating their channel (with
	// one process, none can be, and every incident opened before Run is
	// repaired at once).
	Shared bool
	// Refresh is, with Shared and a store that offers ChangedIncidents,
	// how often the due times are brought up to date with the incidents
	// other replicas wrote. Zero means one second.
	Refresh time.Duration
	// TrackerPoll is how often Jobs.TrackerSync runs; zero means
	// DefaultTrackerPoll.
	TrackerPoll time.Duration
	// Logger gets failures (warnings when retried, errors when final); nil
	// discards them.
	Logger logrus.FieldLogger
}

// refreshMargin is how far back each refresh looks before the store's time
// of the previous one: a row carries the start time of the transaction
// that wrote it, which may commit after a refresh read the table.
const refreshMargin = 30 * time.Second

// DefaultSlowRetry is the default Config.SlowRetry: a channel that is gone
// is tried about once an hour.
const DefaultSlowRetry = time.Hour

// Timeouts of one run of a job.
const (
	overdueTimeout = 5 * time.Minute
	reviewTimeout  = 5 * time.Minute
	repairTimeout  = 2 * time.Minute
)

// ChannelRepairInterval is how often the incidents left without a channel
// are looked for: the replica that recorded one may have died before
// creating it (with several replicas, the channel claim in the incident
// record makes the creation happen once). A workspace that forbids apps to
// create channels is retried far more slowly (commands.RefusedRetry), since
// only an admin can change that and each attempt is a Slack call.
const ChannelRepairInterval = time.Minute

// repairGrace leaves out of a periodic channel repair the incidents opened
// so recently that their own command is most likely still creating the
// channel (it would hold the claim anyway).
const repairGrace = time.Minute

// Scheduler runs scheduled work. Create it with New, give it its work with
// Schedule, keep it told of every incident written with Observe, and run it
// with Run.
type Scheduler struct {
	cfg       Config
	log       logrus.FieldLogger
	cron      cron.Schedule // nil without ActionCron
	jobs      Jobs
	reminders *index
	outbox    *index
	tracker   *index
}

// New returns a Scheduler with no work. It fails with EInvalid when
// ActionCron is not a cron spec.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 200 * time.Millisecond
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 32
	}
	if cfg.SlowRetry <= 0 {
		cfg.SlowRetry = DefaultSlowRetry
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.ChannelRepair <= 0 {
		cfg.ChannelRepair = ChannelRepairInterval
	}
	if cfg.TrackerPoll <= 0 {
		cfg.TrackerPoll = DefaultTrackerPoll
	}
	if cfg.OutboxBackoff == (Backoff{}) {
		cfg.OutboxBackoff = OutboxBackoff()
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.Out = discard{}
		cfg.Logger = l
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger}
	if cfg.ActionCron != "" {
		sched, err := cron.ParseStandard(cfg.ActionCron)
		if err != nil {
			return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: "scheduler: parse the action reminder cron",
				Message: fmt.Sprintf("The action reminder cron %q is not a cron spec (like \"0 9 * * 1-5\" or \"@every 1h\")", cfg.ActionCron), Err: err}
		}
		s.cron = sched
	}
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Schedule gives the Scheduler its work. Call it once, before Run and before
// the first Observe; observations before it are not kept (Run loads them).
func (s *Scheduler) Schedule(jobs Jobs) {
	s.jobs = jobs
	if jobs.Reminders != nil {
		s.reminders = newIndex(jobs.Reminders.ReminderDue, jobs.Reminders.Remind, s.cfg.Now, s.cfg.SlowRetry)
	}
	if jobs.Outbox != nil {
		s.outbox = s.outboxIndex(jobs.Outbox.PagerDue, jobs.Outbox.DeliverPager)
	}
	if jobs.Tracker != nil {
		s.tracker = s.outboxIndex(jobs.Tracker.TrackerDue, jobs.Tracker.DeliverTracker)
	}
}

// outboxIndex is the index of an outbox (PagerDuty's, the tracker's) whose
// deliveries are retried with Config.OutboxBackoff.
func (s *Scheduler) outboxIndex(due func(*incidentbot.Incident) (time.Time, bool),
	deliver func(ctx context.Context, id int64, backoff func(attempt int) time.Duration) error) *index {
	return newIndex(due, func(ctx context.Context, id int64) error {
		return deliver(ctx, id, s.cfg.OutboxBackoff.Delay)
	}, s.cfg.Now, s.cfg.SlowRetry)
}

// indexes returns the due-time indexes of the jobs scheduled, each with how
// its failures are logged.
func (s *Scheduler) indexes() []swept {
	var out []swept
	for _, x := range []swept{{s.reminders, s.logReminder}, {s.outbox, s.logOutbox}, {s.tracker, s.logTracker}} {
		if x.index != nil {
			out = append(out, x)
		}
	}
	return out
}

// swept is an index that Run sweeps every tick, and how it logs a failure.
type swept struct {
	*index
	log func(error)
}

// Observe updates the due times of a stored incident; its writer calls it
// after every write. It is safe for concurrent use, and cheap.
func (s *Scheduler) Observe(inc *incidentbot.Incident) {
	for _, x := range s.indexes() {
		x.observe(inc)
	}
}

// Load reads every incident and replaces the due times with theirs (an
// incident observed meanwhile keeps its newer due time). Run calls it; it
// fails when the store cannot be read.
func (s *Scheduler) Load(ctx context.Context) error {
	xs := s.indexes()
	marks := make([]uint64, len(xs))
	for i, x := range xs {
		marks[i] = x.mark()
	}
	incs, err := s.jobs.Incidents.Incidents(ctx, false)
	if err != nil {
		return fmt.Errorf("scheduler: load the due times: %w", err)
	}
	for i, x := range xs {
		x.load(incs, marks[i])
	}
	return nil
}

// SweepReminders posts the status-update reminders due at now and returns
// how many were posted. Those that fail stay due for a later sweep.
func (s *Scheduler) SweepReminders(ctx context.Context, now time.Time) (int, error) {
	if s.reminders == nil {
		return 0, nil
	}
	return s.reminders.sweep(ctx, now, s.cfg.Parallel)
}

// SweepOutbox attempts the pager actions due at now and returns for how many
// incidents every due action succeeded.
func (s *Scheduler) SweepOutbox(ctx context.Context, now time.Time) (int, error) {
	if s.outbox == nil {
		return 0, nil
	}
	return s.outbox.sweep(ctx, now, s.cfg.Parallel)
}

// Run loads the due times, repairs the channels of incidents opened before
// it started, and then, until ctx ends, sweeps the reminders and the outbox
// every tick, runs the overdue action DMs and then the follow-up reviews on
// every cron firing, and repairs missing channels again every
// Config.ChannelRepair. It returns after the work in progress has finished:
// nil when ctx ended, an error when the due times could not be loaded. A Scheduler runs once at a time; after
// Run returns it may run again (it reloads).
func (s *Scheduler) Run(ctx context.Context) error {
	start := s.cfg.Now()
	if err := s.Load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if s.jobs.Channels != nil {
		wg.Go(func() {
			first := start
			if s.cfg.Shared {
				first = start.Add(-repairGrace)
			}
			s.repairChannels(ctx, first)
			next := start.Add(s.cfg.ChannelRepair)
			s.every(ctx, func(now time.Time) {
				if now.Before(next) {
					return
				}
				next = now.Add(s.cfg.ChannelRepair)
				s.repairChannels(ctx, now.Add(-repairGrace))
			})
		})
	}
	// The sweeps start each incident's work on its own goroutine and do not
	// wait for it: a slow or rate-limited channel delays only its incident.
	// Each index has its own slots, so that a tracker's rate limit never
	// holds up a page.
	for _, x := range s.indexes() {
		slots := make(chan struct{}, s.cfg.Parallel)
		wg.Go(func() {
			s.every(ctx, func(now time.Time) { x.start(ctx, now, slots, x.log) })
			x.wg.Wait()
		})
	}
	if s.jobs.TrackerSync != nil {
		wg.Go(func() { s.pollTrackers(ctx, start) })
	}
	if changed, ok := s.jobs.Incidents.(ChangedIncidents); ok && s.cfg.Shared {
		wg.Go(func() { s.refresh(ctx, changed) })
	}
	if s.jobs.Backfill != nil {
		wg.Go(func() { s.runBackfill(ctx) })
	}
	if s.cron != nil && (s.jobs.Overdue != nil || s.jobs.Reviews != nil) {
		next := s.firstFiring(ctx, start)
		resume := s.interruptedFiring(ctx)
		failing := false
		wg.Go(func() {
			s.every(ctx, func(now time.Time) {
				if !resume.IsZero() {
					s.runFiring(ctx, resume)
					resume = time.Time{}
				}
				if now.Before(next) {
					return
				}
				if err := s.recordFiring(ctx, next); err != nil {
					if incidentbot.ErrorCode(err) != incidentbot.EConflict {
						// Tried again at the next tick, told once.
						if !failing {
							s.log.WithError(err).Warn("could not record the action reminder cron's firing; the firing waits until it can")
						}
						failing = true
						return
					}
					// Another replica holds the lease now and runs it.
					next = s.cron.Next(now.In(s.cfg.Location))
					return
				}
				failing = false
				firing := next
				next = s.cron.Next(now.In(s.cfg.Location))
				s.runFiring(ctx, firing)
			})
		})
	}
	wg.Wait()
	return nil
}

// refresh brings the due times up to date, every Config.Refresh until ctx
// ends, with the incidents other replicas wrote: another replica's Observe
// is not this one's, so without it an incident opened, paged or resolved on
// another replica would wait for the next holder of the lease. An incident
// observed here since a refresh began keeps its newer due time.
func (s *Scheduler) refresh(ctx context.Context, changed ChangedIncidents) {
	var since time.Time // the first refresh reads every incident
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		xs := s.indexes()
		marks := make([]uint64, len(xs))
		for i, x := range xs {
			marks[i] = x.mark()
		}
		incs, now, err := changed.IncidentsChangedSince(ctx, since)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WithError(err).Warn("could not read the incidents other replicas changed; trying again")
			}
			continue
		}
		since = now.Add(-refreshMargin)
		for i, x := range xs {
			x.merge(incs, marks[i])
		}
	}
}

// every calls fn with the time on every tick until ctx ends.
func (s *Scheduler) every(ctx context.Context, fn func(now time.Time)) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(s.cfg.Now())
		}
	}
}

// repairChannels runs one channel repair for incidents opened before.
func (s *Scheduler) repairChannels(ctx context.Context, before time.Time) {
	ctx, cancel := context.WithTimeout(ctx, repairTimeout)
	defer cancel()
	if err := s.jobs.Channels.ResumeChannels(ctx, before); err != nil {
		s.log.WithError(err).Warn("could not set up the channels of incidents left without one; trying again in " + s.cfg.ChannelRepair.String())
	}
}

// logReminder logs a failed reminder: a channel gone or an action forbidden
// (retried slowly) and a rate limit (retried after it) at info level, since
// they were recorded and told once; other failures as warnings.
func (s *Scheduler) logReminder(err error) {
	log := s.log.WithError(err)
	switch {
	case incidentbot.ErrorCode(err) == incidentbot.EGone || incidentbot.ErrorCode(err) == incidentbot.EForbidden:
		log.WithField("retry_in", s.cfg.SlowRetry.String()).Info("a status-update reminder cannot be posted; its channel is gone for now")
	case incidentbot.ErrorCode(err) == incidentbot.EAuth:
		// The bot reports a rejected token itself, once.
	case incidentbot.RetryAfter(err) > 0:
		log.WithField("retry_in", incidentbot.RetryAfter(err).String()).Info("a status-update reminder is rate limited; retrying after Retry-After")
	default:
		log.Warn("a status-update reminder failed; retrying on the next tick")
	}
}

// firstFiring is the first firing of the action cron for a Run started at
// start: the first after start, or, when Jobs.Firings says the last
// recorded firing came before a firing now past, that missed one (run at
// once). Several missed firings run once.
func (s *Scheduler) firstFiring(ctx context.Context, start time.Time) time.Time {
	next := s.cron.Next(start.In(s.cfg.Location))
	if s.jobs.Firings == nil {
		return next
	}
	last, err := s.jobs.Firings.LastFiring(ctx, actionCronJob)
	if err != nil {
		s.log.WithError(err).Warn("could not read the action reminder cron's last firing; a firing missed while the scheduler was not running is not caught up")
		return next
	}
	if last.IsZero() {
		return next
	}
	if missed := s.cron.Next(last.In(s.cfg.Location)); missed.Before(next) {
		return missed
	}
	return next
}

// recordFiring records the action cron's firing at, before it runs.
func (s *Scheduler) recordFiring(ctx context.Context, at time.Time) error {
	if s.jobs.Firings == nil {
		return nil
	}
	return s.jobs.Firings.RecordFiring(ctx, actionCronJob, at)
}

// interruptedFiring returns the action cron's last recorded firing if its
// run did not end (see actionCronDoneJob), else the zero time. A store
// with no end recorded yet — written before ends were recorded, or new —
// gets one for its last firing (or, with none, for the Unix epoch), so
// that from then on a firing cut short is told from one that ended.
func (s *Scheduler) interruptedFiring(ctx context.Context) time.Time {
	if s.jobs.Firings == nil {
		return time.Time{}
	}
	last, err := s.jobs.Firings.LastFiring(ctx, actionCronJob)
	if err != nil {
		s.log.WithError(err).Warn("could not read the action reminder cron's last firing; one cut short is not resumed")
		return time.Time{}
	}
	done, err := s.jobs.Firings.LastFiring(ctx, actionCronDoneJob)
	if err != nil {
		s.log.WithError(err).Warn("could not read the action reminder cron's last completed firing; one cut short is not resumed")
		return time.Time{}
	}
	if done.IsZero() {
		mark := last
		if mark.IsZero() {
			mark = time.Unix(0, 0).UTC()
		}
		if err := s.jobs.Firings.RecordFiring(ctx, actionCronDoneJob, mark); err != nil && incidentbot.ErrorCode(err) != incidentbot.EConflict {
			s.log.WithError(err).Warn("could not record where the action reminder cron's firings stand; one cut short is not resumed until it can")
		}
		return time.Time{}
	}
	if !done.Before(last) {
		return time.Time{}
	}
	s.log.WithField("firing", last.Format(time.RFC3339)).Info("resuming the action reminder cron's firing that was cut short")
	return last
}

// runFiring runs the action cron's jobs for the firing at firing (recorded
// already), then records that its run ended.
func (s *Scheduler) runFiring(ctx context.Context, firing time.Time) {
	if s.jobs.Overdue != nil {
		s.remindOverdue(ctx, firing)
	}
	if s.jobs.Reviews != nil {
		s.postReviews(ctx)
	}
	if ctx.Err() != nil || s.jobs.Firings == nil {
		return // cut short: the next holder resumes it
	}
	if err := s.jobs.Firings.RecordFiring(ctx, actionCronDoneJob, firing); err != nil && incidentbot.ErrorCode(err) != incidentbot.EConflict {
		s.log.WithError(err).Warn("could not record the end of the action reminder cron's firing; the next start runs it again for whoever was not reached")
	}
}

// remindOverdue runs the overdue DMs of the action cron's firing at firing.
func (s *Scheduler) remindOverdue(ctx context.Context, firing time.Time) {
	ctx, cancel := context.WithTimeout(ctx, overdueTimeout)
	defer cancel()
	n, err := s.jobs.Overdue.RemindOverdueActions(ctx, firing)
	log := s.log.WithField("owners", n)
	if err != nil {
		log.WithError(err).Warn("some overdue action item reminders failed")
		return
	}
	log.Info("overdue action item reminders sent")
}

// postReviews runs the follow-up reviews of one firing of the action
// reminder cron.
func (s *Scheduler) postReviews(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	n, err := s.jobs.Reviews.PostReviews(ctx)
	log := s.log.WithField("reviews", n)
	if err != nil {
		log.WithError(err).Warn("some follow-up reviews could not be posted; they are tried again at the next firing")
		return
	}
	if n > 0 {
		log.Info("follow-up reviews posted")
	}
}

// logOutbox logs the failures of an outbox sweep: a call worth retrying
// (EUnavailable) as a warning, a refusal that retrying cannot mend (a
// revoked key, an invalid request) as an error.
func (s *Scheduler) logOutbox(err error) { s.logCalls(err, "a PagerDuty call") }

// logCalls logs the failures of a sweep of an outbox whose calls are what:
// one worth retrying (EUnavailable) as a warning, any other as an error.
func (s *Scheduler) logCalls(err error, what string) {
	for _, e := range leaves(err) {
		if incidentbot.ErrorCode(e) == incidentbot.EUnavailable {
			s.log.WithError(e).Warn(what + " failed; it stays in the outbox and is retried with backoff")
			continue
		}
		s.log.WithError(e).Error(what + " failed and is not retried (its incident channel was told), or its outcome could not be recorded")
	}
}

// leaves flattens joined errors.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}
