package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// MaxSnooze is the longest pause of status-update reminders.
const MaxSnooze = 2 * time.Hour

// ReminderDue returns when the next status-update reminder of inc is due:
// an interval after the later of the last update and the last reminder,
// but not before a snooze ends. Because it derives from what is stored, a
// bot that was down for several intervals sends one reminder, not one per
// missed interval. ok is false for resolved incidents and incidents without
// a channel yet.
func ReminderDue(inc *incidentbot.Incident, interval time.Duration) (due time.Time, ok bool) {
	if inc.Resolved() || inc.ChannelID == "" {
		return time.Time{}, false
	}
	last := inc.LastUpdateAt
	if inc.LastReminderAt.After(last) {
		last = inc.LastReminderAt
	}
	due = last.Add(interval)
	if inc.SnoozedUntil.After(due) {
		due = inc.SnoozedUntil
	}
	return due, true
}

// schedule keeps, for every incident with work due, the time it is due, so
// that a sweep costs a comparison per incident. The Service tells it of every
// change to an incident; due derives the time from the stored incident, so a
// restart (Load) neither loses nor repeats work.
type schedule struct {
	svc  *Service
	due  func(*incidentbot.Incident) (time.Time, bool)
	act  func(ctx context.Context, id int64) error
	mu   sync.Mutex
	at   map[int64]time.Time
	busy map[int64]bool
}

func newSchedule(s *Service, due func(*incidentbot.Incident) (time.Time, bool), act func(context.Context, int64) error) *schedule {
	return &schedule{svc: s, due: due, act: act, at: map[int64]time.Time{}, busy: map[int64]bool{}}
}

// Load reads every incident from the store; call it once at start-up.
func (r *schedule) Load(ctx context.Context) error {
	incs, err := r.svc.store.Incidents(ctx, false)
	if err != nil {
		return fmt.Errorf("load the schedule: %w", err)
	}
	for _, inc := range incs {
		r.observe(inc)
	}
	return nil
}

// observe updates the due time of inc.
func (r *schedule) observe(inc *incidentbot.Incident) {
	due, ok := r.due(inc)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.at[inc.ID] = due
	} else {
		delete(r.at, inc.ID)
	}
}

// take returns the ids of incidents due at now and not already being
// handled, in id order, and marks them as being handled.
func (r *schedule) take(now time.Time) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for id, due := range r.at {
		if !now.Before(due) && !r.busy[id] {
			ids = append(ids, id)
			r.busy[id] = true
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Sweep does the work due at now, at most parallel incidents at a time, and
// returns for how many incidents it succeeded. Work that fails stays due
// (as its incident says), so a later sweep tries again.
func (r *schedule) Sweep(ctx context.Context, now time.Time, parallel int) (int, error) {
	ids := r.take(now)
	if len(ids) == 0 {
		return 0, nil
	}
	var (
		mu   sync.Mutex
		done int
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(parallel, 1))
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := r.act(ctx, id)
			r.mu.Lock()
			delete(r.busy, id)
			r.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			done++
		}()
	}
	wg.Wait()
	return done, errors.Join(errs...)
}

// Run sweeps every tick until ctx ends. onErr, if set, gets each failed sweep.
func (r *schedule) Run(ctx context.Context, tick time.Duration, onErr func(error)) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Sweep(ctx, r.svc.cfg.Now(), 32); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Reminders is the status-update reminder schedule.
type Reminders = schedule

// Reminders returns the status-update reminder schedule (one per Service).
func (s *Service) Reminders() *Reminders { return s.reminders }

// remind posts the status-update reminder of incident id, then records it.
// It re-reads the incident so that an update that raced the sweep wins.
func (s *Service) remind(ctx context.Context, id int64) error {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("remind INC-%d: %w", id, err)
	}
	now := s.cfg.Now().UTC()
	due, ok := ReminderDue(inc, s.cfg.UpdateInterval)
	if !ok || now.Before(due) {
		s.reminders.observe(inc)
		return nil
	}
	since := now.Sub(inc.LastUpdateAt).Round(time.Second)
	what := "status update"
	if inc.LastUpdateAt.Equal(inc.OpenedAt) {
		what = "status update since the incident was opened"
	}
	text := fmt.Sprintf(":alarm_clock: %s, no %s for *%s* — stakeholders are waiting. Post one with "+
		"`/incident status [investigating|identified|monitoring] <what we know, what we are doing, next update>` "+
		"(or pause these reminders with `/incident snooze 30m`).", mention(inc.Commander()), what, Age(since))
	if _, err := s.slack.Post(ctx, inc.ChannelID, text); err != nil {
		return fmt.Errorf("remind %s: %w", inc.Key(), err)
	}
	if s.cfg.OnReminder != nil {
		s.cfg.OnReminder()
	}
	_, _, err = s.updateIncident(ctx, id, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.LastReminderAt = now
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventReminder, At: now, To: i.Commander(),
			Text: fmt.Sprintf("no status update for %s", Age(since))}}, nil
	})
	if err != nil {
		return fmt.Errorf("record the reminder of %s: %w", inc.Key(), err)
	}
	return nil
}

const snoozeUsage = "/incident snooze <duration, at most 2h>  (for example 30m)"

func (c *call) snooze() (Result, error) {
	d, err := time.ParseDuration(strings.TrimSpace(c.args))
	switch {
	case c.args == "":
		return Result{}, invalid(snoozeUsage, "Say for how long.")
	case err != nil:
		return Result{}, invalid(snoozeUsage, "%q is not a duration like 30m or 1h30m.", c.args)
	case d <= 0:
		return Result{}, invalid(snoozeUsage, "The duration must be positive.")
	case d > MaxSnooze:
		return Result{}, invalid(snoozeUsage, "%s is longer than the 2h maximum: stakeholders need an update at least every two hours.", d)
	}
	inc, err := c.openIncident(snoozeUsage)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	until := now.Add(d)
	inc, applied, err := c.update(inc.ID, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.SnoozedUntil = until
		ev := c.event(incidentbot.EventSnoozed, now)
		ev.To = until.Format(time.RFC3339)
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":zzz: <@%s> paused status-update reminders for %s, until %s.", c.inv.UserID, d, until.Format("15:04 UTC"))
	return Result{Reply: fmt.Sprintf("Reminders for %s paused until %s.", inc.Key(), until.Format(time.RFC3339)), Followup: c.tell(inc, msg, false, false)}, nil
}

// RemindOverdueActions sends every owner of overdue open action items, in any
// incident, one direct message listing them; it runs on each firing of the
// action reminder cron. It returns how many owners were messaged; a failed
// message is reported and does not stop the others.
func (s *Service) RemindOverdueActions(ctx context.Context) (int, error) {
	incs, err := s.store.Incidents(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("remind overdue action items: %w", err)
	}
	now := s.cfg.Now()
	byOwner := map[string][]string{}
	for _, inc := range incs {
		for _, a := range inc.Actions {
			if a.Owner == "" || !a.Overdue(now, s.cfg.Location) {
				continue
			}
			byOwner[a.Owner] = append(byOwner[a.Owner], fmt.Sprintf("• *%s %s* %s — due %s (%s). Done? Type `/incident action done %s` in %s.",
				inc.Key(), a.Key(), slacktext.Escape(a.Text), a.Due, channelLink(inc), a.Key(), channelLink(inc)))
		}
	}
	owners := make([]string, 0, len(byOwner))
	for o := range byOwner {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	sent := 0
	var errs []error
	for _, owner := range owners {
		items := byOwner[owner]
		text := fmt.Sprintf(":hourglass: You own %d overdue action item(s) from incidents:\n%s", len(items), strings.Join(items, "\n"))
		if _, err := s.slack.Post(ctx, owner, text); err != nil {
			errs = append(errs, fmt.Errorf("remind <@%s> of overdue action items: %w", owner, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}
