package incidentbot

import "time"

// PagerActionKind is what a pager action asks of PagerDuty.
type PagerActionKind string

// Pager action kinds.
const (
	PageTrigger PagerActionKind = "trigger" // raise or update an alert
	PageResolve PagerActionKind = "resolve" // resolve an alert
	PageOnCall  PagerActionKind = "oncall"  // look up who is on call and bring them in
)

// PagerState is where a pager action stands in the outbox.
type PagerState string

// Pager action states. A pending action is retried with backoff until it is
// done or fails for good (PagerDuty refused it as invalid).
const (
	PagerPending PagerState = "pending"
	PagerDone    PagerState = "done"
	PagerFailed  PagerState = "failed"
)

// PagerAction is one call to PagerDuty in the incident's durable outbox. It
// is recorded in the same transaction as the change that asks for it, so a
// restart neither drops nor repeats it; the dedup key makes a trigger that
// was sent but not yet marked done harmless to send again.
type PagerAction struct {
	ID       int             `json:"id"`
	Kind     PagerActionKind `json:"kind"`
	DedupKey string          `json:"dedup_key,omitempty"`
	Severity Severity        `json:"severity,omitempty"`
	Reason   string          `json:"reason,omitempty"` // why: "opened at sev2", a note
	OutboxState
}

// OutboxState is what every entry of an incident's outboxes (PagerAction,
// TrackerAction) records: who asked and when, and where its delivery
// stands. It is embedded without a JSON name, so its fields are stored
// flat in the entry, as they were before it was shared.
type OutboxState struct {
	RequestedBy string     `json:"requested_by,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	State       PagerState `json:"state"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt time.Time  `json:"next_attempt,omitzero"`
	LastError   string     `json:"last_error,omitempty"`
	DoneAt      time.Time  `json:"done_at,omitzero"`
}

// Due is when the entry may next be attempted: NextAttempt after a failed
// attempt, else RequestedAt.
func (o OutboxState) Due() time.Time {
	if o.NextAttempt.IsZero() {
		return o.RequestedAt
	}
	return o.NextAttempt
}

// PendingPager returns the pending pager actions in order.
func (inc *Incident) PendingPager() []PagerAction {
	var out []PagerAction
	for _, a := range inc.Pager {
		if a.State == PagerPending {
			out = append(out, a)
		}
	}
	return out
}

// PagerAction returns pager action n, or nil.
func (inc *Incident) PagerAction(n int) *PagerAction {
	for i := range inc.Pager {
		if inc.Pager[i].ID == n {
			return &inc.Pager[i]
		}
	}
	return nil
}

// TriggeredKeys returns the dedup keys of alerts triggered (or about to be)
// and not resolved, in order.
func (inc *Incident) TriggeredKeys() []string {
	var keys []string
	open := map[string]bool{}
	for _, a := range inc.Pager {
		switch {
		case a.Kind == PageTrigger && a.State != PagerFailed && !open[a.DedupKey]:
			open[a.DedupKey] = true
			keys = append(keys, a.DedupKey)
		case a.Kind == PageResolve && a.State != PagerFailed:
			delete(open, a.DedupKey)
		}
	}
	var out []string
	for _, k := range keys {
		if open[k] {
			out = append(out, k)
		}
	}
	return out
}

// Alert is a PagerDuty alert: what a trigger pager action sends. The
// pagerduty package sends it and explains how each field is checked.
type Alert struct {
	// DedupKey identifies the alert: triggering the same key again adds to
	// the open alert instead of opening another, which makes a retried
	// trigger harmless, and a resolve names the alert by it. Required, at
	// most 255 characters.
	DedupKey string
	// Summary is the alert's title. Required; cut to 1024 characters.
	Summary string
	// Severity is the incident's severity at the page.
	Severity Severity
	// Source is the affected system; empty means "incidentbot".
	Source string
	// Component is the affected part of Source; optional.
	Component string
	// Links are shown on the alert; links without Href are left out.
	Links []AlertLink
	// Details are shown on the alert as custom details; optional.
	Details map[string]string
}

// AlertLink is a link shown on an alert, such as the incident channel.
type AlertLink struct {
	Href string
	Text string
}

// OnCall is a person on call now in PagerDuty.
type OnCall struct {
	UserID string // PagerDuty user ID
	Name   string
	Email  string // empty only when PagerDuty no longer knows the user
	Level  uint   // escalation level, 1 notified first
}
