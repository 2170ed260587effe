package slackemu

import (
	"encoding/json"
	"fmt"
	"strings"
)

// These methods act as human users in the Slack client: each stores what the
// user did and emits the event Slack would emit (delivered only if the bot is a
// member of the channel). They panic when the user, channel or message does
// not exist, which is a bug in the calling test or script.

// PostMessage posts text as user in channel and returns the message ts. A
// user who is not a member of a public channel joins it first, as the Slack
// client makes them do; posting in a private channel or direct message the
// user is not in panics.
func (s *Server) PostMessage(user, channel, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.authorChannelLocked("PostMessage", user, channel)
	m := s.userMessageLocked(user, text)
	s.addMessageLocked(c, m)
	s.emitMessageLocked(c, m)
	return m.ts
}

// PostReply posts text as user in the thread of threadTS (a reply's ts means
// its thread) and returns the reply's ts.
func (s *Server) PostReply(user, channel, threadTS, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.authorChannelLocked("PostReply", user, channel)
	s.mustMessageLocked("PostReply", c, threadTS)
	m := s.userMessageLocked(user, text)
	m.threadTS = s.threadRootLocked(c, threadTS)
	s.addMessageLocked(c, m)
	s.emitMessageLocked(c, m)
	return m.ts
}

// EditMessage replaces the text of user's message ts and emits a message
// event of subtype message_changed with message and previous_message. It
// panics if the message is not user's (Slack lets only authors edit).
func (s *Server) EditMessage(user, channel, ts, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("EditMessage", user)
	c := s.mustChannelLocked("EditMessage", channel)
	m := s.mustMessageLocked("EditMessage", c, ts)
	if m.user != user || m.botID != "" {
		panic(fmt.Sprintf("slackemu: EditMessage: message %s is not %s's", ts, user))
	}
	prev := s.messageJSONLocked(c, m)
	m.text = text
	m.blocks = s.richTextBlocks(text)
	m.edited = &edit{user: user, ts: s.nextTSLocked()}
	s.emitChangedLocked(c, m, prev)
}

// DeleteMessage deletes message ts (as its author or an admin would) and
// emits a message event of subtype message_deleted with previous_message and
// deleted_ts. A pinned message is unpinned.
func (s *Server) DeleteMessage(channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannelLocked("DeleteMessage", channel)
	s.deleteLocked(c, s.mustMessageLocked("DeleteMessage", c, ts))
}

// AddReaction adds :reaction: (colons optional) from user to message ts and
// emits reaction_added. Adding a reaction the user already added does nothing,
// as in the Slack client.
func (s *Server) AddReaction(user, channel, ts, reaction string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("AddReaction", user)
	c := s.mustChannelLocked("AddReaction", channel)
	m := s.mustMessageLocked("AddReaction", c, ts)
	s.reactLocked(c, m, user, strings.Trim(reaction, ":"))
}

// PinMessage pins message ts as user and emits pin_added. Pinning a pinned
// message does nothing.
func (s *Server) PinMessage(user, channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("PinMessage", user)
	c := s.mustChannelLocked("PinMessage", channel)
	m := s.mustMessageLocked("PinMessage", c, ts)
	if !m.pinned {
		s.pinLocked(c, m, user)
	}
}

// authorChannelLocked checks that user may post in channel, joining public
// channels as needed.
func (s *Server) authorChannelLocked(op, user, channel string) *channel {
	s.mustUserLocked(op, user)
	c := s.mustChannelLocked(op, channel)
	if !c.isMember(user) {
		if c.im || c.private {
			panic(fmt.Sprintf("slackemu: %s: %s is not a member of %s", op, user, channel))
		}
		s.joinLocked(c, user, "")
	}
	return c
}

func (s *Server) mustMessageLocked(op string, c *channel, ts string) *message {
	m := c.find(ts)
	if m == nil || m.deleted {
		panic(fmt.Sprintf("slackemu: %s: no message %s in %s", op, ts, c.id))
	}
	return m
}

// userMessageLocked makes a message as the Slack client sends it: text,
// rich_text blocks and a client_msg_id.
func (s *Server) userMessageLocked(user, text string) *message {
	return &message{
		ts:          s.nextTSLocked(),
		user:        user,
		text:        text,
		blocks:      s.richTextBlocks(text),
		clientMsgID: newUUID(),
	}
}

// mentionPattern matches <@U123> and <@U123|name> user mentions.
const mentionPattern = `<@([UW][A-Z0-9]+)(?:\|[^>]*)?>`

// richText is the rich_text block the Slack client sends with a message.
type richText struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id"`
	Elements []richSection `json:"elements"`
}

type richSection struct {
	Type     string        `json:"type"`
	Elements []richElement `json:"elements"`
}

type richElement struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// richTextBlocks builds the rich_text block the Slack client sends with a
// message: text elements, with user elements for mentions.
func (s *Server) richTextBlocks(text string) json.RawMessage {
	els := []richElement{}
	rest := text
	for _, loc := range s.mentionRE.FindAllStringSubmatchIndex(text, -1) {
		start := loc[0] - (len(text) - len(rest))
		if start > 0 {
			els = append(els, richElement{Type: "text", Text: rest[:start]})
		}
		els = append(els, richElement{Type: "user", UserID: text[loc[2]:loc[3]]})
		rest = text[loc[1]:]
	}
	if rest != "" {
		els = append(els, richElement{Type: "text", Text: rest})
	}
	b, _ := json.Marshal([]richText{{
		Type:     "rich_text",
		BlockID:  randHex(3),
		Elements: []richSection{{Type: "rich_text_section", Elements: els}},
	}})
	return b
}
