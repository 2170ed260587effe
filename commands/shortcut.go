package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/incidentbot/incidentbot"
)

// The message shortcut "Add to incident timeline" on a message outside any
// incident channel: the edge shows the user TimelineChoices in a form and
// records their choice with AddToTimeline. (On a message in an incident
// channel the edge marks it as a key event itself, as a :pushpin: does.)

// TimelineChoices returns the open incidents user may add a message to:
// those they may see (see Visible), most severe first, then newest first.
// It fails when the store cannot be read.
func (s *Service) TimelineChoices(ctx context.Context, user string) ([]*incidentbot.Incident, error) {
	open, err := s.store.Incidents(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("incidents for the timeline of a message: %w", err)
	}
	open = s.visibleOnly(ctx, open, user)
	slices.SortStableFunc(open, func(a, b *incidentbot.Incident) int {
		if a.Severity != b.Severity {
			return int(a.Severity) - int(b.Severity)
		}
		return int(b.ID - a.ID)
	})
	return open, nil
}

// AddToTimelineRequest is a message from outside an incident channel to add
// to that incident's timeline.
type AddToTimelineRequest struct {
	IncidentID int64
	UserID     string // who adds it
	// The message: its channel and ts (which identify it), its author (a
	// user or bot ID), its text as Slack sent it, and its permalink ("" when
	// Slack gave none).
	ChannelID, TS, Author, Text, Permalink string
	// At is when the message was posted; zero means now.
	At time.Time
}

// AddToTimeline records the message of req in the timeline of incident
// req.IncidentID as an EventTimelineAdded, once per incident and message
// (incidentbot.TimelineAddKey): it returns the incident and added=false
// when the message was already there, whoever added it.
//
// It fails with EInvalid when the message has no channel or ts, with
// ENotFound ("INC-7 does not exist") when the incident does not exist or
// is private and the user may not see it, with EConflict when it is
// resolved, and with the store's error when it cannot be read or written
// (EUnavailable).
func (s *Service) AddToTimeline(ctx context.Context, req AddToTimelineRequest) (*incidentbot.Incident, bool, error) {
	key := incidentbot.IncidentKey(req.IncidentID)
	op := "add a message to the timeline of " + key
	dedup := incidentbot.TimelineAddKey(req.ChannelID, req.TS)
	if dedup == "" {
		return nil, false, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op, Message: "That message cannot be added: Slack did not say which one it is."}
	}
	inc, err := s.store.Incident(ctx, req.IncidentID)
	if err == nil && !s.Visible(ctx, inc, req.UserID) {
		// For a non-member a private incident is not there at all.
		err = incidentbot.Errorf(incidentbot.ENotFound, "%s is private", key)
	}
	if incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return nil, false, &incidentbot.Error{Code: incidentbot.ENotFound, Op: op, Message: key + " does not exist.", Err: err}
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	at := req.At
	if at.IsZero() {
		at = s.now()
	}
	inc, added, err := s.updateIncident(ctx, req.IncidentID, dedup, func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if inc.Resolved() {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " is resolved: pick an open incident."}
		}
		return []incidentbot.TimelineEvent{{
			Kind: incidentbot.EventTimelineAdded, At: at, Actor: req.Author, Text: req.Text, Ref: req.Permalink,
			From: req.UserID, To: req.ChannelID, DedupKey: dedup,
		}}, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	return inc, added, nil
}
