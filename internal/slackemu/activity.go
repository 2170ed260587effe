package slackemu

import (
	"slices"
	"time"
)

// Activity is one thing a person could see happen in the workspace, for
// transcripts such as `incidentbot demo` prints.
type Activity struct {
	Seq      int       // position in the log, from 0
	Time     time.Time // when it happened
	Kind     string    // "message", "edit", "delete", "ephemeral", "reaction", "pin" or "view"
	Channel  string    // conversation id
	Name     string    // channel name; "" for direct messages
	User     string    // who did it (the bot user for the bot)
	To       string    // the only user who sees it: the target of an ephemeral message or view, the other member of a DM
	TS       string    // the message concerned
	ThreadTS string    // its thread, for replies
	Text     string    // message text (its blocks' text when it has none), new text of an edit, reaction name, view title
	Files    []string  // names of shared files
}

// Activity returns the activity log from position since on (0 for all),
// oldest first. Keep len(result) to ask only for what is new next time.
func (s *Server) Activity(since int) []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since < 0 || since >= len(s.activity) {
		return nil
	}
	out := slices.Clone(s.activity[since:])
	for i := range out {
		out[i].Files = slices.Clone(out[i].Files)
	}
	return out
}

// noteLocked appends to the activity log.
func (s *Server) noteLocked(a Activity) {
	a.Seq = len(s.activity)
	a.Time = time.Now()
	s.activity = append(s.activity, a)
}

// noteMessageLocked logs a message (kind "message", "edit" or "delete").
func (s *Server) noteMessageLocked(kind string, c *channel, m *message, by string) {
	a := Activity{Kind: kind, Channel: c.id, Name: c.name, User: by, TS: m.ts, Text: displayText(m.text, m.blocks)}
	if m.isReply() {
		a.ThreadTS = m.threadTS
	}
	if c.im {
		a.To = c.imUser
		if by == c.imUser {
			a.To = s.botUser
		}
	}
	for _, id := range m.files {
		a.Files = append(a.Files, s.files[id].name)
	}
	if kind == "delete" {
		a.Text = ""
	}
	s.noteLocked(a)
}

// addEphemeralLocked stores and logs an ephemeral message.
func (s *Server) addEphemeralLocked(e *ephemeral) {
	s.ephemerals = append(s.ephemerals, e)
	s.noteEphemeralLocked(e)
}

func (s *Server) noteEphemeralLocked(e *ephemeral) {
	name := ""
	if c, ok := s.channels[e.channel]; ok {
		name = c.name
	}
	s.noteLocked(Activity{Kind: "ephemeral", Channel: e.channel, Name: name, User: s.botUser, To: e.user, TS: e.ts, Text: displayText(e.text, e.blocks)})
}
