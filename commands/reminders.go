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
// configured interval (see the function ReminderDue).
func (s *Service) ReminderDue(inc *incidentbot.Incident) (time.Time, bool) {
	return reminderDue(inc, s.cfg.UpdateInterval, s.cfg.ChannelRetry)
}

// Remind posts the status-update reminder of incident id, then records it,
// if it is due. It re-reads the incident so that an update that raced the
// sweep wins. It fails when the store cannot be read or written or Slack
// refuses the post; the reminder is then not recorded and stays due.
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
	due, ok := reminderDue(inc, s.cfg.UpdateInterval, s.cfg.ChannelRetry)
	if !ok || now.Before(due) {
		s.observe(inc)
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
	if _, err := s.deps.Poster.Post(ctx, inc.ChannelID, text); err != nil {
		return fmt.Errorf("remind %s: %w", inc.Key(), s.goneWork(ctx, inc, err))
	}
	if err := s.markBack(ctx, inc); err != nil {
		return fmt.Errorf("remind %s: %w", inc.Key(), err)
	}
	if s.deps.OnReminder != nil {
		s.deps.OnReminder()
	}
	// The reminder counts from when it was found due (Slack answers within
	// its timeouts, far inside an interval), so the next one comes an
	// interval later whatever the post's latency.
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
// incident, one direct message listing them; it runs on each firing of the
// action reminder cron. It returns how many owners were messaged; a failed
// message is reported and does not stop the others.
func (s *Service) RemindOverdueActions(ctx context.Context) (int, error) {
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
	sent := 0
	var errs []error
	for _, owner := range owners {
		items := byOwner[owner]
		text := fmt.Sprintf(":hourglass: You own %d overdue action item(s) from incidents:\n%s", len(items), strings.Join(items, "\n"))
		if _, err := s.deps.Poster.Post(ctx, owner, text); err != nil {
			errs = append(errs, fmt.Errorf("remind <@%s> of overdue action items: %w", owner, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}
