package slackemu

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a channel message as tests see it.
type Message struct {
	TS       string
	ThreadTS string // the parent's ts for replies; equal to TS for a parent with replies
	User     string // author; the bot user for the bot's messages
	BotID    string // set on messages the bot posted
	Text     string
	Blocks   json.RawMessage
	Subtype  string // "", "file_share", "thread_broadcast", ...
	Edited   bool
	Deleted  bool
	Pinned   bool
	Files    []File
	// Reactions maps each reaction name to the users who added it.
	Reactions map[string][]string
	// Metadata is the message metadata the app posted it with
	// ({"event_type":…,"event_payload":{…}}); nil when none.
	Metadata json.RawMessage
}

// BlockText returns the text of the message's blocks (section, header,
// context and rich text), one line per block.
func (m Message) BlockText() string { return blockText(m.Blocks) }

type message struct {
	ts, threadTS string
	user, botID  string
	text         string
	blocks       json.RawMessage
	attachments  json.RawMessage
	metadata     json.RawMessage // {"event_type":…,"event_payload":{…}}, or nil
	subtype      string
	clientMsgID  string
	edited       *edit
	deleted      bool
	pinned       bool
	files        []string
	reactions    []*reaction
}

type edit struct{ user, ts string }

type reaction struct {
	name  string
	users []string
}

func (m *message) isReply() bool { return m.threadTS != "" && m.threadTS != m.ts }

// ephemeral is a message shown to one user only.
type ephemeral struct {
	channel, user string
	text          string
	blocks        json.RawMessage
	ts            string
	source        string // "chat.postEphemeral", "ack" or a response URL key
	deleted       bool
}

// addMessageLocked stores a new message and logs it.
func (s *Server) addMessageLocked(c *channel, m *message) {
	c.msgs = append(c.msgs, m)
	s.noteMessageLocked("message", c, m, m.user)
}

func (c *channel) find(ts string) *message {
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].ts == ts {
			return c.msgs[i]
		}
	}
	return nil
}

// replies returns the live replies of a thread parent, oldest first.
func (c *channel) replies(parent *message) []*message {
	var out []*message
	for _, m := range c.msgs {
		if m.threadTS == parent.ts && m.ts != parent.ts && !m.deleted {
			out = append(out, m)
		}
	}
	return out
}

// Messages returns a channel's messages in ts order: thread replies, the bot's
// posts and deleted messages (Deleted set) included, ephemeral messages not.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[channelID]
	if !ok {
		return nil
	}
	out := make([]Message, 0, len(c.msgs))
	for _, m := range c.msgs {
		out = append(out, s.exportMessageLocked(m))
	}
	return out
}

func (s *Server) exportMessageLocked(m *message) Message {
	out := Message{
		TS:       m.ts,
		ThreadTS: m.threadTS,
		User:     m.user,
		BotID:    m.botID,
		Text:     m.text,
		Blocks:   slices.Clone(m.blocks),
		Subtype:  m.subtype,
		Edited:   m.edited != nil,
		Deleted:  m.deleted,
		Pinned:   m.pinned,
		Metadata: slices.Clone(m.metadata),
	}
	for _, id := range m.files {
		out.Files = append(out.Files, s.files[id].export())
	}
	if len(m.reactions) > 0 {
		out.Reactions = map[string][]string{}
		for _, r := range m.reactions {
			out.Reactions[r.name] = slices.Clone(r.users)
		}
	}
	return out
}

// Ephemerals returns the texts shown only to userID in channelID, in order:
// chat.postEphemeral messages, ephemeral slash command acknowledgements and
// ephemeral response_url posts (a replaced one shows its latest text, a
// deleted one is left out). A message without text contributes its blocks'
// text.
func (s *Server) Ephemerals(channelID, userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.ephemerals {
		if e.channel == channelID && e.user == userID && !e.deleted {
			out = append(out, displayText(e.text, e.blocks))
		}
	}
	return out
}

// DMs returns the texts the bot sent to userID in their direct message, in
// order (a message without text contributes its blocks' text).
func (s *Server) DMs(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ims[userID]
	if !ok {
		return nil
	}
	var out []string
	for _, m := range s.channels[id].msgs {
		if m.botID != "" && !m.deleted {
			out = append(out, displayText(m.text, m.blocks))
		}
	}
	return out
}

func displayText(text string, blocks json.RawMessage) string {
	if text != "" {
		return text
	}
	return blockText(blocks)
}

// blockText collects the text objects of Block Kit blocks, one line per block.
func blockText(raw json.RawMessage) string {
	var blocks []any
	if len(raw) == 0 || json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var lines []string
	for _, b := range blocks {
		var parts []string
		collectText(b, &parts)
		if len(parts) > 0 {
			lines = append(lines, strings.Join(parts, " "))
		}
	}
	return strings.Join(lines, "\n")
}

func collectText(v any, parts *[]string) {
	switch x := v.(type) {
	case map[string]any:
		switch x["type"] {
		case "plain_text", "mrkdwn", "text":
			if t, ok := x["text"].(string); ok {
				*parts = append(*parts, t)
				return
			}
		case "user":
			if u, ok := x["user_id"].(string); ok {
				*parts = append(*parts, "<@"+u+">")
				return
			}
		}
		for _, k := range []string{"text", "fields", "elements", "label", "element"} {
			if c, ok := x[k]; ok {
				collectText(c, parts)
			}
		}
	case []any:
		for _, c := range x {
			collectText(c, parts)
		}
	}
}

// botProfile is the bot_profile of the bot's messages.
func (s *Server) botProfile() obj {
	return obj{
		"id":      s.botID,
		"deleted": false,
		"name":    s.cfg.BotName,
		"updated": time.Now().Unix(),
		"app_id":  s.cfg.AppID,
		"icons":   obj{"image_36": "https://a.slack-edge.com/emulator/bot_36.png"},
		"team_id": s.cfg.TeamID,
	}
}

// messageJSONLocked is Slack's message object.
func (s *Server) messageJSONLocked(c *channel, m *message) obj {
	o := obj{"type": "message", "ts": m.ts, "text": m.text, "team": s.cfg.TeamID}
	if m.subtype != "" {
		o["subtype"] = m.subtype
	}
	if m.user != "" {
		o["user"] = m.user
	}
	if m.botID != "" {
		o["bot_id"] = m.botID
		o["app_id"] = s.cfg.AppID
		o["bot_profile"] = s.botProfile()
	} else if m.clientMsgID != "" {
		o["client_msg_id"] = m.clientMsgID
	}
	if len(m.blocks) > 0 {
		o["blocks"] = m.blocks
	}
	if len(m.attachments) > 0 {
		o["attachments"] = m.attachments
	}
	if m.edited != nil {
		o["edited"] = obj{"user": m.edited.user, "ts": m.edited.ts}
	}
	if m.threadTS != "" {
		o["thread_ts"] = m.threadTS
		if m.isReply() {
			if p := c.find(m.threadTS); p != nil {
				o["parent_user_id"] = p.user
				if m.subtype == "thread_broadcast" {
					o["root"] = obj{"type": "message", "ts": p.ts, "text": p.text, "user": p.user, "thread_ts": p.ts}
				}
			}
		} else {
			replies := c.replies(m)
			var users []string
			latest := m.ts
			for _, r := range replies {
				if !slices.Contains(users, r.user) {
					users = append(users, r.user)
				}
				latest = r.ts
			}
			o["reply_count"] = len(replies)
			o["reply_users_count"] = len(users)
			o["reply_users"] = users
			o["latest_reply"] = latest
			o["is_locked"] = false
			o["subscribed"] = false
		}
	}
	if len(m.files) > 0 {
		fs := make([]obj, 0, len(m.files))
		for _, id := range m.files {
			fs = append(fs, s.fileJSON(s.files[id]))
		}
		o["files"] = fs
		o["upload"] = false
		o["display_as_bot"] = false
	}
	if len(m.reactions) > 0 {
		rs := make([]obj, 0, len(m.reactions))
		for _, r := range m.reactions {
			rs = append(rs, obj{"name": r.name, "users": r.users, "count": len(r.users)})
		}
		o["reactions"] = rs
	}
	if m.pinned {
		o["pinned_to"] = []string{c.id}
	}
	return o
}

// emitMessageLocked emits the message event of a new message.
func (s *Server) emitMessageLocked(c *channel, m *message) string {
	ev := s.messageJSONLocked(c, m)
	ev["channel"] = c.id
	ev["event_ts"] = m.ts
	ev["channel_type"] = c.channelType()
	return s.emitEventLocked(ev, c)
}

// emitChangedLocked logs an edit and emits message_changed.
func (s *Server) emitChangedLocked(c *channel, m *message, previous obj) string {
	s.noteMessageLocked("edit", c, m, m.edited.user)
	ts := s.nextTSLocked()
	cur := s.messageJSONLocked(c, m)
	if m.botID == "" {
		cur["source_team"] = s.cfg.TeamID
		cur["user_team"] = s.cfg.TeamID
	}
	return s.emitEventLocked(obj{
		"type":             "message",
		"subtype":          "message_changed",
		"message":          cur,
		"previous_message": previous,
		"channel":          c.id,
		"hidden":           true,
		"ts":               ts,
		"event_ts":         ts,
		"channel_type":     c.channelType(),
	}, c)
}

// emitDeletedLocked logs a deletion and emits message_deleted.
func (s *Server) emitDeletedLocked(c *channel, m *message, previous obj) string {
	s.noteMessageLocked("delete", c, m, m.user)
	ts := s.nextTSLocked()
	ev := obj{
		"type":             "message",
		"subtype":          "message_deleted",
		"previous_message": previous,
		"channel":          c.id,
		"hidden":           true,
		"deleted_ts":       m.ts,
		"ts":               ts,
		"event_ts":         ts,
		"channel_type":     c.channelType(),
	}
	return s.emitEventLocked(ev, c)
}

// resolvePostChannelLocked resolves the channel argument of chat.postMessage:
// a conversation id, a channel name (with or without '#'), or a user id,
// which opens the direct message with that user.
func (s *Server) resolvePostChannelLocked(arg string) (*channel, *apiError) {
	if arg == "" {
		return nil, errCode("channel_not_found")
	}
	if u, ok := s.users[arg]; ok && u.ID != s.botUser {
		return s.imLocked(arg), nil
	}
	if c, ok := s.channels[arg]; ok && !c.deleted && s.visibleLocked(c) {
		return c, nil
	}
	if c := s.channelByNameLocked(arg); c != nil && s.visibleLocked(c) {
		return c, nil
	}
	return nil, errCode("channel_not_found")
}

// content reads text, blocks and attachments and applies Slack's checks.
type content struct {
	text                string
	blocks, attachments json.RawMessage
	hasBlocks, hasAtt   bool
}

func readContent(req *apiRequest, maxBlocks int, requireSome bool) (content, *apiError) {
	var ct content
	ct.text = req.params.Get("text")
	if utf8.RuneCountInString(ct.text) > 40000 {
		return ct, errCode("msg_too_long")
	}
	if req.params.Has("blocks") {
		ct.hasBlocks = true
		raw := string(normBlocks(json.RawMessage(req.params.Get("blocks"))))
		if raw != "" {
			if msg := validateBlocks(json.RawMessage(raw), maxBlocks, "/blocks"); msg != "" {
				return ct, &apiError{code: "invalid_blocks", extra: obj{"response_metadata": obj{"messages": []string{msg}}}}
			}
			ct.blocks = json.RawMessage(raw)
		}
	}
	if req.params.Has("attachments") {
		ct.hasAtt = true
		raw := strings.TrimSpace(req.params.Get("attachments"))
		if raw != "" {
			var a []map[string]any
			if json.Unmarshal([]byte(raw), &a) != nil {
				return ct, errCode("invalid_attachments")
			}
			ct.attachments = json.RawMessage(raw)
		}
	}
	if requireSome && ct.text == "" && blocksEmpty(ct.blocks) && len(ct.attachments) == 0 {
		return ct, errCode("no_text")
	}
	return ct, nil
}

func blocksEmpty(b json.RawMessage) bool {
	b = normBlocks(b)
	return len(b) == 0 || string(b) == "[]"
}

// normBlocks returns nil for absent or null blocks.
func normBlocks(b json.RawMessage) json.RawMessage {
	b = json.RawMessage(strings.TrimSpace(string(b)))
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// validateBlocks applies the Block Kit limits Slack enforces most often and
// returns Slack's error message, or "".
func validateBlocks(raw json.RawMessage, maxBlocks int, pointer string) string {
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "[ERROR] must be a valid JSON array of blocks [json-pointer:" + pointer + "]"
	}
	if len(blocks) > maxBlocks {
		return fmt.Sprintf("[ERROR] no more than %d items allowed [json-pointer:%s]", maxBlocks, pointer)
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		at := fmt.Sprintf("%s/%d", pointer, i)
		var typ, id string
		_ = json.Unmarshal(b["type"], &typ)
		if typ == "" {
			return "[ERROR] missing required field: type [json-pointer:" + at + "]"
		}
		if raw, ok := b["block_id"]; ok {
			_ = json.Unmarshal(raw, &id)
			if len(id) > 255 {
				return "[ERROR] must be less than 256 characters [json-pointer:" + at + "/block_id]"
			}
			if ids[id] {
				return "[ERROR] duplicate block_id [json-pointer:" + at + "/block_id]"
			}
			ids[id] = true
		}
		switch typ {
		case "section":
			if msg := checkTextObject(b["text"], 3000, false, at+"/text"); msg != "" {
				return msg
			}
			var fields []json.RawMessage
			_ = json.Unmarshal(b["fields"], &fields)
			if len(fields) > 10 {
				return "[ERROR] no more than 10 items allowed [json-pointer:" + at + "/fields]"
			}
			for j, f := range fields {
				if msg := checkTextObject(f, 2000, false, fmt.Sprintf("%s/fields/%d", at, j)); msg != "" {
					return msg
				}
			}
			if len(b["text"]) == 0 && len(fields) == 0 {
				return "[ERROR] must provide either text or fields [json-pointer:" + at + "]"
			}
			if msg := checkAccessory(b["accessory"], at+"/accessory"); msg != "" {
				return msg
			}
		case "actions":
			if msg := checkActionsBlock(b["elements"], at); msg != "" {
				return msg
			}
		case "header":
			if len(b["text"]) == 0 {
				return "[ERROR] missing required field: text [json-pointer:" + at + "]"
			}
			if msg := checkTextObject(b["text"], 150, true, at+"/text"); msg != "" {
				return msg
			}
		case "context":
			var els []json.RawMessage
			_ = json.Unmarshal(b["elements"], &els)
			if len(els) == 0 || len(els) > 10 {
				return "[ERROR] must have between 1 and 10 elements [json-pointer:" + at + "/elements]"
			}
		case "input":
			if len(b["label"]) == 0 {
				return "[ERROR] missing required field: label [json-pointer:" + at + "]"
			}
			if msg := checkTextObject(b["label"], 2000, true, at+"/label"); msg != "" {
				return msg
			}
			if len(b["element"]) == 0 {
				return "[ERROR] missing required field: element [json-pointer:" + at + "]"
			}
			var el map[string]json.RawMessage
			if json.Unmarshal(b["element"], &el) != nil {
				return "[ERROR] must be an element [json-pointer:" + at + "/element]"
			}
			if msg := checkElement(el, inputElements, at+"/element"); msg != "" {
				return msg
			}
			if msg := checkTextObject(b["hint"], 2000, true, at+"/hint"); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// checkTextObject checks a composition text object, when present.
func checkTextObject(raw json.RawMessage, max int, plainOnly bool, at string) string {
	if len(raw) == 0 {
		return ""
	}
	var t struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &t) != nil {
		return "[ERROR] must be a text object [json-pointer:" + at + "]"
	}
	switch {
	case t.Type != "plain_text" && (plainOnly || t.Type != "mrkdwn"):
		return "[ERROR] failed to match all allowed schemas [json-pointer:" + at + "/type]"
	case t.Text == "":
		return "[ERROR] must be more than 0 characters [json-pointer:" + at + "/text]"
	case utf8.RuneCountInString(t.Text) > max:
		return fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:%s/text]", max+1, at)
	}
	return ""
}

// maxMetadata is the largest metadata argument the emulator takes. Slack
// documents no number; it refuses large metadata with metadata_too_large.
const maxMetadata = 8 << 10

// readMetadata reads the metadata argument of chat.postMessage: a JSON
// object with an event_type string and an event_payload object, sent as a
// form field holding the JSON text (slack-go's MsgOptionMetadata) or as a
// JSON body's object. It returns the metadata as stored (nil when none) or
// Slack's refusal: invalid_metadata_format for text that is not a JSON
// object, invalid_metadata_schema for an object without a non-empty
// event_type or with an event_payload that is not an object,
// metadata_too_large past maxMetadata.
func readMetadata(req *apiRequest) (json.RawMessage, *apiError) {
	raw := strings.TrimSpace(req.params.Get("metadata"))
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxMetadata {
		return nil, errCode("metadata_too_large")
	}
	var md struct {
		EventType    *string         `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &md); err != nil {
		return nil, errCode("invalid_metadata_format")
	}
	var payload map[string]any
	if md.EventType == nil || *md.EventType == "" || json.Unmarshal(md.EventPayload, &payload) != nil || payload == nil {
		return nil, errCode("invalid_metadata_schema")
	}
	out, _ := json.Marshal(obj{"event_type": *md.EventType, "event_payload": payload})
	return out, nil
}

// apiChatPostMessage answers chat.postMessage. The bot must be a member of
// the channel (the app is assumed not to have chat:write.public).
func (s *Server) apiChatPostMessage(req *apiRequest) (obj, *apiError) {
	c, aerr := s.resolvePostChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if c.archived {
		return nil, errCode("is_archived")
	}
	if !c.isMember(s.botUser) {
		return nil, errCode("not_in_channel")
	}
	ct, aerr := readContent(req, 50, true)
	if aerr != nil {
		return nil, aerr
	}
	md, aerr := readMetadata(req)
	if aerr != nil {
		return nil, aerr
	}
	m := &message{
		ts:          s.nextTSLocked(),
		user:        s.botUser,
		botID:       s.botID,
		text:        ct.text,
		blocks:      ct.blocks,
		attachments: ct.attachments,
		metadata:    md,
	}
	if tts := req.params.Get("thread_ts"); tts != "" {
		m.threadTS = s.threadRootLocked(c, tts)
		if boolParam(req.params, "reply_broadcast") {
			m.subtype = "thread_broadcast"
		}
	}
	s.addMessageLocked(c, m)
	s.emitMessageLocked(c, m)
	return obj{"channel": c.id, "ts": m.ts, "message": s.messageJSONLocked(c, m)}, nil
}

// threadRootLocked returns the thread a reply to ts belongs to, marking the
// parent as a thread parent. A ts that names no message is kept as given:
// Slack accepts it and the reply is visible in no thread.
func (s *Server) threadRootLocked(c *channel, ts string) string {
	p := c.find(ts)
	if p == nil {
		return ts
	}
	if p.isReply() {
		p = c.find(p.threadTS)
		if p == nil {
			return ts
		}
	}
	p.threadTS = p.ts
	return p.ts
}

// apiChatPostEphemeral answers chat.postEphemeral.
func (s *Server) apiChatPostEphemeral(req *apiRequest) (obj, *apiError) {
	c, aerr := s.resolvePostChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	uid := req.params.Get("user")
	if _, ok := s.users[uid]; !ok {
		return nil, errCode("user_not_found")
	}
	if c.archived {
		return nil, errCode("is_archived")
	}
	if !c.isMember(s.botUser) {
		return nil, errCode("not_in_channel")
	}
	if !c.isMember(uid) {
		return nil, errCode("user_not_in_channel")
	}
	ct, aerr := readContent(req, 50, true)
	if aerr != nil {
		return nil, aerr
	}
	ts := s.nextTSLocked()
	s.addEphemeralLocked(&ephemeral{
		channel: c.id, user: uid, text: ct.text, blocks: ct.blocks, ts: ts, source: "chat.postEphemeral",
	})
	return obj{"message_ts": ts}, nil
}

// apiChatUpdate answers chat.update. Blocks and attachments not given are
// kept, as Slack does. In an archived channel it answers is_inactive, the
// code Slack documents for chat.update ("cannot be edited within a frozen,
// archived or deleted channel").
func (s *Server) apiChatUpdate(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if c.archived {
		return nil, errCode("is_inactive")
	}
	m := c.find(req.params.Get("ts"))
	if m == nil || m.deleted {
		return nil, errCode("message_not_found")
	}
	if m.botID != s.botID {
		return nil, errCode("cant_update_message")
	}
	ct, aerr := readContent(req, 50, false)
	if aerr != nil {
		return nil, aerr
	}
	if ct.text == "" && blocksEmpty(ct.blocks) && len(ct.attachments) == 0 &&
		(ct.hasBlocks || blocksEmpty(m.blocks)) && (ct.hasAtt || len(m.attachments) == 0) {
		return nil, errCode("no_text")
	}
	prev := s.messageJSONLocked(c, m)
	m.text = ct.text
	if ct.hasBlocks {
		m.blocks = ct.blocks
	}
	if ct.hasAtt {
		m.attachments = ct.attachments
	}
	m.edited = &edit{user: s.botUser, ts: s.nextTSLocked()}
	s.emitChangedLocked(c, m, prev)
	return obj{"channel": c.id, "ts": m.ts, "text": m.text, "message": s.messageJSONLocked(c, m)}, nil
}

// apiChatDelete answers chat.delete.
func (s *Server) apiChatDelete(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	m := c.find(req.params.Get("ts"))
	if m == nil || m.deleted {
		return nil, errCode("message_not_found")
	}
	if m.botID != s.botID {
		return nil, errCode("cant_delete_message")
	}
	s.deleteLocked(c, m)
	return obj{"channel": c.id, "ts": m.ts}, nil
}

// deleteLocked deletes a message and emits message_deleted.
func (s *Server) deleteLocked(c *channel, m *message) {
	prev := s.messageJSONLocked(c, m)
	m.deleted = true
	if m.pinned {
		m.pinned = false
		c.pins = slices.DeleteFunc(c.pins, func(ts string) bool { return ts == m.ts })
	}
	s.emitDeletedLocked(c, m, prev)
}

// permalink is the message's link in the Slack client.
func (s *Server) permalink(c *channel, m *message) string {
	link := "https://" + s.cfg.TeamDomain + ".slack.com/archives/" + c.id + "/p" + strings.Replace(m.ts, ".", "", 1)
	if m.isReply() {
		link += "?thread_ts=" + m.threadTS + "&cid=" + c.id
	}
	return link
}

// apiChatGetPermalink answers chat.getPermalink.
func (s *Server) apiChatGetPermalink(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	m := c.find(req.params.Get("message_ts"))
	if m == nil || m.deleted {
		return nil, errCode("message_not_found")
	}
	return obj{"channel": c.id, "permalink": s.permalink(c, m)}, nil
}

// pinTarget resolves the channel and message of pins.* and reactions.add
// (is_archived in an archived channel, not_in_channel when the bot is not a
// member).
func (s *Server) pinTarget(req *apiRequest) (*channel, *message, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, nil, aerr
	}
	if c.archived {
		return nil, nil, errCode("is_archived")
	}
	if !c.isMember(s.botUser) {
		return nil, nil, errCode("not_in_channel")
	}
	ts := req.params.Get("timestamp")
	if ts == "" {
		return nil, nil, errCode("no_item_specified")
	}
	m := c.find(ts)
	if m == nil || m.deleted {
		return nil, nil, errCode("message_not_found")
	}
	return c, m, nil
}

// apiPinsAdd answers pins.add.
func (s *Server) apiPinsAdd(req *apiRequest) (obj, *apiError) {
	c, m, aerr := s.pinTarget(req)
	if aerr != nil {
		return nil, aerr
	}
	if m.pinned {
		return nil, errCode("already_pinned")
	}
	s.pinLocked(c, m, s.botUser)
	return obj{}, nil
}

// apiPinsRemove answers pins.remove.
func (s *Server) apiPinsRemove(req *apiRequest) (obj, *apiError) {
	c, m, aerr := s.pinTarget(req)
	if aerr != nil {
		return nil, aerr
	}
	if !m.pinned {
		return nil, errCode("no_pin")
	}
	m.pinned = false
	c.pins = slices.DeleteFunc(c.pins, func(ts string) bool { return ts == m.ts })
	s.emitEventLocked(obj{
		"type":       "pin_removed",
		"user":       s.botUser,
		"channel_id": c.id,
		"item":       s.pinItemLocked(c, m, s.botUser),
		"item_user":  m.user,
		"pin_count":  fmt.Sprint(len(c.pins)),
		"has_pins":   len(c.pins) > 0,
		"event_ts":   s.nextTSLocked(),
	}, c)
	return obj{}, nil
}

// apiPinsList answers pins.list.
func (s *Server) apiPinsList(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	items := []obj{}
	for _, ts := range c.pins {
		if m := c.find(ts); m != nil {
			items = append(items, s.pinItemLocked(c, m, ""))
		}
	}
	return obj{"items": items}, nil
}

// pinLocked pins a message and emits pin_added.
func (s *Server) pinLocked(c *channel, m *message, by string) {
	m.pinned = true
	c.pins = append(c.pins, m.ts)
	s.noteLocked(Activity{Kind: "pin", Channel: c.id, Name: c.name, User: by, TS: m.ts, Text: displayText(m.text, m.blocks)})
	s.emitEventLocked(obj{
		"type":        "pin_added",
		"user":        by,
		"channel_id":  c.id,
		"item":        s.pinItemLocked(c, m, by),
		"item_user":   m.user,
		"pin_count":   fmt.Sprint(len(c.pins)),
		"pinned_info": obj{"channel": c.id, "pinned_by": by, "pinned_ts": time.Now().Unix()},
		"event_ts":    s.nextTSLocked(),
	}, c)
}

func (s *Server) pinItemLocked(c *channel, m *message, by string) obj {
	msg := s.messageJSONLocked(c, m)
	msg["permalink"] = s.permalink(c, m)
	item := obj{"type": "message", "created": time.Now().Unix(), "channel": c.id, "message": msg}
	if by != "" {
		item["created_by"] = by
	}
	return item
}

// apiReactionsAdd answers reactions.add.
func (s *Server) apiReactionsAdd(req *apiRequest) (obj, *apiError) {
	c, m, aerr := s.pinTarget(req)
	if aerr != nil {
		return nil, aerr
	}
	name := strings.Trim(req.params.Get("name"), ":")
	if name == "" {
		return nil, errCode("invalid_name")
	}
	if !s.reactLocked(c, m, s.botUser, name) {
		return nil, errCode("already_reacted")
	}
	return obj{}, nil
}

// reactLocked adds a reaction and emits reaction_added; it reports false if
// the user had already added it.
func (s *Server) reactLocked(c *channel, m *message, userID, name string) bool {
	var r *reaction
	for _, x := range m.reactions {
		if x.name == name {
			r = x
		}
	}
	if r == nil {
		r = &reaction{name: name}
		m.reactions = append(m.reactions, r)
	}
	if slices.Contains(r.users, userID) {
		return false
	}
	r.users = append(r.users, userID)
	s.noteLocked(Activity{Kind: "reaction", Channel: c.id, Name: c.name, User: userID, TS: m.ts, Text: name})
	s.emitEventLocked(obj{
		"type":      "reaction_added",
		"user":      userID,
		"reaction":  name,
		"item":      obj{"type": "message", "channel": c.id, "ts": m.ts},
		"item_user": m.user,
		"event_ts":  s.nextTSLocked(),
	}, c)
	return true
}
