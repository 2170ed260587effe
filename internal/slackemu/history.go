package slackemu

import (
	"math"
	"strconv"
)

// timeRange is the oldest/latest/inclusive window of history reads.
type timeRange struct {
	oldest, latest int64
	inclusive      bool
}

func readRange(req *apiRequest) (timeRange, *apiError) {
	r := timeRange{oldest: 0, latest: math.MaxInt64, inclusive: boolParam(req.params, "inclusive")}
	if v := req.params.Get("oldest"); v != "" {
		t, ok := parseTS(v)
		if !ok {
			return r, errCode("invalid_ts_oldest")
		}
		r.oldest = t
	}
	if v := req.params.Get("latest"); v != "" {
		t, ok := parseTS(v)
		if !ok {
			return r, errCode("invalid_ts_latest")
		}
		r.latest = t
	}
	return r, nil
}

func (r timeRange) contains(ts string) bool {
	t, _ := parseTS(ts)
	if r.inclusive {
		return t >= r.oldest && t <= r.latest
	}
	return t > r.oldest && t < r.latest
}

// inHistory reports whether conversations.history lists a message: top-level
// messages and thread broadcasts; replies only through conversations.replies.
// A deleted message is left out unless it is a thread parent with live
// replies, which Slack keeps as a tombstone.
func inHistory(c *channel, m *message) bool {
	if m.isReply() && m.subtype != "thread_broadcast" {
		return false
	}
	if m.deleted {
		return !m.isReply() && m.threadTS != "" && len(c.replies(m)) > 0
	}
	return true
}

// historyJSONLocked is the message object of a history listing (a tombstone
// for a deleted thread parent). It carries the message's metadata when the
// read asked for it (include_all_metadata), as Slack's does.
func (s *Server) historyJSONLocked(req *apiRequest, c *channel, m *message) obj {
	o := s.messageJSONLocked(c, m)
	if len(m.metadata) > 0 && !m.deleted && boolParam(req.params, "include_all_metadata") {
		o["metadata"] = m.metadata
	}
	if m.deleted {
		o["subtype"] = "tombstone"
		o["text"] = "This message was deleted."
		o["user"] = "USLACKBOT"
		o["hidden"] = true
		delete(o, "blocks")
		delete(o, "files")
		delete(o, "bot_id")
		delete(o, "bot_profile")
	}
	return o
}

// historyLimitLocked reads the limit of conversations.history and
// conversations.replies: def and max as given, or both the page cap of
// SetHistoryPageCap when one is set (Slack's 2025 limits for non-Marketplace
// apps make 15 both the default and the maximum).
func (s *Server) historyLimitLocked(req *apiRequest, def, max int) (int, *apiError) {
	if s.historyCap > 0 {
		def, max = s.historyCap, s.historyCap
	}
	return limitParam(req, def, max)
}

// apiConversationsHistory answers conversations.history: newest first,
// limit (default 100, at most 999, or the SetHistoryPageCap cap),
// oldest/latest/inclusive, cursor paging with has_more and
// response_metadata.next_cursor, and each message's metadata with
// include_all_metadata.
func (s *Server) apiConversationsHistory(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if !c.isMember(s.botUser) {
		return nil, errCode("not_in_channel")
	}
	limit, aerr := s.historyLimitLocked(req, 100, 999)
	if aerr != nil {
		return nil, aerr
	}
	rng, aerr := readRange(req)
	if aerr != nil {
		return nil, aerr
	}
	upper := int64(math.MaxInt64)
	if cur := req.params.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "next_ts")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, errCode("invalid_cursor")
		}
		upper = n
	}
	var page []obj
	hasMore, next := false, ""
	for i := len(c.msgs) - 1; i >= 0; i-- {
		m := c.msgs[i]
		t, _ := parseTS(m.ts)
		if t > upper || !inHistory(c, m) || !rng.contains(m.ts) {
			continue
		}
		if len(page) == limit {
			hasMore, next = true, encodeCursor("next_ts", strconv.FormatInt(t, 10))
			break
		}
		page = append(page, s.historyJSONLocked(req, c, m))
	}
	if page == nil {
		page = []obj{}
	}
	resp := obj{
		"messages":              page,
		"has_more":              hasMore,
		"pin_count":             len(c.pins),
		"channel_actions_ts":    nil,
		"channel_actions_count": 0,
	}
	if hasMore {
		resp["response_metadata"] = obj{"next_cursor": next}
	}
	return resp, nil
}

// apiConversationsReplies answers conversations.replies: the parent first,
// then its replies oldest first, with oldest/latest/inclusive and cursor
// paging. A ts naming a reply returns that reply's thread.
func (s *Server) apiConversationsReplies(req *apiRequest) (obj, *apiError) {
	c, aerr := s.lookupChannelLocked(req.params.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	if !c.isMember(s.botUser) {
		return nil, errCode("not_in_channel")
	}
	ts := req.params.Get("ts")
	if ts == "" {
		return nil, errCode("invalid_arguments")
	}
	p := c.find(ts)
	if p != nil && p.isReply() {
		p = c.find(p.threadTS)
	}
	if p == nil || (p.deleted && len(c.replies(p)) == 0) {
		return nil, errCode("thread_not_found")
	}
	limit, aerr := s.historyLimitLocked(req, 1000, 1000)
	if aerr != nil {
		return nil, aerr
	}
	rng, aerr := readRange(req)
	if aerr != nil {
		return nil, aerr
	}
	lower := int64(-1)
	if cur := req.params.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "next_ts")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, errCode("invalid_cursor")
		}
		lower = n
	}
	var page []obj
	hasMore, next := false, ""
	if lower < 0 {
		page = append(page, s.historyJSONLocked(req, c, p))
	}
	for _, m := range c.replies(p) {
		t, _ := parseTS(m.ts)
		if t < lower || !rng.contains(m.ts) {
			continue
		}
		if len(page) >= limit {
			hasMore, next = true, encodeCursor("next_ts", strconv.FormatInt(t, 10))
			break
		}
		page = append(page, s.historyJSONLocked(req, c, m))
	}
	resp := obj{"messages": page, "has_more": hasMore}
	if hasMore {
		resp["response_metadata"] = obj{"next_cursor": next}
	}
	return resp, nil
}
