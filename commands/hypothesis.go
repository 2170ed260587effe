package commands

import (
	"fmt"
	"strings"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

const hypothesisUsage = "/incident hypothesis [INC-n] <text>  or  /incident hypothesis [INC-n] confirm|reject H<n> [note]"

func (c *call) hypothesis() (Result, error) {
	first, rest := splitFirst(c.args)
	switch strings.ToLower(first) {
	case "":
		return Result{}, invalid(hypothesisUsage, "Say what you think is going on.")
	case "confirm":
		return c.decide(incidentbot.OutcomeConfirmed, rest)
	case "reject":
		return c.decide(incidentbot.OutcomeRejected, rest)
	}
	return c.addHypothesis(c.args)
}

// addHypothesis records hypothesis text, as `/incident hypothesis` does.
func (c *call) addHypothesis(text string) (Result, error) {
	id, err := c.targetID(hypothesisUsage, false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var h incidentbot.Hypothesis
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		h = incidentbot.Hypothesis{ID: len(i.Hypotheses) + 1, Text: text, Author: c.inv.UserID, CreatedAt: now, Outcome: incidentbot.OutcomeOpen}
		i.Hypotheses = append(i.Hypotheses, h)
		ev := c.event(incidentbot.EventHypothesis, now)
		ev.Ref, ev.Text = h.Key(), h.Text
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":thinking_face: *%s* (hypothesis by <@%s>): %s\nConfirm or reject it with `/incident hypothesis confirm %s` / `reject %s [note]`.", h.Key(), c.inv.UserID, slacktext.Escape(h.Text), h.Key(), h.Key())
	return Result{Reply: fmt.Sprintf("Recorded %s.", h.Key()), Followup: c.tellChannel(inc, msg)}, nil
}

func (c *call) decide(outcome incidentbot.Outcome, args string) (Result, error) {
	ref, note := splitFirst(args)
	n, ok := incidentbot.ParseHypothesisKey(ref)
	if !ok {
		if ref == "" {
			return Result{}, invalid(hypothesisUsage, "Say which hypothesis, like H2.")
		}
		return Result{}, invalid(hypothesisUsage, "%q is not a hypothesis id: use the form H2.", ref)
	}
	id, err := c.targetID(hypothesisUsage, false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var h incidentbot.Hypothesis
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		hp := i.Hypothesis(n)
		if hp == nil {
			return nil, invalid(hypothesisUsage, "%s has no hypothesis H%d (it has %d). See the channel's pinned history or the post-mortem draft.", i.Key(), n, len(i.Hypotheses))
		}
		if hp.Outcome != incidentbot.OutcomeOpen {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s is already %s.", hp.Key(), hp.Outcome)}
		}
		hp.Outcome, hp.Note, hp.DecidedBy, hp.DecidedAt = outcome, note, c.inv.UserID, now
		h = *hp
		kind := incidentbot.EventHypConfirmed
		if outcome == incidentbot.OutcomeRejected {
			kind = incidentbot.EventHypRejected
		}
		ev := c.event(kind, now)
		ev.Ref, ev.Text, ev.PrevText = hp.Key(), note, hp.Text
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	icon := ":white_check_mark:"
	if outcome == incidentbot.OutcomeRejected {
		icon = ":x:"
	}
	msg := fmt.Sprintf("%s *%s %s* by <@%s>: %s", icon, h.Key(), outcome, c.inv.UserID, slacktext.Escape(h.Text))
	if note != "" {
		msg += "\n> " + slacktext.Escape(note)
	}
	return Result{Reply: fmt.Sprintf("%s marked %s.", h.Key(), outcome), Followup: c.tellChannel(inc, msg)}, nil
}
