package incidentbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Incident is one incident and everything about it except its timeline, which
// is stored as a separate, append-only sequence of TimelineEvents.
//
// Times are UTC; a zero time means "not yet" or "unknown".
type Incident struct {
	ID          int64    `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Severity    Severity `json:"severity"`
	Status      Status   `json:"status"`
	TeamID      string   `json:"team_id,omitempty"`
	// Private incidents run in a private channel, are never announced, page
	// PagerDuty without their title, and are shown (list, actions, App
	// Home) only to members of their channel.
	Private bool `json:"private,omitempty"`
	// ChannelID is empty between the incident being recorded and its Slack
	// channel being created.
	ChannelID   string          `json:"channel_id,omitempty"`
	ChannelName string          `json:"channel_name,omitempty"`
	Declarer    string          `json:"declarer"` // Slack user ID
	Roles       map[Role]string `json:"roles,omitempty"`
	// HeaderTS is the ts of the pinned header message in the channel.
	HeaderTS string `json:"header_ts,omitempty"`
	// ChannelGone, when set, is why the incident's channel cannot be used
	// now — Slack's code: is_archived, channel_not_found, not_in_channel —
	// and ChannelGoneAt since when. Reminders and other posts to the channel
	// stop until it clears (channel_unarchive, the bot invited back, or a
	// slow retry that succeeds).
	ChannelGone   string    `json:"channel_gone,omitempty"`
	ChannelGoneAt time.Time `json:"channel_gone_at,omitzero"`
	// ChannelRefused, when set, is why Slack refused to create the channel
	// (restricted_action…), told to the declarer once; ChannelRefusedAt is
	// the last attempt. Creation is retried on a slow schedule.
	ChannelRefused   string    `json:"channel_refused,omitempty"`
	ChannelRefusedAt time.Time `json:"channel_refused_at,omitzero"`
	// ChannelClaimUntil, while in the future, says that one replica is
	// creating the channel: no other starts creating it (which would make a
	// second channel under a suffixed name). A replica that dies meanwhile
	// leaves the claim to expire, and the scheduler's repair takes over.
	ChannelClaimUntil time.Time `json:"channel_claim_until,omitzero"`

	OpenedAt        time.Time `json:"opened_at"`
	ImpactStartedAt time.Time `json:"impact_started_at,omitzero"`
	AcknowledgedAt  time.Time `json:"acknowledged_at,omitzero"` // first commander assignment
	MitigatedAt     time.Time `json:"mitigated_at,omitzero"`    // first "monitoring" update
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	Summary         string    `json:"summary,omitempty"` // given on resolve

	// LastUpdateAt is the time of the last status update, or OpenedAt.
	LastUpdateAt time.Time `json:"last_update_at"`
	// LastReminderAt is when the last status-update reminder was sent.
	LastReminderAt time.Time `json:"last_reminder_at,omitzero"`
	// ReminderAttempt, when set, is when a status-update reminder was found
	// due and its post begun, with no record yet of how the post ended: the
	// process posting it may have died (or lost its lease) after Slack took
	// the post and before LastReminderAt was recorded. Before posting again,
	// the channel's history is looked at for the post of that attempt,
	// which carries the attempt's time in its metadata.
	ReminderAttempt time.Time `json:"reminder_attempt,omitzero"`
	// SnoozedUntil pauses reminders until then.
	SnoozedUntil time.Time `json:"snoozed_until,omitzero"`

	// ReviewPostedAt is when the follow-up review (the action items, two
	// weeks after resolution) was posted in the channel; zero until then.
	ReviewPostedAt time.Time `json:"review_posted_at,omitzero"`

	Hypotheses []Hypothesis `json:"hypotheses,omitempty"`
	Actions    []ActionItem `json:"actions,omitempty"`
	// Pager is the outbox of PagerDuty calls.
	Pager []PagerAction `json:"pager,omitempty"`
	// Tracker is the outbox of tracker calls (GitHub Issues, Jira).
	Tracker []TrackerAction `json:"tracker,omitempty"`
}

// Key is the incident's user-facing id, "INC-<n>".
func (inc *Incident) Key() string { return IncidentKey(inc.ID) }

// IncidentKey formats id as "INC-<n>".
func IncidentKey(id int64) string { return fmt.Sprintf("INC-%d", id) }

// ParseIncidentKey accepts "INC-12", "inc-12" or "12". It fails with EInvalid.
func ParseIncidentKey(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > 4 && strings.EqualFold(t[:4], "INC-") {
		t = t[4:]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, Errorf(EInvalid, "%q is not an incident id: use the form INC-12", s)
	}
	return n, nil
}

// Resolved reports whether the incident is resolved.
func (inc *Incident) Resolved() bool { return inc.Status == StatusResolved }

// RoleHolder returns the Slack user ID holding role r, or "".
func (inc *Incident) RoleHolder(r Role) string { return inc.Roles[r] }

// Commander returns the commander, or the declarer when no commander is set:
// the person reminders are addressed to.
func (inc *Incident) Commander() string {
	if c := inc.Roles[RoleCommander]; c != "" {
		return c
	}
	return inc.Declarer
}

// Hypothesis returns hypothesis H<n>, or nil.
func (inc *Incident) Hypothesis(n int) *Hypothesis {
	for i := range inc.Hypotheses {
		if inc.Hypotheses[i].ID == n {
			return &inc.Hypotheses[i]
		}
	}
	return nil
}

// Action returns action item A<n>, or nil.
func (inc *Incident) Action(n int) *ActionItem {
	for i := range inc.Actions {
		if inc.Actions[i].ID == n {
			return &inc.Actions[i]
		}
	}
	return nil
}

// Clone returns a deep copy, so that a caller may change it without touching
// a cached or shared value.
func (inc *Incident) Clone() *Incident {
	c := *inc
	if inc.Roles != nil {
		c.Roles = make(map[Role]string, len(inc.Roles))
		for k, v := range inc.Roles {
			c.Roles[k] = v
		}
	}
	c.Hypotheses = append([]Hypothesis(nil), inc.Hypotheses...)
	c.Actions = append([]ActionItem(nil), inc.Actions...)
	c.Pager = append([]PagerAction(nil), inc.Pager...)
	c.Tracker = append([]TrackerAction(nil), inc.Tracker...)
	for i := range c.Actions {
		if is := c.Actions[i].Issue; is != nil {
			cp := *is
			c.Actions[i].Issue = &cp
		}
	}
	return &c
}

// User is what the bot knows of a Slack user, for rendering names.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"` // display name, else real name, else handle
}
