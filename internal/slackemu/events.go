package slackemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// Event is an Events API delivery as tests see it.
type Event struct {
	ID        string   // event_id
	Type      string   // inner event type, with the subtype after a slash: "message/message_changed"
	Channel   string   // channel the event is about, if any
	Envelopes []string // envelope ids, first delivery first
	Acked     bool     // some envelope was acknowledged
}

// eventCallback is the payload of an events_api envelope.
type eventCallback struct {
	Token              string          `json:"token"`
	TeamID             string          `json:"team_id"`
	APIAppID           string          `json:"api_app_id"`
	Event              obj             `json:"event"`
	Type               string          `json:"type"`
	EventID            string          `json:"event_id"`
	EventTime          int64           `json:"event_time"`
	Authorizations     []authorization `json:"authorizations"`
	IsExtSharedChannel bool            `json:"is_ext_shared_channel"`
	EventContext       string          `json:"event_context"`
}

type authorization struct {
	EnterpriseID        *string `json:"enterprise_id"`
	TeamID              string  `json:"team_id"`
	UserID              string  `json:"user_id"`
	IsBot               bool    `json:"is_bot"`
	IsEnterpriseInstall bool    `json:"is_enterprise_install"`
}

// emitEventLocked wraps an inner event in an event_callback payload and queues
// it. When c is not nil the event is delivered only if the bot is a member of
// c, as Slack does for channel events; it then returns "" when it is not.
func (s *Server) emitEventLocked(ev obj, c *channel) string {
	return s.emitTeamEventLocked(ev, c, s.cfg.TeamID)
}

// emitTeamEventLocked is emitEventLocked for the workspace teamID.
func (s *Server) emitTeamEventLocked(ev obj, c *channel, teamID string) string {
	if c != nil && !c.isMember(s.botUser) {
		return ""
	}
	if _, ok := ev["event_ts"]; !ok {
		ev["event_ts"] = s.nextTSLocked()
	}
	s.seq++
	eventID := fmt.Sprintf("Ev%08X", s.seq)
	typ, _ := ev["type"].(string)
	if sub, ok := ev["subtype"].(string); ok && sub != "" {
		typ += "/" + sub
	}
	chID := ""
	if c != nil {
		chID = c.id
	} else if id, ok := ev["channel"].(string); ok {
		chID = id
	}
	evType, _ := ev["type"].(string)
	ctx := fmt.Sprintf(`{"aid":%q,"cid":%q,"et":%q,"tid":%q}`, s.cfg.AppID, chID, evType, teamID)
	payload, err := json.Marshal(eventCallback{
		Token:     verificationToken,
		TeamID:    teamID,
		APIAppID:  s.cfg.AppID,
		Event:     ev,
		Type:      "event_callback",
		EventID:   eventID,
		EventTime: time.Now().Unix(),
		Authorizations: []authorization{{
			TeamID: teamID,
			UserID: s.botUser,
			IsBot:  true,
		}},
		EventContext: "4-" + base64.RawURLEncoding.EncodeToString([]byte(ctx)),
	})
	if err != nil {
		panic(fmt.Sprintf("slackemu: marshal %s event: %v", typ, err))
	}
	s.newDeliveryLocked(&delivery{
		kind:      "events_api",
		payload:   payload,
		eventID:   eventID,
		eventType: typ,
		channel:   chID,
	})
	s.logf("event %s %s queued", eventID, typ)
	return eventID
}

// EmitRawEvent delivers an arbitrary inner event (it must have a "type") in an
// event_callback envelope, whatever the bot's channel memberships, and returns
// its event_id. An event without event_ts gets one; nothing else is added or
// checked, so it sends the odd shapes Slack sometimes sends exactly as
// given: a message without ts, a message_changed whose "message" is nil
// (JSON null), an event type the app does not know. It stores nothing in
// the workspace.
func (s *Server) EmitRawEvent(event map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emitEventLocked(maps.Clone(event), nil)
}

// EmitForeignEvent delivers an inner event as if from another workspace
// (outer team_id teamID), as a misrouted or cross-workspace delivery would
// arrive; the app should ignore it. It returns the event_id.
func (s *Server) EmitForeignEvent(teamID string, event map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emitTeamEventLocked(maps.Clone(event), nil, teamID)
}

// Redeliver sends an already emitted event again in a new envelope, with the
// same payload and event_id and retry_attempt one more than its last
// envelope's, as Slack may do at any time. It reports false if no event has
// that id.
func (s *Server) Redeliver(eventID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.events[eventID]
	if !ok {
		return false
	}
	last := d.envelopes[len(d.envelopes)-1]
	s.enqueueLocked(d, last.attempt+1, "timeout")
	return true
}

// Events returns every Events API delivery, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, d := range s.deliveries {
		if d.kind != "events_api" {
			continue
		}
		e := Event{ID: d.eventID, Type: d.eventType, Channel: d.channel, Acked: d.acked}
		for _, env := range d.envelopes {
			e.Envelopes = append(e.Envelopes, env.id)
		}
		out = append(out, e)
	}
	return out
}

// EventIDs returns the event_ids of the events about channelID, oldest
// first.
func (s *Server) EventIDs(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.deliveries {
		if d.kind == "events_api" && d.channel == channelID {
			out = append(out, d.eventID)
		}
	}
	return out
}

// LastEventID returns the event_id of the latest event emitted, or "".
func (s *Server) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		if d := s.deliveries[i]; d.kind == "events_api" {
			return d.eventID
		}
	}
	return ""
}
