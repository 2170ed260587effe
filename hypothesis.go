package incidentbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outcome is what became of a hypothesis.
type Outcome string

// Outcomes. Rejected hypotheses stay in the record: what responders wrongly
// believed is part of what happened.
const (
	OutcomeOpen      Outcome = "open"
	OutcomeConfirmed Outcome = "confirmed"
	OutcomeRejected  Outcome = "rejected"
)

// Hypothesis is a responder's theory of what is going on, H<n>.
type Hypothesis struct {
	ID        int       `json:"id"`
	Text      string    `json:"text"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	Outcome   Outcome   `json:"outcome"`
	Note      string    `json:"note,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

// Key returns "H<n>".
func (h *Hypothesis) Key() string { return fmt.Sprintf("H%d", h.ID) }

// parseRef parses "<prefix><n>" (case-insensitive) as n > 0.
func parseRef(prefix, s string) (int, bool) {
	t := strings.TrimSpace(s)
	if len(t) < 2 || !strings.EqualFold(t[:1], prefix) {
		return 0, false
	}
	n, err := strconv.Atoi(t[1:])
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// ParseHypothesisKey parses "H3" (or "h3") as 3.
func ParseHypothesisKey(s string) (int, bool) { return parseRef("H", s) }
