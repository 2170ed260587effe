package commands

import (
	"context"
	"strconv"

	"github.com/incidentbot/incidentbot"
)

// Message is a bot message with buttons, described without Slack's types:
// the edge renders it (Block Kit, with Text as the notification and
// accessibility fallback).
type Message struct {
	Text    string // Slack mrkdwn
	Buttons []Button
}

// Button is one button of a Message.
type Button struct {
	ActionID string // what a click does: one of the Button* constants
	Label    string // plain text, at most 75 characters
	Value    string // the incident's id, in decimal
	Style    string // "", "primary" or "danger"
}

// Messenger posts and edits messages with buttons. The edge implements it
// with the same retries and failure codes as Poster.
type Messenger interface {
	// PostMessage posts m to a channel and returns its ts.
	PostMessage(ctx context.Context, channelID string, m Message) (ts string, err error)
	// UpdateMessage replaces a message the bot posted with m, buttons included.
	UpdateMessage(ctx context.Context, channelID, ts string, m Message) error
}

// The action ids of the pinned header's buttons. Each button's value is
// the incident's id (IncidentID reads it back).
const (
	ButtonCommander  = "incident_commander"  // I'm the commander: assigns the clicker
	ButtonStatus     = "incident_status"     // Post update: opens the status form
	ButtonHypothesis = "incident_hypothesis" // Add hypothesis: opens its form
	ButtonAction     = "incident_action"     // Add action item: opens its form
	ButtonResolve    = "incident_resolve"    // Resolve: opens the resolve form
)

// HeaderMessage is the pinned header of inc: headerText and the buttons
// that fit its state. While it is open: I'm the commander, Post update,
// Add hypothesis, Add action item, Resolve; once resolved only what the
// slash command still allows there: Add action item and Add hypothesis.
func HeaderMessage(inc *incidentbot.Incident) Message {
	id := strconv.FormatInt(inc.ID, 10)
	b := func(action, label, style string) Button {
		return Button{ActionID: action, Label: label, Value: id, Style: style}
	}
	m := Message{Text: headerText(inc)}
	if inc.Resolved() {
		m.Buttons = []Button{b(ButtonAction, "Add action item", "primary"), b(ButtonHypothesis, "Add hypothesis", "")}
		return m
	}
	m.Buttons = []Button{
		b(ButtonCommander, "I'm the commander", ""),
		b(ButtonStatus, "Post update", "primary"),
		b(ButtonHypothesis, "Add hypothesis", ""),
		b(ButtonAction, "Add action item", ""),
		b(ButtonResolve, "Resolve", "danger"),
	}
	return m
}

// IncidentID reads the incident id a header button carries in its value.
// It fails with EInvalid for anything else.
func IncidentID(value string) (int64, error) {
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil || id <= 0 {
		return 0, incidentbot.Errorf(incidentbot.EInvalid, "%q is not an incident id", value)
	}
	return id, nil
}

// postMessage posts m with its buttons when the Service has a Messenger,
// else its text alone.
func (s *Service) postMessage(ctx context.Context, channelID string, m Message) (string, error) {
	if s.deps.Messenger != nil {
		return s.deps.Messenger.PostMessage(ctx, channelID, m)
	}
	return s.deps.Poster.Post(ctx, channelID, m.Text)
}

// updateMessage is postMessage for an edit.
func (s *Service) updateMessage(ctx context.Context, channelID, ts string, m Message) error {
	if s.deps.Messenger != nil {
		return s.deps.Messenger.UpdateMessage(ctx, channelID, ts, m)
	}
	return s.deps.Poster.Update(ctx, channelID, ts, m.Text)
}
