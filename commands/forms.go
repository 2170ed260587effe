package commands

import (
	"context"
	"strings"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// Click is a use of the pinned header: a button clicked, or the form it
// opened submitted. What it records is what the equivalent command records,
// attributed to UserID.
type Click struct {
	TeamID     string
	UserID     string
	IncidentID int64
	// DedupKey identifies the click across Slack redeliveries: the trigger
	// id of a click, the view id of a form. Empty disables deduplication.
	DedupKey string
}

// The inputs of the header's forms, as FormError.Input names them.
const (
	InputStatus     = "status"
	InputUpdate     = "update"
	InputHypothesis = "hypothesis"
	InputAction     = "action"
	InputOwner      = "owner"
	InputDue        = "due"
	InputSummary    = "summary"
)

// FormError is a form input refused before anything was recorded: Input
// names it (one of the Input* constants), Err (code EInvalid) says why.
type FormError struct {
	Input string
	Err   error
}

func (e *FormError) Error() string { return e.Input + ": " + e.Err.Error() }
func (e *FormError) Unwrap() error { return e.Err }

// formError is a FormError of code EInvalid for input.
func formError(input, format string, args ...any) error {
	return &FormError{Input: input, Err: incidentbot.Errorf(incidentbot.EInvalid, format, args...)}
}

// clickCall is the call of a click: it acts on the incident the button
// names, from no channel.
func (s *Service) clickCall(ctx context.Context, cl Click) *call {
	return &call{Service: s, ctx: ctx, inv: Invocation{TeamID: cl.TeamID, UserID: cl.UserID, DedupKey: cl.DedupKey}, target: cl.IncidentID}
}

// formText is text typed in a form, trimmed and written as Slack writes
// command text (&, < and > as entities), so that a form records the very
// text the equivalent command would.
func formText(s string) string { return slacktext.Encode(strings.TrimSpace(s)) }

// TakeCommand makes the clicker the incident's commander, as `/incident
// role commander me` does (DM included). It fails as that command does.
func (s *Service) TakeCommand(ctx context.Context, cl Click) (Result, error) {
	return s.clickCall(ctx, cl).assignRole(incidentbot.RoleCommander, cl.UserID)
}

// PostUpdate records a status update from the form, as `/incident status
// <status> <text>` does. A status that is not investigating, identified
// or monitoring, or an empty text, fails with a *FormError.
func (s *Service) PostUpdate(ctx context.Context, cl Click, status, text string) (Result, error) {
	st, ok := incidentbot.ParseUpdateStatus(status)
	if !ok {
		return Result{}, formError(InputStatus, "Pick investigating, identified or monitoring.")
	}
	if text = formText(text); text == "" {
		return Result{}, formError(InputUpdate, "A status update needs text: what is known, what is being done, when the next update comes.")
	}
	return s.clickCall(ctx, cl).postStatus(st, true, text)
}

// AddHypothesis records a hypothesis from the form, as `/incident
// hypothesis <text>` does; an empty one fails with a *FormError.
func (s *Service) AddHypothesis(ctx context.Context, cl Click, text string) (Result, error) {
	if text = formText(text); text == "" {
		return Result{}, formError(InputHypothesis, "Say what you think is going on.")
	}
	return s.clickCall(ctx, cl).addHypothesis(text)
}

// AddAction records an action item from the form, as `/incident action
// <text> [<@owner>] [due:<date>]` does: owner is a user id or "", due a
// date (YYYY-MM-DD) or "". An empty text, or a malformed or past due
// date, fails with a *FormError.
func (s *Service) AddAction(ctx context.Context, cl Click, text, owner, due string) (Result, error) {
	if text = formText(text); text == "" {
		return Result{}, formError(InputAction, "Say what needs doing.")
	}
	c := s.clickCall(ctx, cl)
	if due != "" {
		d, err := parseDue("due:"+due, c.now(), c.cfg.Location)
		if err != nil {
			return Result{}, &FormError{Input: InputDue, Err: err}
		}
		due = d
	}
	return c.addAction(text, owner, due)
}

// Resolve resolves the incident from the form, as `/incident resolve
// [summary]` does (the summary may be empty).
func (s *Service) Resolve(ctx context.Context, cl Click, summary string) (Result, error) {
	c := s.clickCall(ctx, cl)
	c.args = formText(summary)
	return c.resolve()
}

// ClickTarget returns incident id for a click on its header button
// actionID, to draw the form the button opens. A stale button (the
// incident resolved since the header was drawn: I'm the commander, Post
// update, Resolve) fails with EConflict whose message says what still
// works; no such incident with ENotFound. It records nothing.
func (s *Service) ClickTarget(ctx context.Context, id int64, actionID string) (*incidentbot.Incident, error) {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	switch actionID {
	case ButtonCommander, ButtonStatus, ButtonResolve:
		if inc.Resolved() {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " is already resolved: this button is from before. " +
				"Follow-up work continues in its channel: *Add action item* and *Add hypothesis* on the pinned header, or `/incident action`, `/incident actions`, `/incident postmortem`."}
		}
	}
	return inc, nil
}
