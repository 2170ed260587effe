package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// tellChannel returns a Followup that posts text in the incident channel.
func (s *Service) tellChannel(inc *incidentbot.Incident, text string) func(ctx context.Context) error {
	return followups(s.postChannel(inc, text))
}

// tellAndRefresh returns a Followup that posts text in the incident channel
// and brings the pinned header up to date.
func (s *Service) tellAndRefresh(inc *incidentbot.Incident, text string) func(ctx context.Context) error {
	return followups(s.postChannel(inc, text), s.refreshFollowup(inc))
}

// tellEveryone returns a Followup that posts text in the incident channel
// and the announce channel, and brings the pinned header up to date: for
// the changes stakeholders follow (status, severity, resolution).
func (s *Service) tellEveryone(inc *incidentbot.Incident, text string) func(ctx context.Context) error {
	return followups(s.postChannel(inc, text), s.announce(inc, text), s.refreshFollowup(inc))
}

// postChannel posts text in the incident channel; nil while it has none or
// it is gone (the timeline has the change; the channel is told nothing).
func (s *Service) postChannel(inc *incidentbot.Incident, text string) func(ctx context.Context) error {
	if inc.ChannelID == "" || inc.ChannelGone != "" {
		return nil
	}
	return func(ctx context.Context) error {
		if _, err := s.deps.Poster.Post(ctx, inc.ChannelID, text); err != nil {
			return fmt.Errorf("post to the channel of %s: %w", inc.Key(), s.goneWork(ctx, inc, err))
		}
		return nil
	}
}

// announce posts text, with the incident's key and channel, in the announce
// channel; nil when there is none (or it is the incident's own), and for a
// private incident, which is never announced.
func (s *Service) announce(inc *incidentbot.Incident, text string) func(ctx context.Context) error {
	if s.cfg.AnnounceChannel == "" || s.cfg.AnnounceChannel == inc.ChannelID || inc.Private {
		return nil
	}
	return func(ctx context.Context) error {
		if _, err := s.deps.Poster.Post(ctx, s.cfg.AnnounceChannel, fmt.Sprintf("*%s* %s: %s", inc.Key(), channelLink(inc), text)); err != nil {
			return fmt.Errorf("announce %s: %w", inc.Key(), err)
		}
		return nil
	}
}

// refreshFollowup brings the pinned header of inc up to date.
func (s *Service) refreshFollowup(inc *incidentbot.Incident) func(ctx context.Context) error {
	return func(ctx context.Context) error { return s.refreshHeader(ctx, inc.ID) }
}

const roleUsage = "/incident role [INC-n] <commander|comms|scribe|ops> <@user|me>"

func (c *call) role() (Result, error) {
	roleArg, who := splitFirst(c.args)
	if roleArg == "" {
		return Result{}, invalid(roleUsage, "Say which role and who.")
	}
	role, err := incidentbot.ParseRole(roleArg)
	if err != nil {
		return Result{}, invalid(roleUsage, "%s", incidentbot.ErrorMessage(err))
	}
	user := ""
	switch {
	case who == "":
		return Result{}, invalid(roleUsage, "Say who takes the %s role: mention them (@name) or write `me`.", role)
	case strings.EqualFold(who, "me"):
		user = c.inv.UserID
	default:
		var ok bool
		if user, ok = slacktext.ParseMention(who); !ok {
			return Result{}, invalid(roleUsage, "%q is not a Slack user mention: type @ and pick the person, or write `me`.", who)
		}
	}
	return c.assignRole(role, user)
}

// assignRole gives role to user, as `/incident role` does, and DMs them
// what the role does.
func (c *call) assignRole(role incidentbot.Role, user string) (Result, error) {
	id, err := c.targetID(roleUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		prev := i.Roles[role]
		if prev == user {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("<@%s> already is the %s of %s.", user, strings.ToLower(role.Title()), i.Key())}
		}
		if i.Roles == nil {
			i.Roles = map[incidentbot.Role]string{}
		}
		i.Roles[role] = user
		if role == incidentbot.RoleCommander && i.AcknowledgedAt.IsZero() {
			i.AcknowledgedAt = now
		}
		ev := c.event(incidentbot.EventRole, now)
		ev.Ref, ev.From, ev.To = string(role), prev, user
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	text := fmt.Sprintf(":bust_in_silhouette: <@%s> is now the *%s* (assigned by <@%s>).", user, role.Title(), c.inv.UserID)
	invite := func(ctx context.Context) error {
		if err := c.deps.Channels.Invite(ctx, inc.ChannelID, user); err != nil {
			return fmt.Errorf("invite <@%s> to %s: %w", user, inc.Key(), err)
		}
		return nil
	}
	return Result{
		Reply:    fmt.Sprintf("<@%s> is now the %s of %s.", user, role.Title(), inc.Key()),
		Followup: followups(invite, c.tellAndRefresh(inc, text), c.roleDM(inc, role, user)),
	}, nil
}

const statusUsage = "/incident status [INC-n] [investigating|identified|monitoring] <text>"

func (c *call) status() (Result, error) {
	first, rest := splitFirst(c.args)
	st, explicit := incidentbot.ParseUpdateStatus(first)
	text := c.args
	if explicit {
		text = rest
	}
	if text == "" {
		return Result{}, invalid(statusUsage, "A status update needs text: what is known, what is being done, when the next update comes.")
	}
	return c.postStatus(st, explicit, text)
}

// postStatus records a status update with text, setting the status to st
// when explicit, as `/incident status` does.
func (c *call) postStatus(st incidentbot.Status, explicit bool, text string) (Result, error) {
	id, err := c.targetID(statusUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ev := c.event(incidentbot.EventStatus, now)
		ev.From, ev.Text = string(i.Status), text
		if explicit {
			i.Status = st
		}
		ev.To = string(i.Status)
		if i.Status == incidentbot.StatusMonitoring && i.MitigatedAt.IsZero() {
			i.MitigatedAt = now
		}
		i.LastUpdateAt = now
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":mega: *Status update* — *%s* (%s) by <@%s>:\n%s", inc.Status, inc.Severity, c.inv.UserID, slacktext.Escape(text))
	return Result{
		Reply:    fmt.Sprintf("Status update posted for %s; the next one is due in %s.", inc.Key(), c.cfg.UpdateInterval),
		Followup: c.tellEveryone(inc, msg),
	}, nil
}

const severityUsage = "/incident severity [INC-n] <sev1|sev2|sev3|sev4>"

func (c *call) severity() (Result, error) {
	arg, extra := splitFirst(c.args)
	if arg == "" || extra != "" {
		return Result{}, invalid(severityUsage, "Give exactly one severity.")
	}
	sev, err := incidentbot.ParseSeverity(arg)
	if err != nil {
		return Result{}, invalid(severityUsage, "%s", incidentbot.ErrorMessage(err))
	}
	id, err := c.targetID(severityUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	var from incidentbot.Severity
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if i.Severity == sev {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s already is %s.", i.Key(), sev)}
		}
		from = i.Severity
		ev := c.event(incidentbot.EventSeverity, now)
		ev.From, ev.To = i.Severity.String(), sev.String()
		i.Severity = sev
		c.pageOnChange(i, from, sev, "severity raised to "+sev.String(), c.inv.UserID, now)
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	verb := "lowered"
	if sev.AtLeast(from) {
		verb = "raised"
	}
	msg := fmt.Sprintf(":rotating_light: Severity %s from %s to *%s* by <@%s>.", verb, from, sev, c.inv.UserID)
	return Result{
		Reply:    fmt.Sprintf("%s is now %s.", inc.Key(), sev),
		Followup: c.tellEveryone(inc, msg),
	}, nil
}

const startedUsage = "/incident started [INC-n] <RFC3339 time or HH:MM in UTC>"

func (c *call) started() (Result, error) {
	at, err := parseImpactStart(c.args, c.now())
	if err != nil {
		return Result{}, err
	}
	id, err := c.targetID(startedUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ev := c.event(incidentbot.EventImpactStarted, now)
		if !i.ImpactStartedAt.IsZero() {
			ev.From = i.ImpactStartedAt.Format(time.RFC3339)
		}
		ev.To = at.Format(time.RFC3339)
		i.ImpactStartedAt = at
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	detect := inc.OpenedAt.Sub(at).Round(time.Minute)
	msg := fmt.Sprintf(":clock3: Impact started at *%s* (recorded by <@%s>); time to detect: %s.", at.Format("2006-01-02 15:04 UTC"), c.inv.UserID, detect)
	return Result{
		Reply:    fmt.Sprintf("Impact start of %s recorded: %s.", inc.Key(), at.Format(time.RFC3339)),
		Followup: c.tellChannel(inc, msg),
	}, nil
}

const resolveUsage = "/incident resolve [INC-n] [summary]"

func (c *call) resolve() (Result, error) {
	id, err := c.targetID(resolveUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	summary := c.args
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		ev := c.event(incidentbot.EventResolved, now)
		ev.From, ev.To, ev.Text = string(i.Status), string(incidentbot.StatusResolved), summary
		i.Status, i.ResolvedAt, i.Summary = incidentbot.StatusResolved, now, summary
		for _, key := range i.TriggeredKeys() {
			addPagerAction(i, incidentbot.PagerAction{Kind: incidentbot.PageResolve, DedupKey: key, OutboxState: incidentbot.OutboxState{RequestedBy: c.inv.UserID, RequestedAt: now}})
		}
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	msg := fmt.Sprintf(":white_check_mark: *%s resolved* by <@%s> after %s.", inc.Key(), c.inv.UserID, now.Sub(inc.OpenedAt).Round(time.Minute))
	if summary != "" {
		msg += "\n" + slacktext.Escape(summary)
	}
	reply := fmt.Sprintf("%s is resolved. Reminders stop; the channel keeps recording follow-up work.", inc.Key())
	if !ChannelUsable(inc) {
		reply = fmt.Sprintf("%s is resolved.", inc.Key())
	}
	fns := []func(context.Context) error{c.tellEveryone(inc, msg)}
	switch {
	case c.deps.Drafts != nil && !ChannelUsable(inc):
		reply += fmt.Sprintf(" It has no usable channel for the post-mortem draft: the operators can write it with `incidentbot export %s`.", inc.Key())
	case c.deps.Drafts != nil:
		reply += " The post-mortem draft is being uploaded to the channel."
		fns = append(fns, func(ctx context.Context) error { return c.uploadDraft(ctx, inc.ID, c.inv.UserID) })
	}
	return Result{Reply: reply, Followup: followups(fns...)}, nil
}
