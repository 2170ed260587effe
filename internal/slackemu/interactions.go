package slackemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// InteractionResult is what happened to an interaction a test sent as a
// user: a button click (ClickButton), a form submission (SubmitForm) or a
// message shortcut (MessageShortcut).
type InteractionResult struct {
	EnvelopeID  string
	TriggerID   string // the payload's trigger_id: it opens one view within TriggerTTL
	ResponseURL string // the payload's response_url; "" for view_submission
	Ack         json.RawMessage
	Latency     time.Duration // from writing the envelope to the acknowledgement
	// TimedOut is set when the acknowledgement came later than Slack's 3 s:
	// Slack then discards its payload and shows the user an error.
	TimedOut bool

	// For view_submission only: the acknowledgement's response_action ("" for
	// none), its errors by block_id (response_action "errors"), and the view
	// the user sees afterwards (nil once the modal is closed).
	ResponseAction string
	Errors         map[string]string
	Shown          *View
}

// fillAckLocked copies the acknowledgement of d into res.
func (s *Server) fillAckLocked(res *InteractionResult, d *delivery) {
	ae := d.ackedEnv
	res.Ack = slices.Clone(d.ack)
	res.Latency = ae.acked.Sub(ae.sent)
	res.TimedOut = res.Latency > slackAckDeadline
}

// interactionUser is the user object of interaction payloads.
func (s *Server) interactionUser(u *user) obj {
	return obj{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.cfg.TeamID}
}

// newResponseURLLocked makes a response_url under prefix ("commands" for
// slash commands, "actions" for interactions): up to 5 posts within 30
// minutes, shown in channel to user. origin is the message a button was
// clicked in, which replace_original and delete_original act on.
func (s *Server) newResponseURLLocked(prefix, channel, user string, origin *message) *responseURL {
	s.seq++
	ru := &responseURL{
		key:     fmt.Sprintf("/%s/%s/%d/%s", prefix, s.cfg.TeamID, s.seq, randHex(12)),
		channel: channel,
		user:    user,
		created: time.Now(),
		origin:  origin,
	}
	s.responseURLs[ru.key] = ru
	return ru
}

// userChannelLocked checks that user exists and can see channel (a member,
// or any user for a public channel) and returns both.
func (s *Server) userChannelLocked(user, channel string) (*user, *channel, error) {
	u, ok := s.users[user]
	if !ok {
		return nil, nil, fmt.Errorf("unknown user %q", user)
	}
	c, ok := s.channels[channel]
	if !ok || c.deleted {
		return nil, nil, fmt.Errorf("unknown channel %q", channel)
	}
	if (c.private || c.im) && !c.isMember(user) {
		return nil, nil, fmt.Errorf("%s cannot see %s: not a member", user, channel)
	}
	return u, c, nil
}

// channelRef is the channel object of interaction payloads.
func channelRef(c *channel) obj {
	name := c.name
	if c.im {
		name = "directmessage"
	}
	return obj{"id": c.id, "name": name}
}

// ClickButton clicks, as user, the button with actionID in the bot's
// message messageTS in channel, as the Slack client does: it sends a
// block_actions interactive envelope (container of type "message", the
// message, the channel, the action with its block_id, text, value and
// action_ts) with a fresh trigger_id and a response_url whose
// replace_original and delete_original act on that message, waits for the
// acknowledgement and returns it. value picks among buttons sharing the
// action_id (a button's value must equal it); "" takes the first.
//
// It fails without sending anything when the user or channel does not
// exist, the user cannot see the channel, the message does not exist, is
// deleted or is not the bot's, or it carries no such button (in an actions
// block or as a section accessory): Slack would never send that click, so
// it is a bug in the app or the test. It fails when ctx ends or the server
// closes before the acknowledgement; an acknowledgement later than 3 s is
// reported as TimedOut.
func (s *Server) ClickButton(ctx context.Context, user, channel, messageTS, actionID, value string) (InteractionResult, error) {
	s.mu.Lock()
	fail := func(err error) (InteractionResult, error) {
		s.mu.Unlock()
		return InteractionResult{}, fmt.Errorf("slackemu: click %s in %s/%s: %w", actionID, channel, messageTS, err)
	}
	u, c, err := s.userChannelLocked(user, channel)
	if err != nil {
		return fail(err)
	}
	m := c.find(messageTS)
	switch {
	case m == nil || m.deleted:
		return fail(errors.New("no such message"))
	case m.botID != s.botID:
		return fail(errors.New("not a message of the bot"))
	}
	action := findButton(m.blocks, actionID, value)
	if action == nil {
		return fail(fmt.Errorf("the message has no button with action_id %q and value %q", actionID, value))
	}
	action["action_ts"] = s.nextTSLocked()
	res := InteractionResult{TriggerID: s.newTriggerLocked(user, c.id)}
	ru := s.newResponseURLLocked("actions", c.id, user, m)
	res.ResponseURL = s.base + ru.key
	container := obj{"type": "message", "message_ts": m.ts, "channel_id": c.id, "is_ephemeral": false}
	if m.isReply() {
		container["thread_ts"] = m.threadTS
	}
	payload, _ := json.Marshal(obj{
		"type":                  "block_actions",
		"user":                  s.interactionUser(u),
		"api_app_id":            s.cfg.AppID,
		"token":                 verificationToken,
		"container":             container,
		"trigger_id":            res.TriggerID,
		"team":                  obj{"id": s.cfg.TeamID, "domain": s.cfg.TeamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               channelRef(c),
		"message":               s.messageJSONLocked(c, m),
		"state":                 obj{"values": obj{}},
		"response_url":          res.ResponseURL,
		"actions":               []obj{action},
	})
	return s.interactLocked(ctx, &res, payload, c.id, "click "+actionID)
}

// interactLocked sends an interactive envelope, unlocks, waits for its
// acknowledgement and fills res.
func (s *Server) interactLocked(ctx context.Context, res *InteractionResult, payload json.RawMessage, channel, what string) (InteractionResult, error) {
	d := &delivery{kind: "interactive", payload: payload, accepts: true, channel: channel}
	e := s.newDeliveryLocked(d)
	res.EnvelopeID = e.id
	s.mu.Unlock()
	if err := s.waitAck(ctx, d); err != nil {
		return *res, fmt.Errorf("slackemu: %s (envelope %s): %w", what, e.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fillAckLocked(res, d)
	return *res, nil
}

// findButton returns the block_actions action of the button with actionID
// (and value, unless "") in a message's blocks, or nil.
func findButton(raw json.RawMessage, actionID, value string) obj {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	for i, b := range blocks {
		var els []any
		switch b["type"] {
		case "actions":
			els, _ = b["elements"].([]any)
		case "section":
			if a, ok := b["accessory"]; ok {
				els = []any{a}
			}
		}
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el == nil || el["type"] != "button" || el["action_id"] != actionID {
				continue
			}
			v, _ := el["value"].(string)
			if value != "" && v != value {
				continue
			}
			a := obj{"type": "button", "action_id": actionID, "block_id": blockIDOf(b, i), "text": el["text"], "value": v}
			if st, ok := el["style"].(string); ok {
				a["style"] = st
			}
			return a
		}
	}
	return nil
}

// MessageShortcut runs, as user, the message shortcut callbackID on message
// messageTS in channel, as choosing it in the message's menu does: it sends
// a message_action interactive envelope (callback_id, trigger_id,
// response_url, message_ts, the message and the channel), waits for the
// acknowledgement and returns it. The bot need not be in the channel, as
// in Slack. A response_url post shows in that channel, to that user.
//
// It fails without sending anything when the app does not declare the
// shortcut (Config.MessageShortcuts), the user or channel does not exist,
// the user cannot see the channel, or the message does not exist or is
// deleted; it fails when ctx ends or the server closes before the
// acknowledgement; an acknowledgement later than 3 s is reported as
// TimedOut.
func (s *Server) MessageShortcut(ctx context.Context, user, channel, messageTS, callbackID string) (InteractionResult, error) {
	s.mu.Lock()
	fail := func(err error) (InteractionResult, error) {
		s.mu.Unlock()
		return InteractionResult{}, fmt.Errorf("slackemu: message shortcut %s on %s/%s: %w", callbackID, channel, messageTS, err)
	}
	if !slices.Contains(s.cfg.MessageShortcuts, callbackID) {
		return fail(fmt.Errorf("the app declares no message shortcut %q (Config.MessageShortcuts: %v)", callbackID, s.cfg.MessageShortcuts))
	}
	u, c, err := s.userChannelLocked(user, channel)
	if err != nil {
		return fail(err)
	}
	m := c.find(messageTS)
	if m == nil || m.deleted {
		return fail(errors.New("no such message"))
	}
	res := InteractionResult{TriggerID: s.newTriggerLocked(user, c.id)}
	ru := s.newResponseURLLocked("actions", c.id, user, nil)
	res.ResponseURL = s.base + ru.key
	payload, _ := json.Marshal(obj{
		"type":                  "message_action",
		"token":                 verificationToken,
		"action_ts":             s.nextTSLocked(),
		"team":                  obj{"id": s.cfg.TeamID, "domain": s.cfg.TeamDomain},
		"user":                  s.interactionUser(u),
		"channel":               channelRef(c),
		"is_enterprise_install": false,
		"enterprise":            nil,
		"callback_id":           callbackID,
		"trigger_id":            res.TriggerID,
		"response_url":          res.ResponseURL,
		"message_ts":            m.ts,
		"message":               s.messageJSONLocked(c, m),
	})
	return s.interactLocked(ctx, &res, payload, c.id, "message shortcut "+callbackID)
}

// OpenAppHome opens the app's Home tab as user, as clicking the app in the
// sidebar does: it emits app_home_opened (tab "home", channel the user's
// direct message with the bot, and the view last published for the user,
// if any), waits for the event's acknowledgement and returns its event id.
// What the app publishes in return is read with HomeView.
//
// It fails if the user does not exist or is the bot, if the event is lost
// (SetLoseEvents), and when ctx ends or the server closes before the
// acknowledgement.
func (s *Server) OpenAppHome(ctx context.Context, user string) (string, error) {
	s.mu.Lock()
	if u, ok := s.users[user]; !ok || u.ID == s.botUser {
		s.mu.Unlock()
		return "", fmt.Errorf("slackemu: open app home: unknown user %q", user)
	}
	im := s.imLocked(user)
	ev := obj{"type": "app_home_opened", "user": user, "channel": im.id, "tab": "home"}
	if v, ok := s.homes[user]; ok {
		ev["view"] = v.spec
	}
	id := s.emitEventLocked(ev, nil)
	d := s.events[id]
	s.mu.Unlock()
	if d == nil {
		return "", errors.New("slackemu: open app home: the event was lost (SetLoseEvents)")
	}
	if err := s.waitAck(ctx, d); err != nil {
		return id, fmt.Errorf("slackemu: open app home (event %s): %w", id, err)
	}
	return id, nil
}
