package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/incidentbot/incidentbot"
)

// DefaultChannelRetry is the default Config.ChannelRetry: while an
// incident's channel is gone, the bot tries it again about once an hour.
const DefaultChannelRetry = time.Hour

// ChannelChange is a change in the life of a channel, as Slack reports it
// (channel_archive, member_left_channel for the bot, …) or the bot finds it
// (a post answered is_archived).
type ChannelChange struct {
	ChannelID string
	// Kind, if set, is the event recorded for what happened:
	// EventChannelArchived, EventChannelUnarchived or EventChannelDeleted.
	Kind incidentbot.EventKind
	// Gone, if set, is why the channel cannot be used now (Slack's code:
	// is_archived, channel_not_found, not_in_channel).
	Gone string
	// Back says the channel can be used again.
	Back  bool
	Actor string // who did it, if known
	At    time.Time
	// DedupKey identifies the delivery (the event id); a change already
	// recorded with it is not recorded again. Empty disables it.
	DedupKey string
}

// ChannelChanged records a change of an incident channel's life: the event
// of Kind, and, when the channel's usability changes, ChannelGone with an
// EventChannelGone or EventChannelBack, each once. It returns a Followup
// for after the acknowledgement (nil when there is nothing to say): when an
// open incident's channel becomes unusable, a human is told once (see
// tellGone); when it comes back, its channel is told that reminders resume.
// A channel that is no incident's is ignored. It fails when the store
// fails, and then nothing was recorded.
func (s *Service) ChannelChanged(ctx context.Context, ch ChannelChange) (func(ctx context.Context) error, error) {
	inc, err := s.store.IncidentByChannel(ctx, ch.ChannelID)
	if incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record a change of channel %s: %w", ch.ChannelID, err)
	}
	return s.recordChannel(ctx, inc.ID, ch)
}

// changeChannel records ch for incident id and tells about it at once.
func (s *Service) changeChannel(ctx context.Context, id int64, ch ChannelChange) error {
	tell, err := s.recordChannel(ctx, id, ch)
	if err != nil || tell == nil {
		return err
	}
	return tell(ctx)
}

// recordChannel is ChannelChanged for incident id.
func (s *Service) recordChannel(ctx context.Context, id int64, ch ChannelChange) (func(ctx context.Context) error, error) {
	if ch.At.IsZero() {
		ch.At = s.now()
	}
	var wentGone, cameBack bool
	key := ""
	if ch.DedupKey != "" {
		key = "chan:" + ch.DedupKey
	}
	inc, applied, err := s.updateIncident(ctx, id, key, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		wentGone, cameBack = false, false
		var evs []incidentbot.TimelineEvent
		if ch.Kind != "" {
			evs = append(evs, incidentbot.TimelineEvent{Kind: ch.Kind, At: ch.At, Actor: ch.Actor, Ref: ch.ChannelID})
		}
		switch {
		case ch.Gone != "" && i.ChannelGone == "":
			i.ChannelGone, i.ChannelGoneAt = ch.Gone, ch.At
			evs = append(evs, incidentbot.TimelineEvent{Kind: incidentbot.EventChannelGone, At: ch.At, Ref: ch.ChannelID, Text: ch.Gone})
			wentGone = true
		case ch.Back && i.ChannelGone != "":
			i.ChannelGone, i.ChannelGoneAt = "", time.Time{}
			evs = append(evs, incidentbot.TimelineEvent{Kind: incidentbot.EventChannelBack, At: ch.At, Actor: ch.Actor, Ref: ch.ChannelID})
			cameBack = true
		}
		return evs, nil
	})
	if err != nil {
		return nil, fmt.Errorf("record a change of the channel of INC-%d: %w", id, err)
	}
	if !applied || inc.Resolved() {
		return nil, nil
	}
	switch {
	case wentGone:
		return func(ctx context.Context) error { return s.tellGone(ctx, inc) }, nil
	case cameBack:
		return func(ctx context.Context) error {
			text := ":white_check_mark: incidentbot can use this channel again: status-update reminders and updates here resume."
			if _, err := s.deps.Poster.Post(ctx, inc.ChannelID, text); err != nil && incidentbot.ErrorCode(err) != incidentbot.EGone {
				return fmt.Errorf("tell %s that its channel is back: %w", inc.Key(), err)
			}
			return nil
		}, nil
	}
	return nil, nil
}

// markGone records that inc's channel cannot be used, found by a call that
// failed with err (code EGone); nothing when that is already recorded.
func (s *Service) markGone(ctx context.Context, inc *incidentbot.Incident, err error) error {
	if inc.ChannelGone != "" {
		return nil
	}
	return s.changeChannel(ctx, inc.ID, ChannelChange{ChannelID: inc.ChannelID, Gone: reason(err)})
}

// markBack records that inc's channel could be used again; nothing when it
// was not recorded as gone.
func (s *Service) markBack(ctx context.Context, inc *incidentbot.Incident) error {
	if inc.ChannelGone == "" {
		return nil
	}
	return s.changeChannel(ctx, inc.ID, ChannelChange{ChannelID: inc.ChannelID, Back: true})
}

// goneWork handles the failure of work for inc's channel: an EGone records
// the channel as gone (once); the error is returned as it is, so that the
// scheduler retries that work slowly.
func (s *Service) goneWork(ctx context.Context, inc *incidentbot.Incident, err error) error {
	if incidentbot.ErrorCode(err) != incidentbot.EGone {
		return err
	}
	if merr := s.markGone(ctx, inc, err); merr != nil {
		return errors.Join(err, merr)
	}
	return err
}

// reasoner is an error that carries the remote service's own code.
type reasoner interface {
	error
	Reason() string
}

// reason is the service's own code for err ("is_archived"), from an error
// in its chain that has a Reason method, or its error code.
func reason(err error) string {
	if r, ok := errors.AsType[reasoner](err); ok && r.Reason() != "" {
		return r.Reason()
	}
	return incidentbot.ErrorCode(err)
}

// goneText says in words why a channel cannot be used, from Slack's code.
func goneText(code string) string {
	switch code {
	case "is_archived", "is_inactive":
		return "its channel is archived"
	case "channel_not_found":
		return "its channel was deleted (or incidentbot can no longer see it)"
	case "not_in_channel":
		return "incidentbot was removed from its channel"
	}
	return "Slack no longer lets incidentbot use its channel (" + code + ")"
}

// tellGone tells a human, once, that inc's channel cannot be used, and what
// to do: in the announce channel if there is one (and the incident is not
// private), else in a DM to the commander (or the declarer).
func (s *Service) tellGone(ctx context.Context, inc *incidentbot.Incident) error {
	to := s.cfg.AnnounceChannel
	if to == "" || to == inc.ChannelID || inc.Private {
		to = inc.Commander()
	}
	if to == "" {
		return nil
	}
	text := fmt.Sprintf(":warning: *%s* (%s): %s (Slack: `%s`), so status-update reminders and posts there are paused; "+
		"incidentbot tries the channel again every %s. To resume, unarchive the channel or invite incidentbot back (`/invite @incidentbot`). "+
		"If the incident is over, close it from any channel with `/incident resolve %s <summary>`.",
		inc.Key(), channelLink(inc), goneText(inc.ChannelGone), inc.ChannelGone, Age(s.cfg.ChannelRetry), inc.Key())
	if _, err := s.deps.Poster.Post(ctx, to, text); err != nil {
		return fmt.Errorf("tell about the channel of %s: %w", inc.Key(), err)
	}
	return nil
}
