package slackemu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// This file holds the controls that make the emulator answer like a hostile
// Slack: channels that are archived, deleted or that the bot is removed from,
// a bot token revoked while the socket stays up, refused channel creation,
// per-method rate limits and capped history pages, and reactions on files.
// None of them changes anything until a test calls it.

// ArchiveChannel archives a channel as user by does in the Slack client: a
// message of subtype channel_archive ("<@by> archived the channel") is added
// to its history and delivered if the bot is a member, then the
// channel_archive event (group_archive for a private channel, delivered to
// members only) is emitted. Afterwards chat.postMessage, chat.postEphemeral,
// pins.add, pins.remove, reactions.add, conversations.invite,
// conversations.join and files.completeUploadExternal answer is_archived,
// chat.update answers is_inactive (the code Slack documents for it), and
// conversations.info shows is_archived: true. History stays readable and the
// member list is kept (so UnarchiveChannel makes the channel usable again).
// Archiving an archived channel does nothing. It panics if the user or
// channel does not exist or the channel is a direct message or deleted.
func (s *Server) ArchiveChannel(channelID, by string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("ArchiveChannel", by)
	c := s.mustLiveChannelLocked("ArchiveChannel", channelID)
	if c.archived {
		return
	}
	s.channelNoticeLocked(c, by, "channel_archive", "archived the channel")
	c.archived = true
	s.emitLifecycleLocked(c, "archive", obj{"user": by})
}

// UnarchiveChannel unarchives a channel as user by: the channel_unarchive
// event (group_unarchive for a private channel) is emitted and a message of
// subtype channel_unarchive is added and delivered to members. The Web API
// accepts writes to the channel again. Unarchiving a channel that is not
// archived does nothing. It panics like ArchiveChannel.
func (s *Server) UnarchiveChannel(channelID, by string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("UnarchiveChannel", by)
	c := s.mustLiveChannelLocked("UnarchiveChannel", channelID)
	if !c.archived {
		return
	}
	c.archived = false
	s.emitLifecycleLocked(c, "unarchive", obj{"user": by})
	s.channelNoticeLocked(c, by, "channel_unarchive", "un-archived the channel")
}

// DeleteChannel deletes a channel, as a workspace admin can: the
// channel_deleted event (group_deleted for a private channel) is emitted,
// and from then on every Web API method answers channel_not_found for it and
// conversations.list leaves it out; its name can be used again. Tests still
// see it through Channel (with Deleted set) and Messages. Deleting a deleted
// channel does nothing. It panics if the channel does not exist or is a
// direct message.
func (s *Server) DeleteChannel(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannelLocked("DeleteChannel", channelID)
	if c.im {
		panic("slackemu: DeleteChannel: " + channelID + " is a direct message")
	}
	if c.deleted {
		return
	}
	s.emitLifecycleLocked(c, "deleted", obj{})
	c.deleted = true
}

// RemoveBot removes the bot from a channel, as a member who kicks it with
// /remove does, and emits member_left_channel for the bot user (delivered to
// the bot, as Slack tells an app it was removed). Afterwards chat.postMessage,
// pins.*, reactions.add, conversations.invite, conversations.history and
// conversations.replies answer not_in_channel for a public channel, and
// every method answers channel_not_found for a private one (the bot can no
// longer see it). It returns the event id, or "" when the bot was not a
// member. It panics if the channel does not exist, is deleted or is a
// direct message.
func (s *Server) RemoveBot(channelID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustLiveChannelLocked("RemoveBot", channelID)
	if !c.isMember(s.botUser) {
		return ""
	}
	c.members = slices.DeleteFunc(c.members, func(u string) bool { return u == s.botUser })
	return s.emitEventLocked(obj{
		"type":         "member_left_channel",
		"user":         s.botUser,
		"channel":      c.id,
		"channel_type": map[bool]string{true: "G", false: "C"}[c.private],
		"team":         s.cfg.TeamID,
	}, nil)
}

// InviteBot adds the bot back to a channel as user by invites it (/invite
// @bot) and emits member_joined_channel for the bot user with inviter set,
// whatever Config.MemberJoinedEvents says (an app that handles removal
// subscribes to it). It returns the event id, or "" when the bot was
// already a member. It panics if the user or channel does not exist, or the
// channel is deleted, archived or a direct message.
func (s *Server) InviteBot(channelID, by string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("InviteBot", by)
	c := s.mustLiveChannelLocked("InviteBot", channelID)
	if c.archived {
		panic("slackemu: InviteBot: " + channelID + " is archived")
	}
	if !c.addMember(s.botUser) {
		return ""
	}
	return s.emitEventLocked(obj{
		"type":         "member_joined_channel",
		"user":         s.botUser,
		"channel":      c.id,
		"channel_type": map[bool]string{true: "G", false: "C"}[c.private],
		"team":         s.cfg.TeamID,
		"inviter":      by,
	}, c)
}

// mustLiveChannelLocked is mustChannelLocked for a channel (not a direct
// message) that is not deleted.
func (s *Server) mustLiveChannelLocked(op, id string) *channel {
	c := s.mustChannelLocked(op, id)
	if c.im {
		panic(fmt.Sprintf("slackemu: %s: %s is a direct message", op, id))
	}
	if c.deleted {
		panic(fmt.Sprintf("slackemu: %s: %s is deleted", op, id))
	}
	return c
}

// channelNoticeLocked adds and emits the message Slack posts in a channel when
// it is archived or unarchived (subtype channel_archive/channel_unarchive).
func (s *Server) channelNoticeLocked(c *channel, by, subtype, what string) {
	m := &message{
		ts:      s.nextTSLocked(),
		user:    by,
		text:    fmt.Sprintf("<@%s|%s> %s", by, s.users[by].Name, what),
		subtype: subtype,
	}
	s.addMessageLocked(c, m)
	s.emitMessageLocked(c, m)
}

// emitLifecycleLocked emits channel_<what> for a public channel (to the app
// whatever its membership, as Slack sends these to every connection of the
// workspace) or group_<what> for a private one (to members only).
func (s *Server) emitLifecycleLocked(c *channel, what string, fields obj) string {
	ev := obj{"type": "channel_" + what, "channel": c.id}
	for k, v := range fields {
		ev[k] = v
	}
	if c.private {
		ev["type"] = "group_" + what
		return s.emitEventLocked(ev, c)
	}
	return s.emitEventLocked(ev, nil)
}

// RevokeBotToken revokes the bot token while everything else stays up: every
// Web API call made with it, auth.test included, answers
// {"ok":false,"error":"token_revoked"}, and file downloads with it are
// refused (403); the Socket Mode connections (app-level token) keep
// delivering. With notify, the tokens_revoked event
// ({"tokens":{"bot":[bot user id]}}) is emitted and its event id returned;
// otherwise "" is returned. RestoreBotToken undoes it.
func (s *Server) RevokeBotToken(notify bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botTokenErr = "token_revoked"
	if !notify {
		return ""
	}
	return s.emitEventLocked(obj{
		"type":   "tokens_revoked",
		"tokens": obj{"bot": []string{s.botUser}},
	}, nil)
}

// AppUninstalled uninstalls the app from the workspace while its sockets stay
// up: the app_uninstalled and tokens_revoked events are emitted (Slack does
// not guarantee their order; here app_uninstalled comes first), and every
// Web API call with the bot token answers account_inactive, the code Slack
// documents for "a deleted user or workspace when using a bot token" and the
// one apps report after being removed. It returns the two event ids.
// RestoreBotToken reinstalls it.
func (s *Server) AppUninstalled() (uninstalledID, revokedID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botTokenErr = "account_inactive"
	uninstalledID = s.emitEventLocked(obj{"type": "app_uninstalled"}, nil)
	revokedID = s.emitEventLocked(obj{
		"type":   "tokens_revoked",
		"tokens": obj{"bot": []string{s.botUser}},
	}, nil)
	return uninstalledID, revokedID
}

// RestoreBotToken makes the bot token work again after RevokeBotToken or
// AppUninstalled.
func (s *Server) RestoreBotToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botTokenErr = ""
}

// tokenError returns the error code calls with a token of that type answer
// because of RevokeBotToken or AppUninstalled, or "".
func (s *Server) tokenError(tokenType string) string {
	if tokenType != "bot" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.botTokenErr
}

// RefuseChannelCreation makes every later conversations.create answer
// {"ok":false,"error":code} before the name is looked at, as a workspace
// whose preferences forbid the bot to create channels answers
// "restricted_action". An empty code lets creation succeed again.
func (s *Server) RefuseChannelCreation(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createRefusal = code
}

// SetChannelNameRule adds a channel-name rule to conversations.create: after
// the built-in checks (invalid_name_required, invalid_name_maxlength,
// invalid_name_specials for anything but lower-case letters, digits, '-'
// and '_', invalid_name_punctuation, name_taken) pass, rule(name) is called
// and a non-empty result is answered as the error code, e.g.
// "invalid_name_specials" for names with non-ASCII letters, or
// "invalid_name" for names a workspace refuses. The rule runs with the
// server's lock held and must not call the Server. nil removes it.
func (s *Server) SetChannelNameRule(rule func(name string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nameRule = rule
}

// methodLimit is one SetMethodLimit: a fixed window of per starting at the
// first call after the previous window ended.
type methodLimit struct {
	n     int
	per   time.Duration
	start time.Time
	count int
}

// SetMethodLimit allows at most n calls of method (a Web API method name)
// per window of length per, as Slack's tiers do per method, workspace and
// app (Tier 1 is about 1 per minute; the 2025 limits for non-Marketplace
// apps put conversations.history and conversations.replies there). The
// window is fixed: it starts with the first call after the previous window
// ended. A call over the limit is answered HTTP 429 with
// {"ok":false,"error":"ratelimited"} and a Retry-After header of the time
// left in the window in whole seconds, rounded up and at least 1 (Slack
// sends whole seconds), so a window scaled down below a second for a test
// still tells clients to wait 1 s. Refused calls do not count; calls
// answered with an error (channel_not_found, ...) do. Only calls with a
// valid token are counted, after FailNext faults. n <= 0 or per <= 0
// removes the limit.
func (s *Server) SetMethodLimit(method string, n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || per <= 0 {
		delete(s.limits, method)
		return
	}
	s.limits[method] = &methodLimit{n: n, per: per}
}

// takeLimit counts a call of method against its SetMethodLimit; when over
// the limit it reports true and the Retry-After to send.
func (s *Server) takeLimit(method string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limits[method]
	if l == nil {
		return 0, false
	}
	now := time.Now()
	if l.start.IsZero() || now.Sub(l.start) >= l.per {
		l.start, l.count = now, 0
	}
	if l.count >= l.n {
		return retryAfter(l.start.Add(l.per).Sub(now)), true
	}
	l.count++
	return 0, false
}

// FailChannel makes the next n calls of method (a Web API method name) whose
// channel argument is channelID fail with the HTTP status instead of being
// handled, as FailNext does for every call of a method: 429 carries a
// Retry-After header of retryAfter rounded up to whole seconds. Slack rate
// limits chat.postMessage per channel (about one message a second, with
// bursts), so a test can limit one channel and leave the others alone.
// Faults of FailNext are used first.
func (s *Server) FailChannel(method, channelID string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chanFaults == nil {
		s.chanFaults = map[string][]fault{}
	}
	key := method + " " + channelID
	for range n {
		s.chanFaults[key] = append(s.chanFaults[key], fault{status: status, retryAfter: retryAfter})
	}
}

// takeChannelFault pops the next FailChannel failure for the request's
// method and channel.
func (s *Server) takeChannelFault(req *apiRequest) (fault, bool) {
	ch := req.params.Get("channel")
	if ch == "" {
		return fault{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := req.method + " " + ch
	if fs := s.chanFaults[key]; len(fs) > 0 {
		s.chanFaults[key] = fs[1:]
		return fs[0], true
	}
	return fault{}, false
}

// retryAfter rounds a wait up to whole seconds, at least one.
func retryAfter(d time.Duration) time.Duration {
	secs := max(1, int64(math.Ceil(d.Seconds())))
	return time.Duration(secs) * time.Second
}

// SetHistoryPageCap makes conversations.history and conversations.replies
// return at most n messages per page whatever limit asks, and n when limit
// is absent, as Slack's 2025 limits for non-Marketplace apps do with n = 15;
// further messages are reached through has_more and
// response_metadata.next_cursor as usual. Combine it with
// SetMethodLimit("conversations.history", 1, time.Minute) (scaled down as a
// test needs) for the whole 2025 shape. n <= 0 removes the cap.
func (s *Server) SetHistoryPageCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.historyCap = max(0, n)
}

// AddFileReaction adds :reaction: (colons optional) from user to a file
// itself, not to the message that shared it, and emits reaction_added with
// the item exactly as Slack sends it for files: {"type":"file","file":"F…"}
// (item.file is the id as a string, not a file object), item_user the
// file's owner. The event is delivered if the file is shared in a channel
// the bot is a member of. It returns the event id ("" when not delivered or
// the user had already added that reaction). It panics if the user or file
// does not exist.
//
// Slack's current documentation still lists file items, while Slack's SDK
// maintainers note that apps no longer receive them; an app must therefore
// survive both.
func (s *Server) AddFileReaction(user, fileID, emoji string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("AddFileReaction", user)
	f := s.mustFileLocked("AddFileReaction", fileID)
	name := strings.Trim(emoji, ":")
	r := findReaction(f.reactions, name)
	if r == nil {
		r = &reaction{name: name}
		f.reactions = append(f.reactions, r)
	}
	if slices.Contains(r.users, user) {
		return ""
	}
	r.users = append(r.users, user)
	return s.emitFileReactionLocked("reaction_added", user, f, name)
}

// RemoveFileReaction removes user's :reaction: from a file and emits
// reaction_removed with item {"type":"file","file":"F…"}. It returns the
// event id ("" when not delivered or the user had not added it). It panics
// if the user or file does not exist.
func (s *Server) RemoveFileReaction(user, fileID, emoji string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("RemoveFileReaction", user)
	f := s.mustFileLocked("RemoveFileReaction", fileID)
	name := strings.Trim(emoji, ":")
	var ok bool
	if f.reactions, ok = dropReaction(f.reactions, name, user); !ok {
		return ""
	}
	return s.emitFileReactionLocked("reaction_removed", user, f, name)
}

// RemoveReaction removes user's :reaction: from message ts and emits
// reaction_removed with a message item. Removing a reaction the user had not
// added does nothing. It panics if the user, channel or message does not
// exist.
func (s *Server) RemoveReaction(user, channel, ts, emoji string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked("RemoveReaction", user)
	c := s.mustChannelLocked("RemoveReaction", channel)
	m := s.mustMessageLocked("RemoveReaction", c, ts)
	name := strings.Trim(emoji, ":")
	var ok bool
	if m.reactions, ok = dropReaction(m.reactions, name, user); !ok {
		return
	}
	s.emitEventLocked(obj{
		"type":      "reaction_removed",
		"user":      user,
		"reaction":  name,
		"item":      obj{"type": "message", "channel": c.id, "ts": m.ts},
		"item_user": m.user,
		"event_ts":  s.nextTSLocked(),
	}, c)
}

func (s *Server) emitFileReactionLocked(typ, user string, f *file, name string) string {
	visible := false
	for _, id := range f.channels {
		if c, ok := s.channels[id]; ok && !c.deleted && c.isMember(s.botUser) {
			visible = true
		}
	}
	if !visible {
		return ""
	}
	return s.emitEventLocked(obj{
		"type":      typ,
		"user":      user,
		"reaction":  name,
		"item":      obj{"type": "file", "file": f.id},
		"item_user": f.user,
		"event_ts":  s.nextTSLocked(),
	}, nil)
}

func (s *Server) mustFileLocked(op, id string) *file {
	f, ok := s.files[id]
	if !ok {
		panic(fmt.Sprintf("slackemu: %s: unknown file %q", op, id))
	}
	return f
}

func findReaction(rs []*reaction, name string) *reaction {
	for _, r := range rs {
		if r.name == name {
			return r
		}
	}
	return nil
}

// dropReaction removes user from reaction name, dropping the reaction when
// nobody is left; it reports whether the user had added it.
func dropReaction(rs []*reaction, name, user string) ([]*reaction, bool) {
	r := findReaction(rs, name)
	if r == nil || !slices.Contains(r.users, user) {
		return rs, false
	}
	r.users = slices.DeleteFunc(r.users, func(u string) bool { return u == user })
	if len(r.users) == 0 {
		rs = slices.DeleteFunc(rs, func(x *reaction) bool { return x == r })
	}
	return rs, true
}
