package templates

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// Input is what a post-mortem is rendered from.
type Input struct {
	Incident *incidentbot.Incident
	// Events is the whole timeline of the incident, in Seq order.
	Events []incidentbot.TimelineEvent
	// Users holds display names by Slack user id; ids it lacks are shown as
	// the id itself.
	Users map[string]incidentbot.User
}

// Text is user text, with Slack markup already resolved to plain text
// (mentions as @display-name). Printed in a template ({{.Title}}) it is
// escaped by EscapeMarkdown, so it is safe anywhere on a line, table cells
// included; its methods give other forms.
type Text string

// String returns the text escaped for any place on a line, line breaks as
// "<br>" (EscapeMarkdown).
func (t Text) String() string { return EscapeMarkdown(string(t)) }

// Indent returns the text escaped for a list item or paragraph whose
// continuation lines are indented by n spaces (EscapeIndented).
func (t Text) Indent(n int) string { return EscapeIndented(string(t), n) }

// Raw returns the plain text, unescaped: for comparisons, never for output.
func (t Text) Raw() string { return string(t) }

// TimeLayout is how times are printed: UTC, to the second.
const TimeLayout = "2006-01-02 15:04:05Z"

// Time is a point in time, in UTC, that may be unknown (zero).
type Time struct{ t time.Time }

// String returns the time as TimeLayout, or "unknown".
func (t Time) String() string {
	if t.t.IsZero() {
		return "unknown"
	}
	return t.t.Format(TimeLayout)
}

// Known reports whether the time is known.
func (t Time) Known() bool { return !t.t.IsZero() }

// Date returns the day, "2006-01-02", or "unknown".
func (t Time) Date() string { return t.Format(incidentbot.DateLayout) }

// Clock returns the time of day, "15:04:05Z", or "unknown".
func (t Time) Clock() string { return t.Format("15:04:05Z") }

// Format formats the time with a Go layout, or returns "unknown".
func (t Time) Format(layout string) string {
	if t.t.IsZero() {
		return "unknown"
	}
	return t.t.Format(layout)
}

// Time returns the time.Time, zero when unknown.
func (t Time) Time() time.Time { return t.t }

// Duration is the time between two Times; unknown when either is.
type Duration struct {
	d     time.Duration
	known bool
}

// between returns the duration from a to b, unknown if either is zero or b
// is before a (times recorded out of order are not a duration).
func between(a, b time.Time) Duration {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return Duration{}
	}
	return Duration{d: b.Sub(a), known: true}
}

// Known reports whether the duration is known.
func (d Duration) Known() bool { return d.known }

// Minutes returns the duration in whole minutes, 0 when unknown.
func (d Duration) Minutes() int { return int(d.d / time.Minute) }

// String returns the duration as "1d 2h 3m 4s", leaving out zero units
// ("0s" for nothing), or "unknown".
func (d Duration) String() string {
	if !d.known {
		return "unknown"
	}
	s := int64(d.d / time.Second)
	if s == 0 {
		return "0s"
	}
	var parts []string
	for _, u := range [...]struct {
		n    int64
		name string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			parts = append(parts, fmt.Sprintf("%d%s", s/u.n, u.name))
			s %= u.n
		}
	}
	return strings.Join(parts, " ")
}

// Role is one responder role and who holds it.
type Role struct {
	Role     string // "commander", "comms", "scribe", "ops"
	Title    string // "Incident commander", ...
	Holder   Text   // display name; empty when unassigned
	Assigned bool
}

// Hypothesis is a hypothesis with its outcome.
type Hypothesis struct {
	Key       string // "H1"
	Text      Text
	Author    Text
	CreatedAt Time
	Outcome   string // "open", "confirmed" or "rejected"
	Confirmed bool
	Rejected  bool
	Note      Text // given with the outcome; may be empty
	DecidedBy Text
	DecidedAt Time
}

// Action is an action item.
type Action struct {
	Key       string // "A1"
	Text      Text
	Owner     Text // display name; empty when nobody owns it
	Due       Text // "2006-01-02"; empty when not set
	Status    string
	Done      bool
	DoneBy    Text
	DoneAt    Time
	CreatedBy Text
	CreatedAt Time
	NoOwner   bool
	NoDue     bool
	Flagged   bool // NoOwner or NoDue
	// Issue is the item's issue in the tracker; nil when it has none.
	Issue *Issue
}

// Issue is an action item's issue in GitHub or Jira.
type Issue struct {
	Tracker string // "GitHub", "Jira"
	Key     Text   // "acme/ops#12", "OPS-7"
	URL     string // http(s) only; "" when there is none or it is not safe in a link
}

// Link is the issue as a markdown link, or its key when it has no URL.
func (i *Issue) Link() string {
	if i.URL == "" {
		return i.Key.String()
	}
	return "[" + i.Key.String() + "](" + i.URL + ")"
}

// KeyEvent is one line of the key-event timeline.
type KeyEvent struct {
	At   Time
	Kind string // an incidentbot.EventKind, e.g. "status_update"
	// Actor is who did it (display name); empty for the bot.
	Actor Text
	// Summary is ready markdown saying what happened, e.g. "Status update by
	// **Alice**: **identified**". It contains no line break.
	Summary string
	// Text is the user text that goes with it (the update, the pinned
	// message, the page note, the resolve summary); may be empty.
	Text Text
}

// LogEntry is one entry of the full message log: a message with what
// happened to it (edits, deletion, files, pins), or a recorded event.
type LogEntry struct {
	At     Time
	Kind   string // the incidentbot.EventKind that created the entry
	Depth  int    // 0, or 1 for a thread reply nested under its parent
	Author Text   // display name (or user id); empty for the bot
	// Text is the message's current text (after edits; for a deleted message,
	// the text it had), or the text that goes with a recorded event.
	Text Text
	// Edited and Deleted report what happened to a message.
	Edited  bool
	Deleted bool
	// Markdown is the entry as ready markdown: a list item indented by Depth,
	// with every annotation, ending in a new line.
	Markdown string
}

// Data is what a post-mortem template sees. Every field is computed from
// the Input; Text fields print escaped.
type Data struct {
	ID          string // "INC-12"
	Title       Text
	Description Text
	Severity    string // "sev1".."sev4"
	Status      string // "investigating", "identified", "monitoring", "resolved"
	Resolved    bool
	Channel     Text // channel name, without "#"; empty before it exists
	Declarer    Text

	ImpactStartedAt Time
	OpenedAt        Time // detected
	AcknowledgedAt  Time // first commander assignment
	MitigatedAt     Time // first "monitoring" status update
	ResolvedAt      Time

	TimeToDetect      Duration // impact started → opened
	TimeToAcknowledge Duration // opened → acknowledged
	TimeToMitigate    Duration // opened → mitigated
	TimeToResolve     Duration // opened → resolved

	Roles      []Role // commander, comms, scribe, ops, in that order
	Summary    Text   // the resolve summary; may be empty
	Hypotheses []Hypothesis
	KeyEvents  []KeyEvent
	Actions    []Action
	// FlaggedActions counts the action items lacking an owner or a due date.
	FlaggedActions int
	// FollowUpReview is 14 days after resolution; unknown until resolved.
	FollowUpReview Time
	Log            []LogEntry
}

// FollowUpAfter is how long after resolution the follow-up review is.
const FollowUpAfter = 14 * 24 * time.Hour

// NewData computes what a template sees from in. It fails only when
// in.Incident is nil.
func NewData(in Input) (*Data, error) {
	inc := in.Incident
	if inc == nil {
		return nil, errors.New("templates: build post-mortem data: no incident")
	}
	n := names{users: in.Users}
	d := &Data{
		ID:                inc.Key(),
		Title:             n.text(inc.Title),
		Description:       n.text(inc.Description),
		Severity:          inc.Severity.String(),
		Status:            string(inc.Status),
		Resolved:          inc.Resolved(),
		Channel:           Text(strings.TrimPrefix(inc.ChannelName, "#")),
		Declarer:          n.name(inc.Declarer),
		ImpactStartedAt:   utc(inc.ImpactStartedAt),
		OpenedAt:          utc(inc.OpenedAt),
		AcknowledgedAt:    utc(inc.AcknowledgedAt),
		MitigatedAt:       utc(inc.MitigatedAt),
		ResolvedAt:        utc(inc.ResolvedAt),
		TimeToDetect:      between(inc.ImpactStartedAt, inc.OpenedAt),
		TimeToAcknowledge: between(inc.OpenedAt, inc.AcknowledgedAt),
		TimeToMitigate:    between(inc.OpenedAt, inc.MitigatedAt),
		TimeToResolve:     between(inc.OpenedAt, inc.ResolvedAt),
		Summary:           n.text(inc.Summary),
	}
	if !inc.ResolvedAt.IsZero() {
		d.FollowUpReview = utc(inc.ResolvedAt.Add(FollowUpAfter))
	}
	for _, r := range incidentbot.AllRoles() {
		id := inc.RoleHolder(r)
		d.Roles = append(d.Roles, Role{Role: string(r), Title: r.Title(), Holder: n.nameOrEmpty(id), Assigned: id != ""})
	}
	hyps := slices.Clone(inc.Hypotheses)
	slices.SortStableFunc(hyps, func(a, b incidentbot.Hypothesis) int { return a.ID - b.ID })
	for _, h := range hyps {
		d.Hypotheses = append(d.Hypotheses, Hypothesis{
			Key:       h.Key(),
			Text:      n.text(h.Text),
			Author:    n.nameOrEmpty(h.Author),
			CreatedAt: utc(h.CreatedAt),
			Outcome:   string(h.Outcome),
			Confirmed: h.Outcome == incidentbot.OutcomeConfirmed,
			Rejected:  h.Outcome == incidentbot.OutcomeRejected,
			Note:      n.text(h.Note),
			DecidedBy: n.nameOrEmpty(h.DecidedBy),
			DecidedAt: utc(h.DecidedAt),
		})
	}
	acts := slices.Clone(inc.Actions)
	slices.SortStableFunc(acts, func(a, b incidentbot.ActionItem) int { return a.ID - b.ID })
	for _, a := range acts {
		x := Action{
			Key:       a.Key(),
			Text:      n.text(a.Text),
			Owner:     n.nameOrEmpty(a.Owner),
			Due:       Text(strings.TrimSpace(a.Due)),
			Status:    string(a.Status),
			Done:      a.Status == incidentbot.ActionDone,
			DoneBy:    n.nameOrEmpty(a.DoneBy),
			DoneAt:    utc(a.DoneAt),
			CreatedBy: n.nameOrEmpty(a.CreatedBy),
			CreatedAt: utc(a.CreatedAt),
		}
		if is := a.Issue; is != nil {
			x.Issue = &Issue{Tracker: incidentbot.TrackerName(is.Tracker), Key: Text(is.Key)}
			if u := is.URL; (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, " ()<>[]\n`") {
				x.Issue.URL = u
			}
		}
		x.NoOwner, x.NoDue = x.Owner == "", x.Due == ""
		x.Flagged = x.NoOwner || x.NoDue
		if x.Flagged {
			d.FlaggedActions++
		}
		d.Actions = append(d.Actions, x)
	}
	buildTimeline(d, inc, in.Events, n)
	return d, nil
}

// utc returns t in UTC as a Time.
func utc(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{t.UTC()}
}

// names resolves user ids and Slack markup against the users map.
type names struct{ users map[string]incidentbot.User }

// userName is the display name of id for slacktext.PlainText, "" when
// unknown.
func (n names) userName(id string) string { return n.users[id].Name }

// name returns the display name of id, or id itself when unknown.
func (n names) name(id string) Text {
	if u, ok := n.users[id]; ok {
		if s := strings.TrimSpace(u.Name); s != "" {
			return Text(s)
		}
	}
	return Text(id)
}

// nameOrEmpty is name, but "" for "".
func (n names) nameOrEmpty(id string) Text {
	if id == "" {
		return ""
	}
	return n.name(id)
}

// text turns Slack text into plain Text.
func (n names) text(s string) Text {
	return Text(strings.TrimSpace(slacktext.PlainText(s, slacktext.Names{User: n.userName})))
}
