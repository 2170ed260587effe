package incidentbot

import (
	"strings"
	"time"
)

// EventKind says what a TimelineEvent records.
type EventKind string

// Event kinds. Captured Slack activity first, then what commands and the bot
// itself record.
const (
	EventMessage    EventKind = "message"         // a message or thread reply
	EventEdited     EventKind = "message_edited"  // Text is the new text, PrevText the original
	EventDeleted    EventKind = "message_deleted" // PrevText is the deleted text
	EventFileShared EventKind = "file_shared"     // a message with files; Files set
	EventPinned     EventKind = "pinned"          // a message pinned; TS is the pinned message
	EventKeyMarked  EventKind = "key_event"       // :pushpin: reaction or the message shortcut; TS is the marked message

	EventOpened        EventKind = "incident_opened"
	EventChannel       EventKind = "channel_created" // Ref is the channel ID, Text its name
	EventStatus        EventKind = "status_update"   // To is the status
	EventSeverity      EventKind = "severity_changed"
	EventRole          EventKind = "role_assigned" // Ref is the role, To the user, From the previous holder
	EventHypothesis    EventKind = "hypothesis_added"
	EventHypConfirmed  EventKind = "hypothesis_confirmed"
	EventHypRejected   EventKind = "hypothesis_rejected"
	EventAction        EventKind = "action_added"
	EventActionDone    EventKind = "action_done"          // From and To, when set: done in the tracker ("GitHub") by whom there ("@octocat"; may be empty)
	EventActionOwner   EventKind = "action_owner_changed" // Ref is the item, From and To the owners (user IDs; "" for none)
	EventActionDue     EventKind = "action_due_changed"   // Ref is the item, From and To the due dates (DateLayout; "" for none)
	EventActionReopen  EventKind = "action_reopened"      // Ref is the item, Text its text; From/To as for action_done
	EventReview        EventKind = "followup_review"      // the follow-up review posted; Text says what was open
	EventImpactStarted EventKind = "impact_started"
	EventResolved      EventKind = "incident_resolved"
	EventReminder      EventKind = "reminder_sent"     // a missed status update
	EventSnoozed       EventKind = "reminders_snoozed" // To is the RFC 3339 end of the snooze
	EventPage          EventKind = "page"              // a PagerDuty alert
	EventPageResolved  EventKind = "page_resolved"
	EventOnCall        EventKind = "oncall"
	EventPostmortem    EventKind = "postmortem_posted"
	EventNotice        EventKind = "notice" // something the bot told the channel (a failure, a pending action)
	// EventTimelineAdded is a message from outside the incident channel
	// added with the message shortcut "Add to incident timeline": At is the
	// message's time, Actor its author (a user ID, or a bot ID), Text its
	// text as Slack sent it, Ref its permalink ("" when Slack gave none), From
	// who added it, To the channel it is in. TS is left empty: it is not a
	// message of the incident channel.
	EventTimelineAdded EventKind = "timeline_added"

	// The channel's life, as Slack reports it or the bot finds it.
	EventChannelArchived   EventKind = "channel_archived"   // Actor archived it
	EventChannelUnarchived EventKind = "channel_unarchived" // Actor unarchived it
	EventChannelDeleted    EventKind = "channel_deleted"
	EventChannelGone       EventKind = "channel_unusable" // the bot cannot use the channel; Text is Slack's code
	EventChannelBack       EventKind = "channel_usable"   // it can again
	EventChannelRefused    EventKind = "channel_refused"  // Slack refused to create it; Text is Slack's code
)

// Captured reports whether the kind records Slack activity captured from the
// channel (as opposed to a command or the bot's own action).
func (k EventKind) Captured() bool {
	switch k {
	case EventMessage, EventEdited, EventDeleted, EventFileShared, EventPinned, EventKeyMarked:
		return true
	}
	return false
}

// File is a file shared in an incident channel.
type File struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

// TimelineEvent is one entry of an incident's append-only timeline.
type TimelineEvent struct {
	IncidentID int64 `json:"incident_id"`
	// Seq is assigned by the store: the order in which events were committed.
	Seq  uint64    `json:"seq"`
	Kind EventKind `json:"kind"`
	// At is when it happened: the Slack message time for captured messages.
	At       time.Time `json:"at"`
	Actor    string    `json:"actor,omitempty"` // Slack user ID
	Text     string    `json:"text,omitempty"`
	PrevText string    `json:"prev_text,omitempty"` // the original, for edits and deletions
	TS       string    `json:"ts,omitempty"`        // the Slack message this is about
	ThreadTS string    `json:"thread_ts,omitempty"` // its thread parent, for replies
	Ref      string    `json:"ref,omitempty"`       // H3, A2, a role, a dedup key of a page
	From     string    `json:"from,omitempty"`      // value before a change
	To       string    `json:"to,omitempty"`        // value after a change
	Files    []File    `json:"files,omitempty"`
	// DedupKey identifies the delivery; an event whose key is already stored
	// for the incident is not stored again. Empty means never deduplicated.
	DedupKey string `json:"dedup_key,omitempty"`
}

// Record is an incident with its whole timeline and the names of the people
// in it: what a post-mortem is drafted from and what `export --format json`
// writes.
type Record struct {
	Incident *Incident       `json:"incident"`
	Events   []TimelineEvent `json:"events"`
	Users    map[string]User `json:"users"`
}

// TSLess reports whether Slack ts a ("1700000000.000100") is before b; ""
// is before everything. Both parts are compared as numbers, so that a
// seconds part that grows a digit still sorts after. Both stores order and
// compare timelines by it.
func TSLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	as, bs = strings.TrimLeft(as, "0"), strings.TrimLeft(bs, "0")
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	if as != bs {
		return as < bs
	}
	// Fractions: pad the shorter on the right, as digits after a point.
	for len(af) < len(bf) {
		af += "0"
	}
	for len(bf) < len(af) {
		bf += "0"
	}
	return af < bf
}
