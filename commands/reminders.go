package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
// a channel yet. While the channel is gone (Incident.ChannelGone), no
// reminder is due; only the slow retry of the channel is, a
// DefaultChannelRetry after it went.
func ReminderDue(inc *incidentbot.Incident, interval time.Duration) (due time.Time, ok bool) {
	return reminderDue(inc, interval, DefaultChannelRetry)
}

func reminderDue(inc *incidentbot.Incident, interval, retry time.Duration) (due time.Time, ok bool) {
	if inc.Resolved() || inc.ChannelID == "" {
		return time.Time{}, false
	}
	if inc.ChannelGone != "" {
		return inc.ChannelGoneAt.Add(retry), true
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

// ReminderDue returns when inc's next status-update reminder is due at the
// configured interval (see the function ReminderDue). While an attempt at
// a reminder is unfinished (Incident.ReminderAttempt, with Deps.Marked),
// the work due is settling it, once Slack is surely done with its post:
// ReminderSettle after it (and not before the slow retry of a channel
// gone).
func (s *Service) ReminderDue(inc *incidentbot.Incident) (time.Time, bool) {
	due, ok := reminderDue(inc, s.cfg.UpdateInterval, s.cfg.ChannelRetry)
	if ok && s.unfinished(inc) {
		if settled := inc.ReminderAttempt.Add(s.cfg.ReminderSettle); inc.ChannelGone == "" || settled.After(due) {
			due = settled
		}
	}
	return due, ok
}

// DefaultReminderSettle is the default Config.ReminderSettle: the bot's
// default timeout of one Web API call.
const DefaultReminderSettle = 10 * time.Second

// reminderKind is the Marker kind (Slack's event_type) of reminders.
const reminderKind = "incidentbot_reminder"

// markSkew widens the stretch of history read for an attempt's post on
// both sides: a post's ts is Slack's clock, the attempt time this
// process's.
const markSkew = 30 * time.Second

// reminderMarker is the marker of the reminder of inc attempted at attempt.
func reminderMarker(inc *incidentbot.Incident, attempt time.Time) Marker {
	return Marker{Kind: reminderKind, Fields: map[string]string{
		"incident": inc.Key(), "attempt": attempt.UTC().Format(time.RFC3339Nano)}}
}

// unfinished reports whether inc has an attempt at a reminder whose end is
// not recorded, and this Service can look for its post.
func (s *Service) unfinished(inc *incidentbot.Incident) bool {
	return s.deps.Marked != nil && !inc.ReminderAttempt.IsZero()
}

// errNoWrite aborts an update that finds nothing to do.
var errNoWrite = errors.New("nothing to write")

// Remind posts the status-update reminder of incident id, then records it,
// if it is due. It re-reads the incident so that an update that raced the
// sweep wins. It fails when the store cannot be read or written or Slack
// refuses the post; the reminder is then not recorded and stays due.
//
// With Deps.Marked, a reminder is posted in two phases, so that a process
// that dies (or loses its lease) between Slack taking the post and the
// record does not make the next attempt post it again: the attempt is
// recorded first (Incident.ReminderAttempt, only if the reminder is still
// due then), the post carries a marker naming the incident and the
// attempt, and the record of the reminder ends the attempt. An attempt
// found unfinished is settled before anything else, once Slack is surely
// done with its post (ReminderDue): the channel's history around it is
// read for the marker; a post found is recorded as the reminder, sent at
// the attempt's time, without posting again; none found, the attempt is
// dropped (and a reminder still due posted anew). A history read that
// fails is an error, the reminder stays due, and nothing is posted. A
// post that Slack refused ends its attempt; one whose outcome is unknown
// (a timeout) leaves it to be settled.
//
// While the channel is gone, the reminder is the slow retry of the channel:
// if Slack still refuses it (EGone) nothing new is recorded; if it goes
// through, the channel is recorded as back. A first EGone records the
// channel as gone and tells a human (see ChannelChanged). The error keeps
// its code, so that the scheduler retries slowly (EGone) or after
// Retry-After.
func (s *Service) Remind(ctx context.Context, id int64) error {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("remind INC-%d: %w", id, err)
	}
	now := s.now()
	if due, ok := s.ReminderDue(inc); !ok || now.Before(due) {
		s.observe(inc)
		return nil
	}
	if s.unfinished(inc) {
		if inc, err = s.settleAttempt(ctx, inc, now); inc == nil || err != nil {
			return err
		}
	}
	since := now.Sub(inc.LastUpdateAt).Round(time.Second)
	what := "status update"
	if inc.LastUpdateAt.Equal(inc.OpenedAt) {
		what = "status update since the incident was opened"
	}
	text := fmt.Sprintf(":alarm_clock: %s, no %s for *%s* — stakeholders are waiting. Post one with "+
		"`/incident status [investigating|identified|monitoring] <what we know, what we are doing, next update>` "+
		"(or pause these reminders with `/incident snooze 30m`).", mention(inc.Commander()), what, Age(since))
	if s.deps.Marked == nil {
		if _, err := s.deps.Poster.Post(ctx, inc.ChannelID, text); err != nil {
			return fmt.Errorf("remind %s: %w", inc.Key(), s.goneWork(ctx, inc, err))
		}
		// The reminder counts from when it was found due (Slack answers
		// within its timeouts, far inside an interval), so the next one
		// comes an interval later whatever the post's latency.
		rctx, cancel := afterSlack(ctx)
		defer cancel()
		_, err := s.recordReminder(rctx, inc, now, since)
		return err
	}

	attempt := now
	begun, err := s.beginAttempt(ctx, inc, attempt)
	if begun == nil || err != nil {
		return err
	}
	if _, err := s.deps.Marked.PostMarked(ctx, inc.ChannelID, text, reminderMarker(inc, attempt)); err != nil {
		err = s.goneWork(ctx, inc, err)
		if incidentbot.ErrorCode(err) != incidentbot.EUnavailable || incidentbot.RetryAfter(err) > 0 {
			// Slack answered and did not post: nothing to look for later.
			if cerr := s.endAttempt(ctx, inc, attempt); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		return fmt.Errorf("remind %s: %w", inc.Key(), err)
	}
	rctx, cancel := afterSlack(ctx)
	defer cancel()
	_, err = s.recordReminder(rctx, begun, attempt, since)
	return err
}

// recordTimeout bounds the record of what Slack did, once it did it
// (afterSlack).
const recordTimeout = 5 * time.Second

// afterSlack is the context of the record of something Slack has done: not
// cancelled with ctx (a shutdown, SIGTERM, must not leave a post Slack
// made unrecorded), bounded by recordTimeout, and keeping ctx's values —
// the lease's fence among them, so that a holder that lost the lease is
// still refused.
func afterSlack(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

// settleAttempt settles the unfinished reminder attempt of inc, at now:
// it looks for the attempt's post in the channel, records it as the
// reminder if it is there and drops the attempt if not — or when the
// channel's history around it is too long to look through
// (ErrTooMuchHistory): a reminder perhaps doubled rather than none. It
// returns inc as it is then when a new reminder is due at now, nil when
// none is. It fails when the history cannot be read or the store written;
// nothing is posted then.
func (s *Service) settleAttempt(ctx context.Context, inc *incidentbot.Incident, now time.Time) (*incidentbot.Incident, error) {
	attempt := inc.ReminderAttempt
	found, err := s.deps.Marked.FindMarked(ctx, inc.ChannelID, reminderMarker(inc, attempt),
		attempt.Add(-markSkew), attempt.Add(s.cfg.ReminderSettle+markSkew))
	if errors.Is(err, ErrTooMuchHistory) {
		// A channel too busy around the attempt to look through: it will
		// not get shorter. Taken as not found, so that the reminder is
		// posted anew (perhaps a second time) rather than never.
		found, err = false, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remind %s: look for the reminder attempted at %s: %w", inc.Key(),
			attempt.Format(time.RFC3339), s.goneWork(ctx, inc, err))
	}
	if found {
		if inc, err = s.recordReminder(ctx, inc, attempt, attempt.Sub(inc.LastUpdateAt).Round(time.Second)); err != nil {
			return nil, err
		}
	}
	if due, ok := reminderDue(inc, s.cfg.UpdateInterval, s.cfg.ChannelRetry); !ok || now.Before(due) {
		if !found {
			// A reminder still due would start an attempt of its own,
			// which replaces this one; none due, drop it.
			return nil, s.endAttempt(ctx, inc, attempt)
		}
		return nil, nil
	}
	return inc, nil
}

// beginAttempt records that a reminder of inc is being posted, attempted
// at attempt, if one is still due then and no other attempt than inc's
// (the one being replaced, if any) was begun meanwhile. It returns the
// incident as stored, or nil when no reminder is to be posted; it fails
// when the store cannot be written.
func (s *Service) beginAttempt(ctx context.Context, inc *incidentbot.Incident, attempt time.Time) (*incidentbot.Incident, error) {
	prev := inc.ReminderAttempt
	begun, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if due, ok := reminderDue(i, s.cfg.UpdateInterval, s.cfg.ChannelRetry); !ok || attempt.Before(due) || !i.ReminderAttempt.Equal(prev) {
			return nil, errNoWrite
		}
		i.ReminderAttempt = attempt
		return nil, nil
	})
	if errors.Is(err, errNoWrite) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remind %s: record the attempt: %w", inc.Key(), err)
	}
	return begun, nil
}

// endAttempt drops inc's reminder attempt of attempt, if it is still the
// one recorded. It fails when the store cannot be written.
func (s *Service) endAttempt(ctx context.Context, inc *incidentbot.Incident, attempt time.Time) error {
	_, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if !i.ReminderAttempt.Equal(attempt) {
			return nil, errNoWrite
		}
		i.ReminderAttempt = time.Time{}
		return nil, nil
	})
	if err != nil && !errors.Is(err, errNoWrite) {
		return fmt.Errorf("end the reminder attempt of %s: %w", inc.Key(), err)
	}
	return nil
}

// recordReminder records the reminder of inc as sent at at, since the
// last status update (or the opening): the channel back if it was gone,
// LastReminderAt, the end of any attempt, and a reminder event. It counts
// the reminder (OnReminder). It returns the incident as stored; it fails
// when the store cannot be written.
func (s *Service) recordReminder(ctx context.Context, inc *incidentbot.Incident, at time.Time, since time.Duration) (*incidentbot.Incident, error) {
	if err := s.markBack(ctx, inc); err != nil {
		return nil, fmt.Errorf("remind %s: %w", inc.Key(), err)
	}
	if s.deps.OnReminder != nil {
		s.deps.OnReminder()
	}
	text := "no status update"
	if since > 0 {
		text = fmt.Sprintf("no status update for %s", Age(since))
	}
	stored, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if at.After(i.LastReminderAt) {
			i.LastReminderAt = at
		}
		i.ReminderAttempt = time.Time{}
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventReminder, At: at, To: i.Commander(), Text: text}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("record the reminder of %s: %w", inc.Key(), err)
	}
	return stored, nil
}

const snoozeUsage = "/incident snooze [INC-n] <duration, at most 2h>  (for example 30m)"

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
	id, err := c.targetID(snoozeUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	until := now.Add(d)
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
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
	return Result{Reply: fmt.Sprintf("Reminders for %s paused until %s.", inc.Key(), until.Format(time.RFC3339)), Followup: c.tellChannel(inc, msg)}, nil
}

// RemindOverdueActions sends every owner of overdue open action items, in any
// incident, one direct message listing them, for the action reminder cron's
// firing at firing. It returns how many owners were messaged; a failed
// message is reported and does not stop the others.
//
// With a store that records firings (firingRecords: both stores do), each
// owner's message is recorded, fenced, once Slack took it, so that a run of
// the same firing again — its holder died or lost the lease in the middle
// of it, and the next one resumes it — messages only the owners not
// reached: an owner gets the firing's message twice only if the holder
// dies between Slack taking it and its record. A holder that lost the
// lease stops at its next record.
func (s *Service) RemindOverdueActions(ctx context.Context, firing time.Time) (int, error) {
	incs, err := s.store.Incidents(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("remind overdue action items: %w", err)
	}
	now := s.deps.Now()
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
	records, _ := s.store.(firingRecords)
	sent := 0
	var errs []error
	for _, owner := range owners {
		job := overdueDMJob(owner)
		if records != nil {
			last, err := records.LastFiring(ctx, job)
			if err != nil {
				errs = append(errs, fmt.Errorf("remind <@%s> of overdue action items: %w", owner, err))
				continue
			}
			if !last.Before(firing) {
				continue // messaged for this firing before the run was cut short
			}
		}
		items := byOwner[owner]
		text := fmt.Sprintf(":hourglass: You own %d overdue action item(s) from incidents:\n%s", len(items), strings.Join(items, "\n"))
		if _, err := s.deps.Poster.Post(ctx, owner, text); err != nil {
			errs = append(errs, fmt.Errorf("remind <@%s> of overdue action items: %w", owner, err))
			continue
		}
		sent++
		if records != nil {
			rctx, cancel := afterSlack(ctx)
			err := records.RecordFiring(rctx, job, firing)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("record the overdue action items message to <@%s>: %w", owner, err))
				if incidentbot.ErrorCode(err) == incidentbot.EConflict {
					break // the lease is another replica's: it carries on
				}
			}
		}
	}
	return sent, errors.Join(errs...)
}

// firingRecords is the store's record of cron firings (scheduler.CronFirings),
// here of which owners got a firing's overdue message.
type firingRecords interface {
	LastFiring(ctx context.Context, job string) (time.Time, error)
	RecordFiring(ctx context.Context, job string, at time.Time) error
}

// overdueDMJob names, among the firings recorded, the overdue message to
// owner.
func overdueDMJob(owner string) string { return "action_reminders_dm/" + owner }
