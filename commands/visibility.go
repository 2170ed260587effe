package commands

import (
	"context"
	"sync"
	"time"

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

// membersWait bounds the membership look-ups of one listing, which come
// before the acknowledgement: what Slack has not answered by then is not
// shown (its declarer still sees it).
const membersWait = 1500 * time.Millisecond

// visibleOnly returns the incidents of incs that user may see, in order.
// The private ones whose membership is not cached are looked up at once,
// a few at a time, so that after a restart a listing costs one round of
// Slack calls, not one per private incident.
func (s *Service) visibleOnly(ctx context.Context, incs []*incidentbot.Incident, user string) []*incidentbot.Incident {
	ctx, cancel := context.WithTimeout(ctx, membersWait)
	defer cancel()
	ok := make([]bool, len(incs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, inc := range incs {
		if !inc.Private {
			ok[i] = true
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ok[i] = s.Visible(ctx, inc, user)
		})
	}
	wg.Wait()
	out := incs[:0:0]
	for i, inc := range incs {
		if ok[i] {
			out = append(out, inc)
		}
	}
	return out
}
