package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/incidentbot/incidentbot"
)

// HomeData is what a user's App Home shows: the open incidents they may
// see, their roles in them, and their open action items. The edge renders
// it (Block Kit); links to channels are made from the incidents' ChannelID.
type HomeData struct {
	// Incidents are the open incidents the user may see (see Visible),
	// most severe first, then newest first.
	Incidents []*incidentbot.Incident
	// Roles are the user's roles in those incidents, in the same order.
	Roles []HomeRole
	// Actions are the user's open action items in incidents they may see
	// (open or resolved): overdue first, then by due date (items without
	// one last), then by incident and item.
	Actions []HomeAction
}

// HomeRole is a role a user holds in an open incident.
type HomeRole struct {
	Incident *incidentbot.Incident
	Role     incidentbot.Role
}

// HomeAction is an open action item a user owns.
type HomeAction struct {
	Incident *incidentbot.Incident
	Item     incidentbot.ActionItem
	// Overdue is set when its due date has ended (in Config.Location).
	Overdue bool
}

// IssueLink is " — <url|key>" (Slack mrkdwn; the key alone when the
// issue has no safe URL) for an item mirrored to the team's tracker, and
// "" for one that is not (yet).
func (a HomeAction) IssueLink() string { return issueLink(a.Item) }

// Home returns what user's App Home shows, read afresh from the store. It
// fails when the store cannot be read.
func (s *Service) Home(ctx context.Context, user string) (HomeData, error) {
	all, err := s.store.Incidents(ctx, false)
	if err != nil {
		return HomeData{}, fmt.Errorf("home of %s: %w", user, err)
	}
	now := s.now()
	var d HomeData
	shown := all[:0:0]
	for _, inc := range all {
		if !inc.Resolved() || slices.ContainsFunc(inc.Actions, func(a incidentbot.ActionItem) bool {
			return a.Owner == user && a.Status == incidentbot.ActionOpen
		}) {
			shown = append(shown, inc)
		}
	}
	for _, inc := range s.visibleOnly(ctx, shown, user) {
		if !inc.Resolved() {
			d.Incidents = append(d.Incidents, inc)
		}
		for _, a := range inc.Actions {
			if a.Owner == user && a.Status == incidentbot.ActionOpen {
				d.Actions = append(d.Actions, HomeAction{Incident: inc, Item: a, Overdue: a.Overdue(now, s.cfg.Location)})
			}
		}
	}
	slices.SortStableFunc(d.Incidents, func(a, b *incidentbot.Incident) int {
		if a.Severity != b.Severity {
			return int(a.Severity) - int(b.Severity)
		}
		return int(b.ID - a.ID)
	})
	for _, inc := range d.Incidents {
		for _, r := range incidentbot.AllRoles() {
			if inc.Roles[r] == user {
				d.Roles = append(d.Roles, HomeRole{Incident: inc, Role: r})
			}
		}
	}
	slices.SortStableFunc(d.Actions, func(a, b HomeAction) int {
		switch {
		case a.Overdue != b.Overdue:
			if a.Overdue {
				return -1
			}
			return 1
		case a.Item.Due != b.Item.Due:
			if a.Item.Due == "" || b.Item.Due == "" {
				return len(b.Item.Due) - len(a.Item.Due) // no date last
			}
			return strings.Compare(a.Item.Due, b.Item.Due)
		case a.Incident.ID != b.Incident.ID:
			return int(a.Incident.ID - b.Incident.ID)
		}
		return a.Item.ID - b.Item.ID
	})
	return d, nil
}
