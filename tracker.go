package incidentbot

import (
	"fmt"
	"time"
)

// Tracker names, as stored in TrackerIssue.Tracker.
const (
	TrackerGitHub = "github"
	TrackerJira   = "jira"
)

// TrackerIssue is the issue an action item is mirrored to in the team's
// tracker (GitHub Issues or Jira).
type TrackerIssue struct {
	// Tracker is TrackerGitHub or TrackerJira.
	Tracker string `json:"tracker"`
	// Key names the issue in its tracker: "owner/repo#12" or "OPS-7".
	Key string `json:"key"`
	// URL is the issue's web page.
	URL string `json:"url,omitempty"`
}

// TrackerName is how a tracker is called in messages: "GitHub", "Jira".
func TrackerName(tracker string) string {
	switch tracker {
	case TrackerGitHub:
		return "GitHub"
	case TrackerJira:
		return "Jira"
	}
	return tracker
}

// TrackerActionKind is what a tracker action asks of the tracker.
type TrackerActionKind string

// Tracker action kinds.
const (
	TrackCreate TrackerActionKind = "create" // create the item's issue
	TrackUpdate TrackerActionKind = "update" // set its assignee and due date to the item's
	TrackClose  TrackerActionKind = "close"  // close (Jira: transition to done) the issue
	TrackReopen TrackerActionKind = "reopen" // reopen it
)

// TrackerAction is one call to the tracker in the incident's durable outbox,
// recorded in the same transaction as the change to the action item that
// asks for it, and delivered in order with the PagerDuty outbox's states
// (PagerPending, PagerDone, PagerFailed). What it sends is read from the
// item when it is delivered, so a late update sends the latest owner and
// due date.
type TrackerAction struct {
	ID   int               `json:"id"`
	Kind TrackerActionKind `json:"kind"`
	Item int               `json:"item"` // the action item, A<n>
	// Tried is, for a TrackCreate, when its first attempt that may have
	// reached the tracker began; it is recorded before that attempt is
	// sent and cleared when the issue is recorded. While it is set, the
	// tracker may hold an issue the bot has not recorded (the process died,
	// or the answer was lost), so the next attempt looks for it (by
	// TrackerItem.Marker, created at or after Tried less TrackerLookBack)
	// before it creates one.
	Tried time.Time `json:"tried,omitzero"`
	OutboxState
}

// Delays of a create that may have reached the tracker.
const (
	// TrackerSettle is how long after Tried the next attempt of a create
	// waits, so that a create the tracker was still carrying out when its
	// client went away has been made, and indexed, when it is looked for.
	// It is longer than the adapters' default call limit (10 s).
	TrackerSettle = 15 * time.Second
	// TrackerLookBack widens the lookup before Tried, for the skew
	// between the bot's clock and the tracker's.
	TrackerLookBack = 5 * time.Minute
)

// Due is when the action may next be attempted: OutboxState.Due, but for a
// create that may have reached the tracker not before Tried plus
// TrackerSettle.
func (a TrackerAction) Due() time.Time {
	d := a.OutboxState.Due()
	if a.Kind == TrackCreate && !a.Tried.IsZero() {
		if s := a.Tried.Add(TrackerSettle); s.After(d) {
			return s
		}
	}
	return d
}

// PendingTracker returns the pending tracker actions in order.
func (inc *Incident) PendingTracker() []TrackerAction {
	var out []TrackerAction
	for _, a := range inc.Tracker {
		if a.State == PagerPending {
			out = append(out, a)
		}
	}
	return out
}

// TrackerAction returns tracker action n, or nil.
func (inc *Incident) TrackerAction(n int) *TrackerAction {
	for i := range inc.Tracker {
		if inc.Tracker[i].ID == n {
			return &inc.Tracker[i]
		}
	}
	return nil
}

// TrackerPending reports whether action item n has tracker calls not
// delivered yet: while it has, what the tracker says of its issue is
// older than what the bot knows.
func (inc *Incident) TrackerPending(n int) bool {
	for _, a := range inc.Tracker {
		if a.Item == n && a.State == PagerPending {
			return true
		}
	}
	return false
}

// TrackerItem is what a tracker is sent for an action item.
type TrackerItem struct {
	TeamID        string // the Slack workspace of the incident; may be empty
	Incident      string // "INC-7"
	IncidentTitle string // plain text
	Item          string // "A2"
	Title         string // the item's text, plain
	ChannelName   string // without '#'; empty when there is no channel
	ChannelURL    string // empty when unknown
	// OwnerEmail is the Slack email of the owner; empty when there is no
	// owner or Slack does not show their email. The tracker assigns the
	// issue to its user with that email, if it knows one.
	OwnerEmail string
	Due        string // DateLayout; empty when none
	Labels     []string
}

// Marker is the line the item's issue carries in its body (GitHub) or
// description (Jira), "incidentbot: T0001 INC-7 A2", by which a later
// attempt finds the issue an earlier one created. It is the same in every
// attempt; the workspace tells apart the items of two workspaces whose
// bots share a tracker.
func (it TrackerItem) Marker() string {
	if it.TeamID == "" {
		return fmt.Sprintf("incidentbot: %s %s", it.Incident, it.Item)
	}
	return fmt.Sprintf("incidentbot: %s %s %s", it.TeamID, it.Incident, it.Item)
}

// TrackerChange is an issue changed in its tracker, as a poll reports it.
type TrackerChange struct {
	Tracker string
	Key     string
	URL     string
	Labels  []string
	// Done reports whether the issue is closed (GitHub) or in a status of
	// the done category (Jira).
	Done bool
	// By names who made the issue what it is now, as the tracker shows
	// them ("@octocat", "Dana Scully"); empty when the tracker does not say.
	By string
}
