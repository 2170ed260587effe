package incidentbot

import "strings"

// Status is where an incident stands.
type Status string

// Statuses. Investigating, Identified and Monitoring are set by status
// updates; Resolved only by resolving.
const (
	StatusInvestigating Status = "investigating"
	StatusIdentified    Status = "identified"
	StatusMonitoring    Status = "monitoring"
	StatusResolved      Status = "resolved"
)

// ParseUpdateStatus accepts the statuses a status update may set
// (investigating, identified, monitoring), in any case. The second result is
// false when s is not one of them.
func ParseUpdateStatus(s string) (Status, bool) {
	switch st := Status(strings.ToLower(s)); st {
	case StatusInvestigating, StatusIdentified, StatusMonitoring:
		return st, true
	}
	return "", false
}
