package slackemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// CommandResult is what happened to a slash command.
type CommandResult struct {
	EnvelopeID   string
	TriggerID    string
	ResponseURL  string
	Ack          json.RawMessage // the acknowledgement's payload; nil if none
	AckText      string          // its "text"
	ResponseType string          // its "response_type" ("ephemeral" when it has text or blocks and none is given)
	Latency      time.Duration   // from writing the envelope to the acknowledgement
	// TimedOut is set when the acknowledgement came later than Slack's 3 s:
	// Slack then discards its payload and shows the user an
	// "operation_timeout" error instead.
	TimedOut bool
}

// responseURL is a slash command's or an interaction's response_url: up to
// 5 posts within 30 minutes, as Slack allows.
type responseURL struct {
	key, channel, user string
	created            time.Time
	uses               int
	origin             *message   // the message whose button was clicked, if any
	last               *ephemeral // the latest ephemeral it showed
	lastMsg            *message   // the latest in_channel message it posted
}

// SlashCommand sends the configured slash command (default "/incident") typed
// by user in channel with text as a slash_commands envelope, waits for the
// acknowledgement and applies its payload as Slack does: text or blocks are
// shown to the user only (response_type "ephemeral", the default) or posted
// in the channel by the app ("in_channel"). The command carries a fresh
// trigger_id and a response_url on this server.
//
// It fails if the user or channel does not exist, and when ctx ends or the
// server closes before the acknowledgement; the result then still names the
// envelope, trigger and response URL. The command is queued until a socket
// is connected. Slack does not redeliver slash commands, and neither does the
// emulator.
func (s *Server) SlashCommand(ctx context.Context, user, channel, text string) (CommandResult, error) {
	s.mu.Lock()
	u, ok := s.users[user]
	if !ok {
		s.mu.Unlock()
		return CommandResult{}, fmt.Errorf("slackemu: slash command: unknown user %q", user)
	}
	c, ok := s.channels[channel]
	if !ok {
		s.mu.Unlock()
		return CommandResult{}, fmt.Errorf("slackemu: slash command: unknown channel %q", channel)
	}
	name := c.name
	if c.im {
		name = "directmessage"
	}
	res := CommandResult{TriggerID: s.newTriggerLocked(user, c.id)}
	ru := s.newResponseURLLocked("commands", c.id, user, nil)
	res.ResponseURL = s.base + ru.key
	payload, _ := json.Marshal(obj{
		"token":                 verificationToken,
		"team_id":               s.cfg.TeamID,
		"team_domain":           s.cfg.TeamDomain,
		"channel_id":            c.id,
		"channel_name":          name,
		"user_id":               u.ID,
		"user_name":             u.Name,
		"command":               s.cfg.Command,
		"text":                  text,
		"api_app_id":            s.cfg.AppID,
		"is_enterprise_install": "false", // a string, as Slack sends it in Socket Mode
		"response_url":          res.ResponseURL,
		"trigger_id":            res.TriggerID,
	})
	d := &delivery{kind: "slash_commands", payload: payload, accepts: true, channel: c.id}
	d.onAck = func(e *envelope, ack json.RawMessage) { s.commandAckedLocked(c, user, e, ack) }
	e := s.newDeliveryLocked(d)
	res.EnvelopeID = e.id
	s.mu.Unlock()

	if err := s.waitAck(ctx, d); err != nil {
		return res, fmt.Errorf("slackemu: slash command %s (envelope %s): %w", s.cfg.Command, e.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ae := d.ackedEnv
	res.Ack = slices.Clone(d.ack)
	res.Latency = ae.acked.Sub(ae.sent)
	res.TimedOut = res.Latency > slackAckDeadline
	if len(d.ack) > 0 {
		var p struct {
			Text         string          `json:"text"`
			Blocks       json.RawMessage `json:"blocks"`
			ResponseType string          `json:"response_type"`
		}
		_ = json.Unmarshal(d.ack, &p)
		res.AckText, res.ResponseType = p.Text, p.ResponseType
		if res.ResponseType == "" && (p.Text != "" || len(p.Blocks) > 0) {
			res.ResponseType = "ephemeral"
		}
	}
	return res, nil
}

// commandAckedLocked shows a slash command acknowledgement's payload.
func (s *Server) commandAckedLocked(c *channel, user string, e *envelope, ack json.RawMessage) {
	if e.acked.Sub(e.sent) > slackAckDeadline {
		s.addEphemeralLocked(&ephemeral{
			channel: c.id, user: user, ts: s.nextTSLocked(), source: "ack",
			text: fmt.Sprintf("%s failed with the error \"operation_timeout\"", s.cfg.Command),
		})
		return
	}
	if len(ack) == 0 {
		return
	}
	var p struct {
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
		ResponseType string          `json:"response_type"`
	}
	if json.Unmarshal(ack, &p) != nil || (p.Text == "" && blocksEmpty(p.Blocks)) {
		return
	}
	p.Blocks = normBlocks(p.Blocks)
	if p.ResponseType == "in_channel" {
		m := &message{ts: s.nextTSLocked(), user: s.botUser, botID: s.botID, text: p.Text, blocks: p.Blocks}
		s.addMessageLocked(c, m)
		s.emitMessageLocked(c, m)
		return
	}
	s.addEphemeralLocked(&ephemeral{
		channel: c.id, user: user, text: p.Text, blocks: p.Blocks, ts: s.nextTSLocked(), source: "ack",
	})
}

// serveResponseURL handles a POST to a response_url: JSON (or a form with a
// "payload" field) with text/blocks, response_type, replace_original and
// delete_original (which, for a button click's response_url, act on the
// message the button is in). It answers "ok"; an unknown or used-up URL
// gets 404 "expired_url", a bad body 400.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := &apiRequest{method: "response_url", params: url.Values{}, body: body}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		if v, err := url.ParseQuery(string(body)); err == nil {
			body = []byte(v.Get("payload"))
		}
	}
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, code)
		s.record(req, status, code)
	}
	if f, ok := s.takeFault("response_url"); ok {
		fail(f.status, strings.ToLower(strings.ReplaceAll(http.StatusText(f.status), " ", "_")))
		return
	}
	var p responsePost
	if err := json.Unmarshal(body, &p); err != nil {
		fail(http.StatusBadRequest, "invalid_payload")
		return
	}
	p.Blocks = normBlocks(p.Blocks)
	req.params.Set("response_type", p.ResponseType)
	req.params.Set("text", p.Text)
	if status, code := s.applyResponse(r.URL.Path, p); code != "" {
		fail(status, code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
	s.record(req, http.StatusOK, "")
}

// responsePost is the body of a response_url post.
type responsePost struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// applyResponse shows a response_url post and returns the HTTP status and
// error text of a failure, or "".
func (s *Server) applyResponse(key string, p responsePost) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ru, ok := s.responseURLs[key]
	if !ok || ru.uses >= 5 || time.Since(ru.created) > 30*time.Minute {
		return http.StatusNotFound, "expired_url"
	}
	if !p.DeleteOriginal && p.Text == "" && blocksEmpty(p.Blocks) {
		return http.StatusBadRequest, "no_text"
	}
	ru.uses++
	c := s.channels[ru.channel]
	switch {
	case p.DeleteOriginal && ru.origin != nil:
		if !ru.origin.deleted {
			s.deleteLocked(c, ru.origin)
		}
	case p.ReplaceOriginal && ru.origin != nil && !ru.origin.deleted:
		prev := s.messageJSONLocked(c, ru.origin)
		ru.origin.text, ru.origin.blocks = p.Text, p.Blocks
		ru.origin.edited = &edit{user: s.botUser, ts: s.nextTSLocked()}
		s.emitChangedLocked(c, ru.origin, prev)
	case p.DeleteOriginal:
		if ru.last != nil {
			ru.last.deleted = true
		} else if ru.lastMsg != nil && !ru.lastMsg.deleted {
			s.deleteLocked(c, ru.lastMsg)
		}
	case p.ResponseType == "in_channel":
		if p.ReplaceOriginal && ru.lastMsg != nil && !ru.lastMsg.deleted {
			prev := s.messageJSONLocked(c, ru.lastMsg)
			ru.lastMsg.text, ru.lastMsg.blocks = p.Text, p.Blocks
			ru.lastMsg.edited = &edit{user: s.botUser, ts: s.nextTSLocked()}
			s.emitChangedLocked(c, ru.lastMsg, prev)
			break
		}
		m := &message{ts: s.nextTSLocked(), user: s.botUser, botID: s.botID, text: p.Text, blocks: p.Blocks}
		if p.ThreadTS != "" {
			m.threadTS = s.threadRootLocked(c, p.ThreadTS)
		}
		s.addMessageLocked(c, m)
		s.emitMessageLocked(c, m)
		ru.lastMsg = m
	default:
		if p.ReplaceOriginal && ru.last != nil && !ru.last.deleted {
			ru.last.text, ru.last.blocks = p.Text, p.Blocks
			s.noteEphemeralLocked(ru.last)
			break
		}
		e := &ephemeral{channel: ru.channel, user: ru.user, text: p.Text, blocks: p.Blocks, ts: s.nextTSLocked(), source: ru.key}
		s.addEphemeralLocked(e)
		ru.last = e
	}
	return http.StatusOK, ""
}
