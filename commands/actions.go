package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

const actionUsage = "/incident action [INC-n] <text> [@owner] [due:YYYY-MM-DD|due:+Nd]  or  /incident action [INC-n] done A<n>"

// Usages of the commands on an existing action item.
const (
	changeUsage = "/incident action [INC-n] A<n> [@owner] [due:YYYY-MM-DD|due:+Nd]"
	reopenUsage = "/incident action [INC-n] reopen A<n>"
)

func (c *call) action() (Result, error) {
	first, rest := splitFirst(c.args)
	switch strings.ToLower(first) {
	case "":
		return Result{}, invalid(actionUsage, "Say what needs doing.")
	case "done", "close":
		return c.actionDone(rest)
	case "reopen":
		// "reopen" followed by an item id; "reopen the firewall port" stays
		// a new item.
		if ref, _ := splitFirst(rest); ref == "" || isActionKey(ref) {
			return c.actionReopen(rest)
		}
	case "list":
		return c.actions()
	}
	if n, owner, due, ok := parseActionChange(c.args); ok {
		return c.actionChange(n, owner, due)
	}
	text, owner, due, err := c.parseAction(c.args)
	if err != nil {
		return Result{}, err
	}
	return c.addAction(text, owner, due)
}

// addAction records a new action item, as `/incident action` does; due is
// a date (DateLayout) or "".
func (c *call) addAction(text, owner, due string) (Result, error) {
	id, err := c.targetID(actionUsage, false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var a incidentbot.ActionItem
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		a = incidentbot.ActionItem{ID: len(i.Actions) + 1, Text: text, Owner: owner, Due: due, Status: incidentbot.ActionOpen, CreatedBy: c.inv.UserID, CreatedAt: now}
		i.Actions = append(i.Actions, a)
		c.trackItem(i, incidentbot.TrackCreate, a.ID, c.inv.UserID, now)
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
	reply := fmt.Sprintf("Recorded %s.", a.Key()) + c.trackerNote(inc)
	if a.Owner == "" || a.Due == "" {
		reply += " It has no " + missing(a) + " yet: items without both are flagged in the post-mortem. Add them with `" + c.actionCmd() + " " + a.Key() + " @owner due:+7d`."
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
	return owner + ", " + describeDue(a)
}

func describeDue(a incidentbot.ActionItem) string {
	if a.Due == "" {
		return "*no due date*"
	}
	return "due " + a.Due
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
	id, err := c.targetID("/incident action [INC-n] done A<n>", false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var a incidentbot.ActionItem
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ap := i.Action(n)
		if ap == nil {
			return nil, invalid("/incident action [INC-n] done A<n>", "%s has no action item A%d (it has %d); `/incident actions` lists them.", i.Key(), n, len(i.Actions))
		}
		if ap.Status == incidentbot.ActionDone {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s is already done. To reopen it: `%s reopen %s`.", ap.Key(), c.actionCmd(), ap.Key())}
		}
		ap.Status, ap.DoneBy, ap.DoneAt = incidentbot.ActionDone, c.inv.UserID, now
		a = *ap
		c.trackItem(i, incidentbot.TrackClose, n, c.inv.UserID, now)
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
			return Result{Reply: inc.Key() + " has no action items yet. Add one with `" + "/incident action &lt;text&gt; @owner due:+7d`."}, nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*Action items of %s*\n", inc.Key())
		for _, a := range inc.Actions {
			fmt.Fprintf(&b, "• *%s* [%s] %s — %s%s\n", a.Key(), a.Status, slacktext.Escape(a.Text), describeOwnerDue(a), issueLink(a))
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
	all = c.visibleOnly(c.ctx, all, c.inv.UserID)
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
			fmt.Fprintf(&b, "• *%s %s* %s — %s%s (%s)%s\n", i.Key(), a.Key(), slacktext.Escape(a.Text), describeOwnerDue(a), overdue, channelLink(i), issueLink(a))
		}
	}
	if count == 0 {
		return Result{Reply: "No open action items."}, nil
	}
	return Result{Reply: b.String()}, nil
}

// isActionKey reports whether word is an action item id, A<n>.
func isActionKey(word string) bool {
	_, ok := incidentbot.ParseActionKey(word)
	return ok
}

// parseActionChange reports whether the arguments of /incident action ask
// to change an existing item: a first word that is an item id (A<n>) and a
// rest that is only an owner (a mention) and/or a due date (a due: word, as
// typed), each at most once, in either order. An id alone is a change that
// says nothing (ok, with owner and due empty), which the caller refuses.
// Anything else — "A2 fix the A2 thing" — is a new item.
func parseActionChange(args string) (n int, owner, due string, ok bool) {
	words := strings.Fields(args)
	if len(words) == 0 {
		return 0, "", "", false
	}
	if n, ok = incidentbot.ParseActionKey(words[0]); !ok {
		return 0, "", "", false
	}
	for _, w := range words[1:] {
		if _, isDue := cutPrefixFold(w, "due:"); isDue && due == "" {
			due = w
		} else if u, isOwner := slacktext.ParseMention(w); isOwner && owner == "" {
			owner = u
		} else {
			return 0, "", "", false
		}
	}
	return n, owner, due, true
}

// actionCmd is "/incident action", with the incident's id when the command
// named it, for the forms shown in replies.
func (c *call) actionCmd() string {
	if c.target != 0 {
		return "/incident action " + incidentbot.IncidentKey(c.target)
	}
	return "/incident action"
}

// actionChange changes the owner and/or the due date (a due: word) of
// item n. A done item is refused (reopen it first), and so is a change that
// changes nothing.
func (c *call) actionChange(n int, owner, dueWord string) (Result, error) {
	if owner == "" && dueWord == "" {
		return Result{}, invalid(changeUsage, "Say the new owner and/or due date of A%d, like `%s A%d @owner due:+7d` — or, for a new item, what needs doing.", n, c.actionCmd(), n)
	}
	due := ""
	if dueWord != "" {
		var err error
		if due, err = parseDue(dueWord, c.now(), c.cfg.Location); err != nil {
			return Result{}, invalid(changeUsage, "%s", incidentbot.ErrorMessage(err))
		}
	}
	id, err := c.targetID(changeUsage, false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var before, after incidentbot.ActionItem
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ap := i.Action(n)
		if ap == nil {
			return nil, invalid(changeUsage, "%s has no action item A%d (it has %d); `/incident actions` lists them. To record a new item, say what needs doing: `/incident action &lt;text&gt; @owner due:+7d`.", i.Key(), n, len(i.Actions))
		}
		if ap.Status == incidentbot.ActionDone {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s is done, so its owner and due date stay as they were. To change them, reopen it first: `%s reopen %s`.", ap.Key(), c.actionCmd(), ap.Key())}
		}
		before = *ap
		var evs []incidentbot.TimelineEvent
		if owner != "" && owner != ap.Owner {
			ev := c.event(incidentbot.EventActionOwner, now)
			ev.Ref, ev.Text, ev.From, ev.To = ap.Key(), ap.Text, ap.Owner, owner
			ap.Owner = owner
			evs = append(evs, ev)
		}
		if due != "" && due != ap.Due {
			ev := c.event(incidentbot.EventActionDue, now)
			ev.Ref, ev.Text, ev.From, ev.To = ap.Key(), ap.Text, ap.Due, due
			ap.Due = due
			evs = append(evs, ev)
		}
		if len(evs) == 0 {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s already has %s: nothing changed.", ap.Key(), describeOwnerDue(*ap))}
		}
		after = *ap
		c.trackItem(i, incidentbot.TrackUpdate, n, c.inv.UserID, now)
		return evs, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":pencil2: *%s* %s — %s (changed by <@%s>)", after.Key(), slacktext.Escape(after.Text), describeChange(before, after), c.inv.UserID)
	reply := fmt.Sprintf("%s changed: %s.", after.Key(), describeOwnerDue(after))
	if after.Owner == "" || after.Due == "" {
		reply += " It still has no " + missing(after) + ": `" + c.actionCmd() + " " + after.Key() + " @owner due:+7d`."
	}
	return Result{Reply: reply, Followup: c.tellChannel(inc, msg)}, nil
}

// describeChange is describeOwnerDue of after, with what each changed field
// was before.
func describeChange(before, after incidentbot.ActionItem) string {
	owner := "*no owner*"
	if after.Owner != "" {
		owner = "owner <@" + after.Owner + ">"
	}
	if after.Owner != before.Owner {
		was := "no owner"
		if before.Owner != "" {
			was = "<@" + before.Owner + ">"
		}
		owner += " (was " + was + ")"
	}
	due := "*no due date*"
	if after.Due != "" {
		due = "due " + after.Due
	}
	if after.Due != before.Due {
		was := "none"
		if before.Due != "" {
			was = before.Due
		}
		due += " (was " + was + ")"
	}
	return owner + ", " + due
}

// actionReopen reopens a done item: "A<n>".
func (c *call) actionReopen(args string) (Result, error) {
	ref, extra := splitFirst(args)
	n, ok := incidentbot.ParseActionKey(ref)
	if !ok || extra != "" {
		if ref == "" {
			return Result{}, invalid(reopenUsage, "Say which action item to reopen, like A2.")
		}
		return Result{}, invalid(reopenUsage, "%q is not an action item id: use the form A2.", args)
	}
	id, err := c.targetID(reopenUsage, false)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var a incidentbot.ActionItem
	inc, applied, err := c.update(id, false, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ap := i.Action(n)
		if ap == nil {
			return nil, invalid(reopenUsage, "%s has no action item A%d (it has %d); `/incident actions` lists them.", i.Key(), n, len(i.Actions))
		}
		if ap.Status != incidentbot.ActionDone {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s is open, not done: there is nothing to reopen. To close it: `%s done %s`.", ap.Key(), c.actionCmd(), ap.Key())}
		}
		ap.Status, ap.DoneBy, ap.DoneAt = incidentbot.ActionOpen, "", time.Time{}
		a = *ap
		c.trackItem(i, incidentbot.TrackReopen, n, c.inv.UserID, now)
		ev := c.event(incidentbot.EventActionReopen, now)
		ev.Ref, ev.Text = ap.Key(), ap.Text
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":arrows_counterclockwise: *%s* reopened by <@%s>: %s — %s", a.Key(), c.inv.UserID, slacktext.Escape(a.Text), describeOwnerDue(a))
	return Result{Reply: fmt.Sprintf("%s reopened.", a.Key()), Followup: c.tellChannel(inc, msg)}, nil
}
