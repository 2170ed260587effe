package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// roleDuties is what each role does, and the commands its holder uses, as
// told by DM to whoever is given it.
var roleDuties = map[incidentbot.Role]struct{ does, commands string }{
	incidentbot.RoleCommander: {
		"Coordinate the response and make the decisions; keep status updates going (you are reminded when one is due), hand out roles, and resolve when it is over.",
		"`/incident status identified|monitoring <what we know>` · `/incident role ops @someone` · `/incident severity sev1` · `/incident resolve <summary>` — or the buttons on the pinned header",
	},
	incidentbot.RoleComms: {
		"Keep stakeholders informed: clear, regular status updates for everyone outside the channel (they are announced), and answers to the people asking.",
		"`/incident status <investigating|identified|monitoring> <text>` — or *Post update* on the pinned header",
	},
	incidentbot.RoleScribe: {
		"Keep the timeline: mark key messages with :pushpin:, record hypotheses, decisions and action items as they come, so the post-mortem writes itself.",
		"`/incident hypothesis <idea>` · `/incident action <text> @owner due:+7d` · `/incident started HH:MM` · `/incident postmortem`",
	},
	incidentbot.RoleOps: {
		"Hands on the systems: investigate and mitigate, and say in the channel what you change before you change it.",
		"`/incident hypothesis <idea>` · `/incident hypothesis confirm|reject H<n> [note]` · `/incident action <text> @owner`",
	},
}

// roleText is the DM that tells user they hold role in inc.
func roleText(inc *incidentbot.Incident, role incidentbot.Role) string {
	d := roleDuties[role]
	var b strings.Builder
	fmt.Fprintf(&b, ":bust_in_silhouette: You are now the *%s* of *%s* (%s): %s\n", role.Title(), inc.Key(), channelLink(inc), slacktext.Escape(inc.Title))
	if d.does != "" {
		fmt.Fprintf(&b, "*What the role does:* %s\n", d.does)
	}
	if d.commands != "" {
		b.WriteString("*Commands you will use* (in the incident channel): " + strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(d.commands) + "\n")
	}
	b.WriteString("`/incident help` lists them all.")
	return b.String()
}

// roleDM returns a Followup that tells user by DM that they hold role in
// inc and what it does.
func (s *Service) roleDM(inc *incidentbot.Incident, role incidentbot.Role, user string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := s.deps.Poster.Post(ctx, user, roleText(inc, role)); err != nil {
			return fmt.Errorf("tell <@%s> about the %s role by DM: %w", user, role, err)
		}
		return nil
	}
}
