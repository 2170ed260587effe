package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// Pager is PagerDuty's Events API as commands need it; package pagerduty's
// Client implements it. Errors of code EUnavailable are worth retrying;
// others are final.
type Pager interface {
	Trigger(ctx context.Context, a incidentbot.Alert) error
	Resolve(ctx context.Context, dedupKey string) error
}

// OnCallFinder looks up who is on call now, lowest escalation level first;
// package pagerduty's Client implements it.
type OnCallFinder interface {
	OnCallNow(ctx context.Context) ([]incidentbot.OnCall, error)
}

// pagerKey is the dedup key of a pager action: the incident's own key for
// automatic pages, its own for each /incident page.
func pagerKey(inc *incidentbot.Incident, a incidentbot.PagerAction) string {
	if a.DedupKey != "" {
		return a.DedupKey
	}
	return primaryKey(inc)
}

func primaryKey(inc *incidentbot.Incident) string {
	return "incidentbot-" + inc.TeamID + "-" + inc.Key()
}

// addPagerAction appends a pending pager action to inc.
func addPagerAction(inc *incidentbot.Incident, a incidentbot.PagerAction) {
	a.ID = len(inc.Pager) + 1
	a.State = incidentbot.PagerPending
	inc.Pager = append(inc.Pager, a)
}

// pageOnChange queues what a change of severity to sev asks of PagerDuty:
// a trigger of the incident's alert when sev is at or above the paging
// severity and worse than before (PagerDuty updates an alert triggered
// again with the same key), and an on-call look-up with the first page.
func (s *Service) pageOnChange(inc *incidentbot.Incident, from, to incidentbot.Severity, reason, by string, now time.Time) {
	if s.deps.Pager == nil || !to.AtLeast(s.cfg.PageSeverity) || (from.Valid() && from.AtLeast(to)) {
		return
	}
	first := true
	for _, a := range inc.Pager {
		if a.Kind == incidentbot.PageTrigger && a.DedupKey == "" {
			first = false
		}
	}
	addPagerAction(inc, incidentbot.PagerAction{Kind: incidentbot.PageTrigger, Severity: to, Reason: reason, OutboxState: incidentbot.OutboxState{RequestedBy: by, RequestedAt: now}})
	if first && s.deps.OnCall != nil {
		addPagerAction(inc, incidentbot.PagerAction{Kind: incidentbot.PageOnCall, OutboxState: incidentbot.OutboxState{RequestedBy: by, RequestedAt: now}})
	}
}

// channelGrace is how long a page waits for the incident channel, so that
// the alert can link to it; after that it goes without: paging must not
// depend on Slack.
const channelGrace = 3 * time.Second

// readyAt is when pager action a of inc may be attempted; false while it
// must wait for the channel (an on-call look-up invites people into it).
func readyAt(inc *incidentbot.Incident, a incidentbot.PagerAction) (time.Time, bool) {
	at := a.Due()
	if inc.ChannelID == "" {
		if a.Kind == incidentbot.PageOnCall {
			return time.Time{}, false
		}
		if g := a.RequestedAt.Add(channelGrace); at.Before(g) {
			at = g
		}
	}
	return at, true
}

// PagerDue returns when incident inc next has pager work: the earliest time
// one of its pending actions is ready; false when it has none.
func (s *Service) PagerDue(inc *incidentbot.Incident) (time.Time, bool) {
	var due time.Time
	ok := false
	for _, a := range inc.Pager {
		if a.State != incidentbot.PagerPending {
			continue
		}
		at, ready := readyAt(inc, a)
		if ready && (!ok || at.Before(due)) {
			due, ok = at, true
		}
	}
	return due, ok
}

// DeliverPager sends incident id's due pager actions in order, records each
// outcome in the incident and tells its channel. A failure stops the
// incident's later PagerDuty calls (so a resolve never overtakes its
// trigger). A failure worth retrying (EUnavailable) is scheduled again
// backoff(n) after the nth failed attempt; a refusal (a revoked key, an
// invalid request) marks the action failed. Both are returned, with their
// codes, as is a failure to read or record the incident.
func (s *Service) DeliverPager(ctx context.Context, id int64, backoff func(attempt int) time.Duration) error {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("page for INC-%d: %w", id, err)
	}
	now := s.now()
	var errs []error
	for _, a := range inc.PendingPager() {
		if at, ready := readyAt(inc, a); !ready || at.After(now) {
			if a.Kind == incidentbot.PageOnCall {
				continue
			}
			break
		}
		var callErr error
		var mutate func(*incidentbot.Incident) []incidentbot.TimelineEvent
		var msg string
		switch a.Kind {
		case incidentbot.PageTrigger:
			callErr = s.deps.Pager.Trigger(ctx, s.alert(inc, a))
			mutate = func(*incidentbot.Incident) []incidentbot.TimelineEvent {
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventPage, At: now, Actor: a.RequestedBy, Ref: pagerKey(inc, a), To: a.Severity.String(), Text: a.Reason}}
			}
			msg = fmt.Sprintf(":pager: Paged PagerDuty (%s, alert `%s`): %s", a.Severity, pagerKey(inc, a), slacktext.Escape(a.Reason))
		case incidentbot.PageResolve:
			callErr = s.deps.Pager.Resolve(ctx, pagerKey(inc, a))
			mutate = func(*incidentbot.Incident) []incidentbot.TimelineEvent {
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventPageResolved, At: now, Actor: a.RequestedBy, Ref: pagerKey(inc, a)}}
			}
			msg = fmt.Sprintf(":pager: Resolved the PagerDuty alert `%s`.", pagerKey(inc, a))
		case incidentbot.PageOnCall:
			var calls []incidentbot.OnCall
			calls, callErr = s.deps.OnCall.OnCallNow(ctx)
			if callErr == nil {
				mutate, msg, callErr = s.bringOnCall(ctx, inc, calls, now)
			}
		}
		mutate, madeCommander := watchCommander(mutate)
		recErr := s.finishPager(ctx, inc, a, callErr, mutate, msg, now, backoff)
		if recErr == nil && *madeCommander != "" {
			if err := s.roleDM(inc, incidentbot.RoleCommander, *madeCommander)(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if callErr != nil {
			errs = append(errs, fmt.Errorf("%s for %s: %w", pagerWhat(a.Kind), inc.Key(), callErr))
		}
		if recErr != nil {
			return errors.Join(append(errs, recErr)...)
		}
		if callErr != nil && (a.Kind != incidentbot.PageOnCall || incidentbot.ErrorCode(callErr) == incidentbot.EUnavailable) {
			break
		}
	}
	return errors.Join(errs...)
}

// watchCommander wraps a pager outcome's mutate so that the returned
// string holds, after the outcome is recorded, whom it made commander
// ("" for nobody): they are told what the role does.
func watchCommander(mutate func(*incidentbot.Incident) []incidentbot.TimelineEvent) (func(*incidentbot.Incident) []incidentbot.TimelineEvent, *string) {
	who := new(string)
	if mutate == nil {
		return nil, who
	}
	return func(i *incidentbot.Incident) []incidentbot.TimelineEvent {
		*who = ""
		evs := mutate(i)
		for _, e := range evs {
			if e.Kind == incidentbot.EventRole && e.Ref == string(incidentbot.RoleCommander) {
				*who = e.To
			}
		}
		return evs
	}, who
}

// pagerWhat names what a pager action of kind asks, for messages.
func pagerWhat(kind incidentbot.PagerActionKind) string {
	switch kind {
	case incidentbot.PageResolve:
		return "resolve of the PagerDuty alert"
	case incidentbot.PageOnCall:
		return "on-call look-up"
	}
	return "page"
}

// finishPager records the outcome of one pager action and tells the
// channel; it fails when either cannot be done.
func (s *Service) finishPager(ctx context.Context, inc *incidentbot.Incident, a incidentbot.PagerAction, callErr error,
	mutate func(*incidentbot.Incident) []incidentbot.TimelineEvent, msg string, now time.Time, backoff func(int) time.Duration) error {
	retry := incidentbot.ErrorCode(callErr) == incidentbot.EUnavailable
	var attempts int
	updated, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		p := i.PagerAction(a.ID)
		if p == nil || p.State != incidentbot.PagerPending {
			return nil, nil
		}
		p.Attempts++
		attempts = p.Attempts
		switch {
		case callErr == nil:
			p.State, p.DoneAt, p.LastError = incidentbot.PagerDone, now, ""
			if mutate != nil {
				return mutate(i), nil
			}
		case retry:
			p.NextAttempt, p.LastError = now.Add(backoff(p.Attempts)), incidentbot.ErrorMessage(callErr)
		default:
			p.State, p.LastError = incidentbot.PagerFailed, incidentbot.ErrorMessage(callErr)
			return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, At: now, Ref: pagerKey(i, *p), Text: "PagerDuty refused: " + p.LastError}}, nil
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("record the pager outcome of %s: %w", inc.Key(), err)
	}
	what := pagerWhat(a.Kind)
	switch {
	case callErr == nil && attempts > 1:
		msg += fmt.Sprintf(" (delivered after %d attempts)", attempts)
	case callErr == nil:
	case retry && attempts == 1:
		msg = fmt.Sprintf(":warning: PagerDuty is not answering (%s): the %s is pending and will be retried until it goes through.", slacktext.Escape(incidentbot.ErrorMessage(callErr)), what)
	case retry:
		msg = ""
	default:
		msg = fmt.Sprintf(":x: PagerDuty refused the %s: %s", what, slacktext.Escape(incidentbot.ErrorMessage(callErr)))
	}
	if msg != "" && updated.ChannelID != "" && updated.ChannelGone == "" {
		if _, err := s.deps.Poster.Post(ctx, updated.ChannelID, msg); err != nil {
			if incidentbot.ErrorCode(err) == incidentbot.EGone {
				// The outcome is recorded; the channel is not there to be told.
				return s.markGone(ctx, updated, err)
			}
			return fmt.Errorf("tell %s about PagerDuty: %w", inc.Key(), err)
		}
	}
	return nil
}

// alert is the PagerDuty alert of a trigger action. A private incident's
// alert says only "INC-<n> (private, sevN)" and links its channel: no
// title, status, reason or channel name (which is made of the title).
func (s *Service) alert(inc *incidentbot.Incident, a incidentbot.PagerAction) incidentbot.Alert {
	if inc.Private {
		return s.privateAlert(inc, a)
	}
	title := slacktext.Decode(inc.Title)
	summary := fmt.Sprintf("%s [%s] %s", inc.Key(), a.Severity, title)
	if a.DedupKey != "" && a.Reason != "" {
		summary += " — " + slacktext.Decode(a.Reason)
	}
	details := map[string]string{
		"incident": inc.Key(), "title": title, "severity": a.Severity.String(), "status": string(inc.Status),
		"declarer": inc.Declarer, "reason": slacktext.Decode(a.Reason),
	}
	if c := inc.Roles[incidentbot.RoleCommander]; c != "" {
		details["commander"] = c
	}
	link := ""
	if inc.ChannelID != "" {
		details["channel"] = "#" + inc.ChannelName
		if s.deps.ChannelURL != nil {
			link = s.deps.ChannelURL(inc.ChannelID)
			details["channel_url"] = link
		}
	}
	alert := incidentbot.Alert{DedupKey: pagerKey(inc, a), Summary: summary, Severity: a.Severity, Component: "incident", Details: details}
	if link != "" {
		alert.Links = []incidentbot.AlertLink{{Href: link, Text: "Incident channel in Slack"}}
	}
	return alert
}

// bringOnCall finds the on-call people of the lowest level in Slack by email,
// invites them, and makes the first one commander when there is none (or
// proposes them). People without a Slack account are named.
func (s *Service) bringOnCall(ctx context.Context, inc *incidentbot.Incident, calls []incidentbot.OnCall, now time.Time) (func(*incidentbot.Incident) []incidentbot.TimelineEvent, string, error) {
	if len(calls) == 0 {
		return func(*incidentbot.Incident) []incidentbot.TimelineEvent {
			return []incidentbot.TimelineEvent{{Kind: incidentbot.EventOnCall, At: now, Text: "nobody is on call"}}
		}, ":pager: PagerDuty says nobody is on call for the escalation policy.", nil
	}
	level := calls[0].Level
	type found struct {
		call incidentbot.OnCall
		user string
	}
	var people []found
	var named []incidentbot.User
	for _, c := range calls {
		if c.Level != level {
			break
		}
		u, err := s.deps.Directory.UserByEmail(ctx, c.Email)
		switch {
		case err == nil:
			if err := s.deps.Channels.Invite(ctx, inc.ChannelID, u.ID); err != nil {
				return nil, "", err
			}
			if u.Name == "" {
				u.Name = c.Name
			}
			named = append(named, u)
		case incidentbot.ErrorCode(err) == incidentbot.ENotFound:
		default:
			return nil, "", err
		}
		people = append(people, found{c, u.ID})
	}
	// Learn their names, as the edge does for people who type in Slack, so
	// that `incidentbot list` and the post-mortem name a commander the bot
	// made. Only a name is lost if this fails: the edge learns it when they
	// next speak.
	if len(named) > 0 {
		_ = s.store.PutUsers(ctx, named...)
	}
	var lines []string
	commander := ""
	for _, p := range people {
		if p.user == "" {
			lines = append(lines, fmt.Sprintf(":pager: PagerDuty says *%s* (%s) is on call, but no Slack account has that email: reach them through PagerDuty.", slacktext.Escape(p.call.Name), slacktext.Escape(p.call.Email)))
			continue
		}
		if commander == "" && inc.Roles[incidentbot.RoleCommander] == "" {
			commander = p.user
			lines = append(lines, fmt.Sprintf(":pager: <@%s> is on call (PagerDuty) and joined; with no commander set, they are now the *Incident commander*. Hand it over with `/incident role commander @someone`.", p.user))
			continue
		}
		lines = append(lines, fmt.Sprintf(":pager: <@%s> is on call (PagerDuty) and has been invited. <@%s>, to take command type `/incident role commander me`.", p.user, p.user))
	}
	mutate := func(i *incidentbot.Incident) []incidentbot.TimelineEvent {
		var evs []incidentbot.TimelineEvent
		for _, p := range people {
			evs = append(evs, incidentbot.TimelineEvent{Kind: incidentbot.EventOnCall, At: now, To: p.user, Text: p.call.Name})
		}
		if commander != "" && i.Roles[incidentbot.RoleCommander] == "" {
			if i.Roles == nil {
				i.Roles = map[incidentbot.Role]string{}
			}
			i.Roles[incidentbot.RoleCommander] = commander
			if i.AcknowledgedAt.IsZero() {
				i.AcknowledgedAt = now
			}
			evs = append(evs, incidentbot.TimelineEvent{Kind: incidentbot.EventRole, At: now, Ref: string(incidentbot.RoleCommander), To: commander, Text: "on call in PagerDuty"})
		}
		return evs
	}
	return mutate, strings.Join(lines, "\n"), nil
}

const pageUsage = "/incident page [INC-n] [note]"

func (c *call) page() (Result, error) {
	if c.deps.Pager == nil {
		return Result{}, invalid("", "PagerDuty is not configured on this bot: the operators set PAGERDUTY_ROUTING_KEY (an Events API v2 integration key) to page, "+
			"and PAGERDUTY_TOKEN with PAGERDUTY_ESCALATION_POLICY to bring the on-call into the channel.")
	}
	id, err := c.targetID(pageUsage, true)
	if err != nil {
		return Result{}, err
	}
	now := c.now()
	note := c.args
	reason := note
	if reason == "" {
		reason = "paged by <@" + c.inv.UserID + ">"
	}
	inc, applied, err := c.update(id, true, func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		n := 1
		for _, a := range i.Pager {
			if a.Kind == incidentbot.PageTrigger && a.DedupKey != "" {
				n++
			}
		}
		addPagerAction(i, incidentbot.PagerAction{Kind: incidentbot.PageTrigger, DedupKey: fmt.Sprintf("%s-page-%d", primaryKey(i), n),
			Severity: i.Severity, Reason: reason, OutboxState: incidentbot.OutboxState{RequestedBy: c.inv.UserID, RequestedAt: now}})
		if c.deps.OnCall != nil {
			addPagerAction(i, incidentbot.PagerAction{Kind: incidentbot.PageOnCall, OutboxState: incidentbot.OutboxState{RequestedBy: c.inv.UserID, RequestedAt: now}})
		}
		return nil, nil
	})
	if err != nil {
		return Result{}, err
	}
	if !applied {
		return duplicateReply(inc), nil
	}
	return Result{Reply: fmt.Sprintf("Paging PagerDuty for %s; the channel will hear when it is delivered.", inc.Key())}, nil
}
