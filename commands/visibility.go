package commands

import (
	"context"

	"github.com/incidentbot/incidentbot"
)

// Members says who is in a channel, as Slack knows it. The edge keeps it
// in memory and current from member_joined_channel and member_left_channel
// events, and asks Slack (conversations.members) once on a miss.
type Members interface {
	// IsMember reports whether user is a member of channel. It fails when
	// Slack cannot say (the bot was removed from the channel, Slack is
	// unavailable); the caller then treats the user as no member.
	IsMember(ctx context.Context, channelID, userID string) (bool, error)
}

// Visible reports whether user may see inc in lists (/incident list,
// /incident actions typed outside an incident channel, App Home) and act
// on it by naming it from elsewhere: every public incident; a private one
// only when user is a member of its channel. A private incident without a
// channel yet (being created, or refused) is visible to its declarer only,
// and so is one whose membership Slack cannot tell now: a private incident
// is never shown by mistake.
func (s *Service) Visible(ctx context.Context, inc *incidentbot.Incident, user string) bool {
	if !inc.Private {
		return true
	}
	if user == "" {
		return false
	}
	if inc.ChannelID == "" || s.deps.Members == nil {
		return user == inc.Declarer
	}
	ok, err := s.deps.Members.IsMember(ctx, inc.ChannelID, user)
	if err != nil {
		return user == inc.Declarer
	}
	return ok
}

// visibleOnly returns the incidents of incs that user may see, in order.
func (s *Service) visibleOnly(ctx context.Context, incs []*incidentbot.Incident, user string) []*incidentbot.Incident {
	out := incs[:0:0]
	for _, inc := range incs {
		if s.Visible(ctx, inc, user) {
			out = append(out, inc)
		}
	}
	return out
}
