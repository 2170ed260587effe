package incidentbot

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
	OutboxState
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
