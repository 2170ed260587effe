package incidentbot

import "strings"

// Role is a responder role in an incident.
type Role string

// Roles.
const (
	RoleCommander Role = "commander"
	RoleComms     Role = "comms"
	RoleScribe    Role = "scribe"
	RoleOps       Role = "ops"
)

// AllRoles returns the roles in the order they are shown.
func AllRoles() []Role { return []Role{RoleCommander, RoleComms, RoleScribe, RoleOps} }

// ParseRole accepts a role name or alias (ic, lead; communications) in any
// case. It fails with EInvalid.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "commander", "ic", "lead", "incident_commander":
		return RoleCommander, nil
	case "comms", "communications":
		return RoleComms, nil
	case "scribe":
		return RoleScribe, nil
	case "ops":
		return RoleOps, nil
	}
	return "", Errorf(EInvalid, "%q is not a role: use commander (or ic, lead), comms (or communications), scribe or ops", s)
}

// Title is the role's name for people: "Incident commander", ...
func (r Role) Title() string {
	switch r {
	case RoleCommander:
		return "Incident commander"
	case RoleComms:
		return "Communications lead"
	case RoleScribe:
		return "Scribe"
	case RoleOps:
		return "Ops lead"
	}
	return string(r)
}
