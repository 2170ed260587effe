package commands

import (
	"fmt"
	"strings"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

const actionUsage = "/incident action [INC-n] <text> [@owner] [due:YYYY-MM-DD|due:+Nd]  or  /incident action [INC-n] done A<n>"

func (c *call) action() (Result, error) {
	first, rest := splitFirst(c.args)
	switch strings.ToLower(first) {
	case "":
		return Result{}, invalid(actionUsage, "Say what needs doing.")
	case "done", "close":
		return c.actionDone(rest)
	case "list":
		return c.actions()
	}
	text, owner, due, err := c.parseAction(c.args)
	if err != nil {
		return Result{}, err
	}
	inc, err := c.incident(actionUsage)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var a incidentbot.ActionItem
	inc, applied, err := c.update(inc.ID, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		a = incidentbot.ActionItem{ID: len(i.Actions) + 1, Text: text, Owner: owner, Due: due, Status: incidentbot.ActionOpen, CreatedBy: c.inv.UserID, CreatedAt: now}
		i.Actions = append(i.Actions, a)
		ev := c.event(incidentbot.EventAction, now)
		ev.Ref, ev.Text, ev.To = a.Key(), text, owner
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":clipboard: *%s* %s — %s", a.Key(), slacktext.Escape(a.Text), describeOwnerDue(a))
	reply := fmt.Sprintf("Recorded %s.", a.Key())
	if a.Owner == "" || a.Due == "" {
		reply += " It has no " + missing(a) + " yet: items without both are flagged in the post-mortem. Add them by recording the item again with `@owner due:+7d`."
	}
	return Result{Reply: reply, Followup: c.tellChannel(inc, msg)}, nil
}

// parseAction splits "<text> [@owner] [due:...]": the owner and due date are
// taken from the end, in either order; mentions inside the text stay text.
func (c *call) parseAction(args string) (text, owner, due string, err error) {
	words := strings.Fields(args)
	for len(words) > 0 {
		last := words[len(words)-1]
		if _, ok := cutPrefixFold(last, "due:"); ok && due == "" {
			if due, err = parseDue(last, c.now(), c.cfg.Location); err != nil {
				return "", "", "", invalid(actionUsage, "%s", incidentbot.ErrorMessage(err))
			}
		} else if u, ok := slacktext.ParseMention(last); ok && owner == "" {
			owner = u
		} else {
			break
		}
		words = words[:len(words)-1]
	}
	text = strings.Join(words, " ")
	if text == "" {
		return "", "", "", invalid(actionUsage, "Say what needs doing before the owner and due date.")
	}
	return text, owner, due, nil
}

func missing(a incidentbot.ActionItem) string {
	switch {
	case a.Owner == "" && a.Due == "":
		return "owner and no due date"
	case a.Owner == "":
		return "owner"
	}
	return "due date"
}

func describeOwnerDue(a incidentbot.ActionItem) string {
	owner := "*no owner*"
	if a.Owner != "" {
		owner = "owner <@" + a.Owner + ">"
	}
	due := "*no due date*"
	if a.Due != "" {
		due = "due " + a.Due
	}
	return owner + ", " + due
}

func (c *call) actionDone(args string) (Result, error) {
	ref, extra := splitFirst(args)
	n, ok := incidentbot.ParseActionKey(ref)
	if !ok || extra != "" {
		if ref == "" {
			return Result{}, invalid("/incident action [INC-n] done A<n>", "Say which action item, like A2.")
		}
		return Result{}, invalid("/incident action [INC-n] done A<n>", "%q is not an action item id: use the form A2.", args)
	}
	inc, err := c.incident("/incident action [INC-n] done A<n>")
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var a incidentbot.ActionItem
	inc, applied, err := c.update(inc.ID, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ap := i.Action(n)
		if ap == nil {
			return nil, invalid("/incident action [INC-n] done A<n>", "%s has no action item A%d (it has %d); `/incident actions` lists them.", i.Key(), n, len(i.Actions))
		}
		if ap.Status == incidentbot.ActionDone {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: ap.Key() + " is already done."}
		}
		ap.Status, ap.DoneBy, ap.DoneAt = incidentbot.ActionDone, c.inv.UserID, now
		a = *ap
		ev := c.event(incidentbot.EventActionDone, now)
		ev.Ref, ev.Text = ap.Key(), ap.Text
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":heavy_check_mark: *%s* done (closed by <@%s>): %s", a.Key(), c.inv.UserID, slacktext.Escape(a.Text))
	return Result{Reply: fmt.Sprintf("%s closed.", a.Key()), Followup: c.tellChannel(inc, msg)}, nil
}

// actions lists the items of the incident named or whose channel it is typed
// in, or every open item outside an incident channel.
func (c *call) actions() (Result, error) {
	var inc *incidentbot.Incident
	var err error
	if c.target != 0 {
		inc, err = c.incident("/incident actions [INC-n]")
	} else {
		inc, err = c.store.IncidentByChannel(c.ctx, c.inv.ChannelID)
	}
	if err == nil {
		if len(inc.Actions) == 0 {
			return Result{Reply: inc.Key() + " has no action items yet. Add one with `" + "/incident action <text> @owner due:+7d`."}, nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*Action items of %s*\n", inc.Key())
		for _, a := range inc.Actions {
			fmt.Fprintf(&b, "• *%s* [%s] %s — %s\n", a.Key(), a.Status, slacktext.Escape(a.Text), describeOwnerDue(a))
		}
		return Result{Reply: b.String()}, nil
	}
	if c.target != 0 || incidentbot.ErrorCode(err) != incidentbot.ENotFound {
		return Result{}, err
	}
	all, err := c.store.Incidents(c.ctx, false)
	if err != nil {
		return Result{}, err
	}
	var b strings.Builder
	b.WriteString("*Open action items*\n")
	count := 0
	for _, i := range all {
		for _, a := range i.Actions {
			if a.Status != incidentbot.ActionOpen {
				continue
			}
			count++
			overdue := ""
			if a.Overdue(c.now(), c.cfg.Location) {
				overdue = " :warning: overdue"
			}
			fmt.Fprintf(&b, "• *%s %s* %s — %s%s (%s)\n", i.Key(), a.Key(), slacktext.Escape(a.Text), describeOwnerDue(a), overdue, channelLink(i))
		}
	}
	if count == 0 {
		return Result{Reply: "No open action items."}, nil
	}
	return Result{Reply: b.String()}, nil
}
