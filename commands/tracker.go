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

// Tracker is the team's issue tracker as commands need it; packages
// tracker/github and tracker/jira implement it. Errors of code
// EUnavailable are worth retrying (with incidentbot.RetryAfter when the
// tracker said how long); others are final.
type Tracker interface {
	// Name is incidentbot.TrackerGitHub or incidentbot.TrackerJira.
	Name() string
	// Create creates the issue of an action item.
	Create(ctx context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error)
	// Update sets the issue's assignee and due date to the item's.
	Update(ctx context.Context, key string, it incidentbot.TrackerItem) error
	// SetDone closes (done) or reopens the issue.
	SetDone(ctx context.Context, key string, done bool) error
	// Find returns the issue of it (the one whose body or description
	// carries it.Marker()) created at or after since, newest first; false
	// when there is none. An earlier Create may have made it though its
	// answer never reached the bot.
	Find(ctx context.Context, it incidentbot.TrackerItem, since time.Time) (incidentbot.TrackerIssue, bool, error)
}

// TrackerPoller finds the issues changed in a tracker; the adapters
// implement it with one search per call.
type TrackerPoller interface {
	// Changes returns the issues labelled "incident" changed at or after
	// since.
	Changes(ctx context.Context, since time.Time) ([]incidentbot.TrackerChange, error)
}

// Emails finds the email of a Slack user (users.info), so that their
// issues can be assigned to them in the tracker.
type Emails interface {
	// EmailOf returns the email of user ID id; "" when Slack shows none,
	// ENotFound when there is no such user.
	EmailOf(ctx context.Context, id string) (string, error)
}

// trackItem queues the tracker call of kind for action item n of inc, in
// the same update as the change that asks for it. Nothing is queued
// without a tracker, nor, for a change, for an item that has no issue and
// none coming (recorded before the tracker was configured, or whose
// creation failed for good). A private incident's items are never mirrored:
// a tracker is visible to people outside its channel, and the item's text
// would tell them of it.
func (s *Service) trackItem(inc *incidentbot.Incident, kind incidentbot.TrackerActionKind, n int, by string, now time.Time) {
	if s.deps.Tracker == nil || inc.Private {
		return
	}
	if kind != incidentbot.TrackCreate {
		a := inc.Action(n)
		coming := false
		for _, t := range inc.Tracker {
			if t.Item == n && t.Kind == incidentbot.TrackCreate && t.State == incidentbot.PagerPending {
				coming = true
			}
		}
		if a == nil || (a.Issue == nil && !coming) {
			return
		}
	}
	inc.Tracker = append(inc.Tracker, incidentbot.TrackerAction{ID: len(inc.Tracker) + 1, Kind: kind, Item: n,
		OutboxState: incidentbot.OutboxState{RequestedBy: by, RequestedAt: now, State: incidentbot.PagerPending}})
}

// trackerNote is what the reply to a new item adds when it goes to the
// tracker.
func (s *Service) trackerNote(inc *incidentbot.Incident) string {
	if s.deps.Tracker == nil || inc.Private {
		return ""
	}
	return fmt.Sprintf(" It is being created as a %s issue; the channel will hear when it is.", incidentbot.TrackerName(s.deps.Tracker.Name()))
}

// issueLink is " — <url|key>" for an item with an issue, else "".
func issueLink(a incidentbot.ActionItem) string {
	if a.Issue == nil {
		return ""
	}
	return " — " + linkIssue(*a.Issue)
}

// linkIssue is a Slack link to an issue, or its key when it has no URL.
func linkIssue(is incidentbot.TrackerIssue) string {
	key := slacktext.Escape(is.Key)
	if is.URL == "" || strings.ContainsAny(is.URL, "<>| ") {
		return "`" + key + "`"
	}
	return "<" + is.URL + "|" + key + ">"
}

// TrackerDue returns when incident inc next has tracker work: the time its
// first pending tracker action may be attempted (they are delivered in
// order); false when it has none.
func (s *Service) TrackerDue(inc *incidentbot.Incident) (time.Time, bool) {
	if s.deps.Tracker == nil {
		return time.Time{}, false
	}
	for _, a := range inc.Tracker {
		if a.State == incidentbot.PagerPending {
			return a.Due(), true
		}
	}
	return time.Time{}, false
}

// trackerWhat names what a tracker action asks, for messages.
func trackerWhat(kind incidentbot.TrackerActionKind, item string) string {
	switch kind {
	case incidentbot.TrackUpdate:
		return "the update of the issue of " + item
	case incidentbot.TrackClose:
		return "closing the issue of " + item
	case incidentbot.TrackReopen:
		return "reopening the issue of " + item
	}
	return "creating the issue of " + item
}

// DeliverTracker sends incident id's due tracker calls in order, records
// each outcome in the incident and tells its channel. A failure stops the
// incident's later tracker calls (so a close never overtakes the creation
// of its issue). A failure worth retrying (EUnavailable) is scheduled again
// after backoff(n), or after the tracker's Retry-After when longer; a
// refusal (a bad token, no such repository or project) marks the call
// failed and is told in the channel once. Both are returned, with their
// codes, as is a failure to read or record the incident. A create records
// its attempt before it is sent, and a later attempt adopts the issue an
// earlier one made (recordTry, findOrCreate), so that an item gets one
// issue even when the bot dies between the create and its record.
func (s *Service) DeliverTracker(ctx context.Context, id int64, backoff func(attempt int) time.Duration) error {
	if s.deps.Tracker == nil {
		return nil
	}
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("tracker calls of INC-%d: %w", id, err)
	}
	now := s.now()
	var errs []error
	for _, a := range inc.PendingTracker() {
		if a.Due().After(now) {
			break
		}
		item := inc.Action(a.Item)
		var callErr error
		var created incidentbot.TrackerIssue
		skip := item == nil || (a.Kind != incidentbot.TrackCreate && item.Issue == nil) || (a.Kind == incidentbot.TrackCreate && item.Issue != nil)
		if !skip {
			switch a.Kind {
			case incidentbot.TrackCreate, incidentbot.TrackUpdate:
				var it incidentbot.TrackerItem
				if it, callErr = s.trackerItem(ctx, inc, *item); callErr != nil {
					break
				}
				if a.Kind == incidentbot.TrackCreate {
					if !a.Tried.IsZero() {
						created, callErr = s.findOrCreate(ctx, a, it)
						break
					}
					if err := s.recordTry(ctx, inc, a, now); err != nil {
						return errors.Join(append(errs, err)...)
					}
					created, callErr = s.deps.Tracker.Create(ctx, it)
				} else {
					callErr = s.deps.Tracker.Update(ctx, item.Issue.Key, it)
				}
			case incidentbot.TrackClose, incidentbot.TrackReopen:
				callErr = s.deps.Tracker.SetDone(ctx, item.Issue.Key, a.Kind == incidentbot.TrackClose)
			}
		}
		recErr := s.finishTracker(ctx, inc, a, skip, callErr, created, now, backoff)
		if callErr != nil {
			errs = append(errs, fmt.Errorf("%s in %s: %w", trackerWhat(a.Kind, fmt.Sprintf("%s A%d", inc.Key(), a.Item)), incidentbot.TrackerName(s.deps.Tracker.Name()), callErr))
		}
		if recErr != nil {
			return errors.Join(append(errs, recErr)...)
		}
		if callErr != nil {
			break
		}
		if inc, err = s.store.Incident(ctx, id); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	return errors.Join(errs...)
}

// A create action's issue is created at most once across attempts.
// Before its first attempt that may reach the tracker, recordTry records
// when that attempt began (a.Tried, fenced like every update): if the
// process dies, or the answer is lost, before the issue is recorded, the
// next attempt finds Tried set and findOrCreate first asks the tracker for
// the issue carrying the item's marker created since Tried (less
// TrackerLookBack), and adopts it instead of creating a second one.

// recordTry records that create action a is about to be attempted first.
// It fails when the record cannot be made (a store failure, the lease
// lost) or the action changed meanwhile; nothing may be sent then.
func (s *Service) recordTry(ctx context.Context, inc *incidentbot.Incident, a incidentbot.TrackerAction, now time.Time) error {
	_, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		p := i.TrackerAction(a.ID)
		if p == nil || p.State != incidentbot.PagerPending || !p.Tried.IsZero() {
			return nil, errUnchanged
		}
		p.Tried = now
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		return fmt.Errorf("record the attempt to create the issue of %s A%d: it changed meanwhile", inc.Key(), a.Item)
	}
	if err != nil {
		return fmt.Errorf("record the attempt to create the issue of %s A%d: %w", inc.Key(), a.Item, err)
	}
	return nil
}

// findOrCreate returns the issue an earlier attempt of a created, else
// creates it. A failed lookup is returned (retried as its code says) and
// creates nothing.
func (s *Service) findOrCreate(ctx context.Context, a incidentbot.TrackerAction, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	found, ok, err := s.deps.Tracker.Find(ctx, it, a.Tried.Add(-incidentbot.TrackerLookBack))
	if err != nil || ok {
		return found, err
	}
	return s.deps.Tracker.Create(ctx, it)
}

// trackerItem is what the tracker is sent for item of inc; it fails when
// Slack cannot say the owner's email now.
func (s *Service) trackerItem(ctx context.Context, inc *incidentbot.Incident, item incidentbot.ActionItem) (incidentbot.TrackerItem, error) {
	it := incidentbot.TrackerItem{
		TeamID: inc.TeamID, Incident: inc.Key(), IncidentTitle: slacktext.Decode(inc.Title), Item: item.Key(),
		Title: s.plain(ctx, item.Text), ChannelName: inc.ChannelName, Due: item.Due,
		Labels: []string{"incident", inc.Key()},
	}
	if inc.ChannelID != "" && s.deps.ChannelURL != nil {
		it.ChannelURL = s.deps.ChannelURL(inc.ChannelID)
	}
	if item.Owner != "" && s.deps.Emails != nil {
		email, err := s.deps.Emails.EmailOf(ctx, item.Owner)
		if err != nil && incidentbot.ErrorCode(err) != incidentbot.ENotFound {
			return it, fmt.Errorf("find the email of <@%s>: %w", item.Owner, err)
		}
		it.OwnerEmail = email
	}
	return it, nil
}

// plain is Slack text as plain text, with people named as the bot knows
// them.
func (s *Service) plain(ctx context.Context, text string) string {
	users, _ := s.store.Users(ctx)
	return slacktext.PlainText(text, slacktext.Names{User: func(id string) string { return users[id].Name }})
}

// finishTracker records the outcome of one tracker call and tells the
// channel; it fails when either cannot be done.
func (s *Service) finishTracker(ctx context.Context, inc *incidentbot.Incident, a incidentbot.TrackerAction, skip bool, callErr error,
	created incidentbot.TrackerIssue, now time.Time, backoff func(int) time.Duration) error {
	retry := incidentbot.ErrorCode(callErr) == incidentbot.EUnavailable
	name := incidentbot.TrackerName(s.deps.Tracker.Name())
	key := fmt.Sprintf("A%d", a.Item)
	var attempts int
	var issue *incidentbot.TrackerIssue
	updated, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		p := i.TrackerAction(a.ID)
		if p == nil || p.State != incidentbot.PagerPending {
			return nil, nil
		}
		if !skip {
			p.Attempts++
		}
		attempts = p.Attempts
		item := i.Action(a.Item)
		switch {
		case callErr == nil:
			p.State, p.DoneAt, p.LastError, p.Tried = incidentbot.PagerDone, now, "", time.Time{}
			if item != nil && a.Kind == incidentbot.TrackCreate && !skip {
				c := created
				item.Issue = &c
			}
			if item != nil {
				issue = item.Issue
			}
		case retry:
			p.NextAttempt, p.LastError = now.Add(max(backoff(p.Attempts), incidentbot.RetryAfter(callErr))), incidentbot.ErrorMessage(callErr)
		default:
			p.State, p.LastError = incidentbot.PagerFailed, incidentbot.ErrorMessage(callErr)
			return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, At: now, Ref: key, Text: name + " refused " + trackerWhat(a.Kind, key) + ": " + p.LastError}}, nil
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("record the tracker outcome of %s: %w", inc.Key(), err)
	}
	what := trackerWhat(a.Kind, "*"+key+"*")
	msg := ""
	switch {
	case skip:
	case callErr == nil && issue != nil:
		switch a.Kind {
		case incidentbot.TrackCreate:
			msg = fmt.Sprintf(":link: *%s* is tracked in %s: %s", key, name, linkIssue(*issue))
		case incidentbot.TrackUpdate:
			msg = fmt.Sprintf(":link: Owner and due date of *%s* set in %s: %s", key, name, linkIssue(*issue))
		case incidentbot.TrackClose:
			msg = fmt.Sprintf(":link: Closed %s in %s (*%s* is done).", linkIssue(*issue), name, key)
		case incidentbot.TrackReopen:
			msg = fmt.Sprintf(":link: Reopened %s in %s (*%s* is open again).", linkIssue(*issue), name, key)
		}
		if attempts > 1 {
			msg += fmt.Sprintf(" (delivered after %d attempts)", attempts)
		}
	case callErr == nil:
	case retry && attempts == 1:
		msg = fmt.Sprintf(":warning: %s is not answering (%s): %s is pending and will be retried until it goes through.", name, slacktext.Escape(incidentbot.ErrorMessage(callErr)), what)
	case retry:
	default:
		msg = fmt.Sprintf(":x: %s refused %s: %s. It is not retried: the operators have the details in the logs.", name, what, slacktext.Escape(strings.TrimSuffix(incidentbot.ErrorMessage(callErr), ".")))
	}
	if msg != "" && ChannelUsable(updated) {
		if _, err := s.deps.Poster.Post(ctx, updated.ChannelID, msg); err != nil {
			if incidentbot.ErrorCode(err) == incidentbot.EGone {
				return s.markGone(ctx, updated, err)
			}
			return fmt.Errorf("tell %s about %s: %w", inc.Key(), name, err)
		}
	}
	return nil
}

// SyncTrackers asks the tracker, once, for the issues changed at or after
// since, and records in the bot each linked issue closed (the item done)
// or reopened (the item open) there, attributed to who did it in the
// tracker, and tells the incident channel. Issues whose item has tracker
// calls still pending are left alone (the bot's own change is on its way
// there), and so is every issue whose state already matches its item's,
// which is how the bot's own changes are not echoed back. It returns how
// many items changed; it fails when the tracker cannot be asked (nothing
// is recorded then) or an incident cannot be read or written.
func (s *Service) SyncTrackers(ctx context.Context, since time.Time) (int, error) {
	poller, ok := s.deps.Tracker.(TrackerPoller)
	if s.deps.Tracker == nil || !ok {
		return 0, nil
	}
	changes, err := poller.Changes(ctx, since)
	if err != nil {
		return 0, fmt.Errorf("look for issues changed in %s: %w", incidentbot.TrackerName(s.deps.Tracker.Name()), err)
	}
	n := 0
	var errs []error
	for _, ch := range changes {
		done, err := s.syncIssue(ctx, ch)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// syncIssue records one changed issue; it reports whether its item changed.
func (s *Service) syncIssue(ctx context.Context, ch incidentbot.TrackerChange) (bool, error) {
	var id int64
	for _, l := range ch.Labels {
		if len(l) > 4 && strings.EqualFold(l[:4], "INC-") {
			if n, err := incidentbot.ParseIncidentKey(l); err == nil {
				id = n
			}
		}
	}
	if id == 0 {
		return false, nil
	}
	now := s.now()
	name := incidentbot.TrackerName(ch.Tracker)
	var item incidentbot.ActionItem
	inc, applied, err := s.updateIncident(ctx, id, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		var ap *incidentbot.ActionItem
		for k := range i.Actions {
			if is := i.Actions[k].Issue; is != nil && is.Tracker == ch.Tracker && is.Key == ch.Key {
				ap = &i.Actions[k]
			}
		}
		if ap == nil || i.TrackerPending(ap.ID) || ch.Done == (ap.Status == incidentbot.ActionDone) {
			return nil, errUnchanged
		}
		ev := incidentbot.TimelineEvent{At: now, Ref: ap.Key(), Text: ap.Text, From: name, To: ch.By}
		if ch.Done {
			ap.Status, ap.DoneBy, ap.DoneAt = incidentbot.ActionDone, "", now
			ev.Kind = incidentbot.EventActionDone
		} else {
			ap.Status, ap.DoneBy, ap.DoneAt = incidentbot.ActionOpen, "", time.Time{}
			ev.Kind = incidentbot.EventActionReopen
		}
		item = *ap
		return []incidentbot.TimelineEvent{ev}, nil
	})
	if errors.Is(err, errUnchanged) || incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record %s changed in %s: %w", ch.Key, name, err)
	}
	if !applied {
		return false, nil
	}
	by := ""
	if ch.By != "" {
		by = " by " + slacktext.Escape(ch.By)
	}
	var msg string
	if ch.Done {
		msg = fmt.Sprintf(":heavy_check_mark: *%s* done (closed in %s%s, %s): %s", item.Key(), name, by, linkIssue(*item.Issue), slacktext.Escape(item.Text))
	} else {
		msg = fmt.Sprintf(":arrows_counterclockwise: *%s* reopened in %s%s (%s): %s — %s", item.Key(), name, by, linkIssue(*item.Issue), slacktext.Escape(item.Text), describeOwnerDue(item))
	}
	if fn := s.postChannel(inc, msg); fn != nil {
		if err := fn(ctx); err != nil {
			return true, err
		}
	}
	return true, nil
}

// errUnchanged ends an update that finds nothing to change.
var errUnchanged = errors.New("unchanged")
