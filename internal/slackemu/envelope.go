package slackemu

import (
	"encoding/json"
	"fmt"
)

// EmitEnvelope sends a Socket Mode envelope of any type (one Slack has added
// that the app does not know, for instance) with payload as its JSON
// payload, and returns its envelope id; Acked tells whether the app
// acknowledged it. It panics if payload does not encode.
func (s *Server) EmitEnvelope(kind string, payload any) string {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("slackemu: EmitEnvelope: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.newDeliveryLocked(&delivery{kind: kind, payload: raw})
	return e.id
}
