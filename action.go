package incidentbot

import (
	"fmt"
	"time"
)

// DateLayout is the layout of due dates: a civil date, no time or zone.
const DateLayout = "2006-01-02"

// ActionStatus is open or done.
type ActionStatus string

// Action item statuses.
const (
	ActionOpen ActionStatus = "open"
	ActionDone ActionStatus = "done"
)

// ActionItem is follow-up work, A<n>, with an owner and a due date. Items
// without either are allowed but flagged in the post-mortem.
type ActionItem struct {
	ID        int          `json:"id"`
	Text      string       `json:"text"`
	Owner     string       `json:"owner,omitempty"` // Slack user ID
	Due       string       `json:"due,omitempty"`   // DateLayout, in the configured time zone
	Status    ActionStatus `json:"status"`
	CreatedBy string       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
	DoneBy    string       `json:"done_by,omitempty"`
	DoneAt    time.Time    `json:"done_at,omitzero"`
	// Issue is the item's issue in the team's tracker; nil until it is
	// created there (or when no tracker is configured).
	Issue *TrackerIssue `json:"issue,omitempty"`
}

// Key returns "A<n>".
func (a *ActionItem) Key() string { return fmt.Sprintf("A%d", a.ID) }

// ParseActionKey parses "A3" (or "a3") as 3.
func ParseActionKey(s string) (int, bool) { return parseRef("A", s) }

// Overdue reports whether the item is open and its due date has ended in loc
// at now. Items without a due date are never overdue.
func (a *ActionItem) Overdue(now time.Time, loc *time.Location) bool {
	if a.Status != ActionOpen || a.Due == "" {
		return false
	}
	d, err := time.ParseInLocation(DateLayout, a.Due, loc)
	if err != nil {
		return false
	}
	return !now.Before(d.AddDate(0, 0, 1))
}
