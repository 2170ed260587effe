package bot

import (
	"context"
	"fmt"
	"sync"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot/commands"
)

// memberCache knows who is in the channels the bot was asked about (the
// channels of private incidents), so that showing a private incident to a
// user costs no Slack call: a channel's members are read once from Slack
// (conversations.members, every page) on the first question, and kept
// current from then on by member_joined_channel and member_left_channel
// events and by the bot's own invitations. Concurrent first questions
// about one channel share one read. A failed read is not cached: the next
// question asks again.
type memberCache struct {
	// fetch reads a channel's members from Slack.
	fetch func(ctx context.Context, channelID string) ([]string, error)

	mu    sync.Mutex
	chans map[string]*memberSet
}

// memberSet is one channel's members; ready is closed once set (or err)
// is known. Changes that arrive while it is being read are kept in
// pending and applied over what the read returns.
type memberSet struct {
	ready   chan struct{}
	set     map[string]bool
	err     error
	pending []memberChange
}

type memberChange struct {
	user   string
	joined bool
}

var _ commands.Members = (*memberCache)(nil)

func newMemberCache(fetch func(ctx context.Context, channelID string) ([]string, error)) *memberCache {
	return &memberCache{fetch: fetch, chans: map[string]*memberSet{}}
}

// IsMember reports whether user is in channel, asking Slack on a miss. It
// fails when Slack cannot say (the bot is not in a private channel:
// channel_not_found; Slack unavailable) or ctx ends first.
func (m *memberCache) IsMember(ctx context.Context, channelID, userID string) (bool, error) {
	m.mu.Lock()
	ms, ok := m.chans[channelID]
	if !ok {
		ms = &memberSet{ready: make(chan struct{})}
		m.chans[channelID] = ms
		m.mu.Unlock()
		m.load(ctx, channelID, ms)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-ms.ready:
	case <-ctx.Done():
		return false, fmt.Errorf("members of %s: %w", channelID, ctx.Err())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms.err != nil {
		return false, ms.err
	}
	return ms.set[userID], nil
}

// load reads channelID's members into ms and makes it ready; on failure it
// forgets ms, so that the next question asks again.
func (m *memberCache) load(ctx context.Context, channelID string, ms *memberSet) {
	users, err := m.fetch(ctx, channelID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		ms.err = fmt.Errorf("members of %s: %w", channelID, err)
		if m.chans[channelID] == ms {
			delete(m.chans, channelID)
		}
	} else {
		ms.set = make(map[string]bool, len(users))
		for _, u := range users {
			ms.set[u] = true
		}
		for _, c := range ms.pending {
			ms.set[c.user] = c.joined
		}
	}
	ms.pending = nil
	close(ms.ready)
}

// changed records that user joined or left channelID; a channel not cached
// is left to be read when first asked about.
func (m *memberCache) changed(channelID, userID string, joined bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.chans[channelID]
	if !ok {
		return
	}
	select {
	case <-ms.ready:
		if ms.set != nil {
			ms.set[userID] = joined
		}
	default:
		ms.pending = append(ms.pending, memberChange{userID, joined})
	}
}

// created records a channel the bot just created: its only member is the
// bot, so it needs no read.
func (m *memberCache) created(channelID, botUserID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := &memberSet{ready: make(chan struct{}), set: map[string]bool{}}
	if botUserID != "" {
		ms.set[botUserID] = true
	}
	close(ms.ready)
	m.chans[channelID] = ms
}

// forget drops what is known of channelID (the bot left it, or it is gone):
// the next question asks Slack.
func (m *memberCache) forget(channelID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.chans, channelID)
}

// channelMembers reads all of channelID's members with conversations.members.
func (s *slackAPI) channelMembers(ctx context.Context, channelID string) ([]string, error) {
	var all []string
	cursor := ""
	for {
		users, next, err := s.client(ctx).GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: channelID, Cursor: cursor, Limit: 1000})
		if err != nil {
			return nil, s.chanErr("conversations.members", channelID, err)
		}
		all = append(all, users...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}
