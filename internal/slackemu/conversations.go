package slackemu

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Channel is a conversation as tests see it.
type Channel struct {
	ID        string // C... for channels, D... for direct messages
	Name      string // empty for direct messages
	IsPrivate bool
	IsIM      bool
	User      string // the other member of a direct message
	Creator   string
	Members   []string // in the order they joined
	Pins      []string // ts of pinned messages, in pin order
	Created   time.Time
	Archived  bool // archived by ArchiveChannel (and not unarchived since)
	Deleted   bool // deleted by DeleteChannel
}

type channel struct {
	id, name string
	private  bool
	im       bool
	imUser   string
	creator  string
	created  time.Time
	members  []string
	pins     []string
	msgs     []*message // in ts order
	archived bool
	deleted  bool
}

func (c *channel) isMember(u string) bool { return slices.Contains(c.members, u) }

func (c *channel) addMember(u string) bool {
	if c.isMember(u) {
		return false
	}
	c.members = append(c.members, u)
	return true
}

// channelType is the channel_type of message events.
func (c *channel) channelType() string {
	switch {
	case c.im:
		return "im"
	case c.private:
		return "group"
	}
	return "channel"
}

func (c *channel) export() Channel {
	return Channel{
		ID:        c.id,
		Name:      c.name,
		IsPrivate: c.private,
		IsIM:      c.im,
		User:      c.imUser,
		Creator:   c.creator,
		Members:   slices.Clone(c.members),
		Pins:      slices.Clone(c.pins),
		Created:   c.created,
		Archived:  c.archived,
		Deleted:   c.deleted,
	}
}

// CreateChannel creates a public channel with the given members (include
// BotUserID to make the bot a member, as for an announce channel) and returns
// its id. The first member is the creator. It panics if the name breaks
// Slack's channel-name rules or is taken, or if a member does not exist.
func (s *Server) CreateChannel(name string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.checkChannelNameLocked(name); code != "" {
		panic(fmt.Sprintf("slackemu: CreateChannel %q: %s", name, code))
	}
	creator := ""
	for i, m := range members {
		s.mustUserLocked("CreateChannel", m)
		if i == 0 {
			creator = m
		}
	}
	c := s.newChannelLocked(name, false, creator)
	for _, m := range members {
		c.addMember(m)
	}
	return c.id
}

// CreatePrivateChannel is CreateChannel for a private channel.
func (s *Server) CreatePrivateChannel(name string, members ...string) string {
	id := s.CreateChannel(name, members...)
	s.mu.Lock()
	s.channels[id].private = true
	s.mu.Unlock()
	return id
}

// ChannelByName returns the channel (not a direct message) with that name.
func (s *Server) ChannelByName(name string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channelByNameLocked(name); c != nil {
		return c.export(), true
	}
	return Channel{}, false
}

// Channel returns the conversation with that id.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[id]; ok {
		return c.export(), true
	}
	return Channel{}, false
}

// Channels returns every conversation, in creation order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.chanOrder))
	for _, id := range s.chanOrder {
		out = append(out, s.channels[id].export())
	}
	return out
}

// JoinChannel makes a user join a public channel, as clicking "Join
// channel" does, and emits member_joined_channel when
// Config.MemberJoinedEvents is set. It panics if the user or channel does
// not exist or the channel is a direct message or private (private
// channels are joined by invitation: InviteUser).
func (s *Server) JoinChannel(userID, channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("JoinChannel", userID)
	c := s.mustChannelLocked("JoinChannel", channelID)
	if c.im || c.private {
		panic("slackemu: JoinChannel: " + channelID + " is a direct message or a private channel")
	}
	s.joinLocked(c, userID, "")
}

// InviteUser adds user to channel as by invites them (/invite), and emits
// member_joined_channel with inviter set when Config.MemberJoinedEvents is
// set (delivered only if the bot is a member, as Slack does). It returns
// the event id, or "" when none was emitted or the user was already a
// member. It panics if a user or the channel does not exist, the channel is
// deleted, archived or a direct message, or by is not a member.
func (s *Server) InviteUser(by, user, channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("InviteUser", by)
	s.mustUserLocked("InviteUser", user)
	c := s.mustLiveChannelLocked("InviteUser", channel)
	if c.archived {
		panic("slackemu: InviteUser: " + channel + " is archived")
	}
	if !c.isMember(by) {
		panic(fmt.Sprintf("slackemu: InviteUser: %s is not a member of %s", by, channel))
	}
	return s.joinLocked(c, user, by)
}

// LeaveChannel makes user leave channel (as /leave does, or being removed
// by someone) and emits member_left_channel when Config.MemberJoinedEvents
// is set (delivered only if the bot is still a member). For the bot itself
// use RemoveBot. It returns the event id, or "" when none was emitted or
// the user was not a member. It panics if the user or channel does not
// exist, the channel is deleted or a direct message, or user is the bot.
func (s *Server) LeaveChannel(user, channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("LeaveChannel", user)
	c := s.mustLiveChannelLocked("LeaveChannel", channel)
	if user == s.botUser {
		panic("slackemu: LeaveChannel: use RemoveBot for the bot")
	}
	if !c.isMember(user) {
		return ""
	}
	c.members = slices.DeleteFunc(c.members, func(u string) bool { return u == user })
	if !s.cfg.MemberJoinedEvents {
		return ""
	}
	return s.emitEventLocked(obj{
		"type":         "member_left_channel",
		"user":         user,
		"channel":      c.id,
		"channel_type": memberChannelType(c),
		"team":         s.cfg.TeamID,
	}, c)
}

// memberChannelType is the channel_type of member_joined_channel and
// member_left_channel: "G" for a private channel, "C" for a public one.
func memberChannelType(c *channel) string {
	if c.private {
		return "G"
	}
	return "C"
}

// joinLocked adds a member and emits member_joined_channel if configured;
// it returns the event id, or "".
func (s *Server) joinLocked(c *channel, userID, inviter string) string {
	if !c.addMember(userID) || !s.cfg.MemberJoinedEvents {
		return ""
	}
	ev := obj{
		"type":         "member_joined_channel",
		"user":         userID,
		"channel":      c.id,
		"channel_type": memberChannelType(c),
		"team":         s.cfg.TeamID,
		"event_ts":     s.nextTSLocked(),
	}
	if inviter != "" {
		ev["inviter"] = inviter
	}
	return s.emitEventLocked(ev, c)
}

func (s *Server) mustChannelLocked(op, id string) *channel {
	c, ok := s.channels[id]
	if !ok {
		panic(fmt.Sprintf("slackemu: %s: unknown channel %q", op, id))
	}
	return c
}

func (s *Server) newChannelLocked(name string, private bool, creator string) *channel {
	c := &channel{
		id:      s.newIDLocked("C"),
		name:    name,
		private: private,
		creator: creator,
		created: time.Now(),
	}
	s.channels[c.id] = c
	s.chanOrder = append(s.chanOrder, c.id)
	return c
}

func (s *Server) channelByNameLocked(name string) *channel {
	name = strings.TrimPrefix(name, "#")
	for _, id := range s.chanOrder {
		if c := s.channels[id]; !c.im && !c.deleted && c.name == name {
			return c
		}
	}
	return nil
}

// imLocked returns the direct message channel between the bot and a user,
// opening it if needed.
func (s *Server) imLocked(userID string) *channel {
	if id, ok := s.ims[userID]; ok {
		return s.channels[id]
	}
	c := &channel{
		id:      s.newIDLocked("D"),
		im:      true,
		imUser:  userID,
		created: time.Now(),
		members: []string{userID, s.botUser},
	}
	s.channels[c.id] = c
	s.chanOrder = append(s.chanOrder, c.id)
	s.ims[userID] = c.id
	return c
}

// visibleLocked reports whether the bot can see a conversation: public
// channels always, private channels and direct messages only as a member.
func (s *Server) visibleLocked(c *channel) bool {
	return !c.private && !c.im || c.isMember(s.botUser)
}

// lookupChannelLocked resolves a channel argument to a conversation the bot can
// see, or returns channel_not_found.
func (s *Server) lookupChannelLocked(id string) (*channel, *apiError) {
	c, ok := s.channels[id]
	if !ok || c.deleted || !s.visibleLocked(c) {
		return nil, errCode("channel_not_found")
	}
	return c, nil
}

// checkChannelNameLocked applies Slack's channel-name rules and returns the
// error code, or "".
func (s *Server) checkChannelNameLocked(name string) string {
	switch {
	case name == "":
		return "invalid_name_required"
	case utf8.RuneCountInString(name) > 80:
		return "invalid_name_maxlength"
	}
	onlyPunct := true
	for _, r := range name {
		switch {
		case r == '-' || r == '_':
		case r >= '0' && r <= '9', unicode.IsLetter(r) && !unicode.IsUpper(r):
			onlyPunct = false
		default:
			return "invalid_name_specials"
		}
	}
	if onlyPunct {
		return "invalid_name_punctuation"
	}
	if s.channelByNameLocked(name) != nil {
		return "name_taken"
	}
	return ""
}

// channelJSON is Slack's conversation object as the bot sees it.
func (s *Server) channelJSON(c *channel) obj {
	if c.im {
		return obj{
			"id":              c.id,
			"created":         c.created.Unix(),
			"is_archived":     false,
			"is_im":           true,
			"is_org_shared":   false,
			"context_team_id": s.cfg.TeamID,
			"updated":         c.created.UnixMilli(),
			"user":            c.imUser,
			"is_user_deleted": false,
			"is_open":         true,
			"last_read":       "0000000000.000000",
			"priority":        0,
		}
	}
	return obj{
		"id":                         c.id,
		"name":                       c.name,
		"is_channel":                 true,
		"is_group":                   false,
		"is_im":                      false,
		"is_mpim":                    false,
		"is_private":                 c.private,
		"created":                    c.created.Unix(),
		"is_archived":                c.archived,
		"is_general":                 false,
		"unlinked":                   0,
		"name_normalized":            c.name,
		"is_shared":                  false,
		"is_org_shared":              false,
		"is_pending_ext_shared":      false,
		"pending_shared":             []string{},
		"context_team_id":            s.cfg.TeamID,
		"updated":                    c.created.UnixMilli(),
		"parent_conversation":        nil,
		"creator":                    c.creator,
		"is_ext_shared":              false,
		"shared_team_ids":            []string{s.cfg.TeamID},
		"pending_connected_team_ids": []string{},
		"is_member":                  c.isMember(s.botUser),
		"last_read":                  "0000000000.000000",
		"topic":                      obj{"value": "", "creator": "", "last_set": 0},
		"purpose":                    obj{"value": "", "creator": "", "last_set": 0},
		"previous_names":             []string{},
		"priority":                   0,
	}
}

// apiConversationsCreate answers conversations.create.
func (s *Server) apiConversationsCreate(req *apiRequest) (obj, *apiError) {
	name := req.params.Get("name")
	if s.createRefusal != "" {
		return nil, errCode(s.createRefusal)
	}
	if code := s.checkChannelNameLocked(name); code != "" {
		return nil, errCode(code)
	}
	if s.nameRule != nil {
		if code := s.nameRule(name); code != "" {
			return nil, errCode(code)
		}
	}
	c := s.newChannelLocked(name, boolParam(req.params, "is_private"), s.botUser)
	c.addMember(s.botUser)
	return obj{"channel": s.channelJSON(c)}, nil
}

// apiConversationsInvite answers conversations.invite. Every user is checked
// first; without force=true one failure invites nobody, with force=true the
// valid users are invited and the failures still reported.
func (s *Server) apiConversationsInvite(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if c.im {
		return nil, errCode("method_not_supported_for_channel_type")
	}
	if c.archived {
		return nil, errCode("is_archived")
	}
	if !c.isMember(s.botUser) {
		return nil, errCode("not_in_channel")
	}
	var ids []string
	for id := range strings.SplitSeq(req.params.Get("users"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, errCode("no_user")
	}
	if len(ids) > 1000 {
		return nil, errCode("too_many_users")
	}
	var failures []obj
	var valid []string
	for _, id := range ids {
		code := ""
		switch u, ok := s.users[id]; {
		case !ok:
			code = "user_not_found"
		case u.ID == s.botUser:
			code = "cant_invite_self"
		case c.isMember(id):
			code = "already_in_channel"
		}
		if code != "" {
			failures = append(failures, obj{"user": id, "ok": false, "error": code})
			continue
		}
		valid = append(valid, id)
	}
	if len(failures) == 0 || boolParam(req.params, "force") {
		for _, id := range valid {
			s.joinLocked(c, id, s.botUser)
		}
	}
	if len(failures) > 0 {
		return nil, &apiError{code: failures[0]["error"].(string), extra: obj{"errors": failures}}
	}
	return obj{"channel": s.channelJSON(c)}, nil
}

// apiConversationsJoin answers conversations.join.
func (s *Server) apiConversationsJoin(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if c.im || c.private {
		return nil, errCode("method_not_supported_for_channel_type")
	}
	if c.archived {
		return nil, errCode("is_archived")
	}
	if c.isMember(s.botUser) {
		return obj{
			"channel":           s.channelJSON(c),
			"warning":           "already_in_channel",
			"response_metadata": obj{"warnings": []string{"already_in_channel"}},
		}, nil
	}
	s.joinLocked(c, s.botUser, "")
	return obj{"channel": s.channelJSON(c)}, nil
}

// apiConversationsInfo answers conversations.info.
func (s *Server) apiConversationsInfo(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	ch := s.channelJSON(c)
	if boolParam(req.params, "include_num_members") && !c.im {
		ch["num_members"] = len(c.members)
	}
	return obj{"channel": ch}, nil
}

// apiConversationsMembers answers conversations.members (cursor paging).
func (s *Server) apiConversationsMembers(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	limit, aerr := limitParam(req, 100, 1000)
	if aerr != nil {
		return nil, aerr
	}
	start := 0
	if cur := req.params.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "user")
		if !ok {
			return nil, errCode("invalid_cursor")
		}
		start = slices.Index(c.members, v)
		if start < 0 {
			return nil, errCode("invalid_cursor")
		}
	}
	end := min(start+limit, len(c.members))
	next := ""
	if end < len(c.members) {
		next = encodeCursor("user", c.members[end])
	}
	return obj{
		"members":           slices.Clone(c.members[start:end]),
		"response_metadata": obj{"next_cursor": next},
	}, nil
}

// apiConversationsList answers conversations.list (types, exclude_archived,
// cursor paging). Deleted channels are never listed.
func (s *Server) apiConversationsList(req *apiRequest) (obj, *apiError) {
	types := req.params.Get("types")
	if types == "" {
		types = "public_channel"
	}
	want := map[string]bool{}
	for t := range strings.SplitSeq(types, ",") {
		want[strings.TrimSpace(t)] = true
	}
	limit, aerr := limitParam(req, 100, 1000)
	if aerr != nil {
		return nil, aerr
	}
	excludeArchived := boolParam(req.params, "exclude_archived")
	var all []*channel
	for _, id := range s.chanOrder {
		c := s.channels[id]
		if c.deleted || c.archived && excludeArchived {
			continue
		}
		kind := "public_channel"
		switch {
		case c.im:
			kind = "im"
		case c.private:
			kind = "private_channel"
		}
		if want[kind] && s.visibleLocked(c) {
			all = append(all, c)
		}
	}
	start := 0
	if cur := req.params.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "channel")
		if !ok {
			return nil, errCode("invalid_cursor")
		}
		start = slices.IndexFunc(all, func(c *channel) bool { return c.id == v })
		if start < 0 {
			return nil, errCode("invalid_cursor")
		}
	}
	end := min(start+limit, len(all))
	out := make([]obj, 0, end-start)
	for _, c := range all[start:end] {
		out = append(out, s.channelJSON(c))
	}
	next := ""
	if end < len(all) {
		next = encodeCursor("channel", all[end].id)
	}
	return obj{"channels": out, "response_metadata": obj{"next_cursor": next}}, nil
}

// apiConversationsOpen answers conversations.open for a direct message with
// one user (multi-person DMs are not emulated).
func (s *Server) apiConversationsOpen(req *apiRequest) (obj, *apiError) {
	var c *channel
	already := false
	if id := req.params.Get("channel"); id != "" {
		var aerr *apiError
		if c, aerr = s.lookupChannelLocked(id); aerr != nil {
			return nil, aerr
		}
		already = true
	} else {
		users := strings.Split(req.params.Get("users"), ",")
		if len(users) != 1 || strings.TrimSpace(users[0]) == "" {
			return nil, errCode("users_list_not_supplied")
		}
		uid := strings.TrimSpace(users[0])
		if _, ok := s.users[uid]; !ok {
			return nil, errCode("user_not_found")
		}
		_, already = s.ims[uid]
		c = s.imLocked(uid)
	}
	ch := obj{"id": c.id}
	if boolParam(req.params, "return_im") {
		ch = s.channelJSON(c)
	}
	return obj{"no_op": already, "already_open": already, "channel": ch}, nil
}

// limitParam reads the limit argument (default def, capped at max).
func limitParam(req *apiRequest, def, max int) (int, *apiError) {
	v := req.params.Get("limit")
	if v == "" || v == "0" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errCode("invalid_limit")
	}
	return min(n, max), nil
}

// encodeCursor makes an opaque Slack-style cursor ("dXNlcjpVMDYxTkZUVDI=" is
// base64 of "user:U061NFTT2").
func encodeCursor(kind, v string) string {
	return base64.StdEncoding.EncodeToString([]byte(kind + ":" + v))
}

func decodeCursor(cur, kind string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(cur)
	if err != nil {
		return "", false
	}
	return strings.CutPrefix(string(b), kind+":")
}
