package slackemu

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestMessageMetadata: chat.postMessage keeps the metadata slack-go sends
// (a JSON object as a form field) or a JSON body carries, and refuses
// metadata that is not an object with an event_type and an event_payload
// object; conversations.history and conversations.replies return it with
// include_all_metadata, and only then.
func TestMessageMetadata(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	api := botAPI(s)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)

	md := slack.SlackMetadata{EventType: "incidentbot_reminder", EventPayload: map[string]any{"incident": "INC-1", "attempt": "2026-11-23T10:00:00.123456789Z"}}
	_, ts, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("marked", false), slack.MsgOptionMetadata(md))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Calls("chat.postMessage")[0].Params.Get("metadata"); got == "" {
		t.Fatal("slack-go sent no metadata form field")
	}
	_, _, err = api.PostMessageContext(ctx, ch, slack.MsgOptionText("plain", false))
	if err != nil {
		t.Fatal(err)
	}
	parent := s.PostMessage(alice, ch, "a thread")
	_, replyTS, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("marked reply", false), slack.MsgOptionTS(parent), slack.MsgOptionMetadata(md))
	if err != nil {
		t.Fatal(err)
	}

	msgs := s.Messages(ch)
	var stored struct {
		EventType    string            `json:"event_type"`
		EventPayload map[string]string `json:"event_payload"`
	}
	if err := json.Unmarshal(msgs[0].Metadata, &stored); err != nil || stored.EventType != md.EventType || stored.EventPayload["incident"] != "INC-1" {
		t.Errorf("stored metadata %s (%v)", msgs[0].Metadata, err)
	}
	if msgs[1].Metadata != nil {
		t.Errorf("a message posted without metadata has %s", msgs[1].Metadata)
	}

	// Without include_all_metadata: no metadata on the wire.
	out := rawPost(t, s, "conversations.history", "application/x-www-form-urlencoded", "channel="+ch, s.Config().BotToken)
	for _, m := range out["messages"].([]any) {
		if _, ok := m.(map[string]any)["metadata"]; ok {
			t.Errorf("conversations.history without include_all_metadata returned metadata: %v", m)
		}
	}
	// With it: slack-go reads it into Message.Metadata.
	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch, IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range h.Messages {
		switch m.Timestamp {
		case ts:
			found++
			if m.Metadata.EventType != md.EventType || m.Metadata.EventPayload["attempt"] != md.EventPayload["attempt"] {
				t.Errorf("history metadata %+v, want %+v", m.Metadata, md)
			}
		default:
			if m.Metadata.EventType != "" {
				t.Errorf("message %s has metadata %+v", m.Timestamp, m.Metadata)
			}
		}
	}
	if found != 1 {
		t.Errorf("the marked message is not in the history: %+v", h.Messages)
	}
	replies, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: parent, IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 2 || replies[1].Timestamp != replyTS || replies[1].Metadata.EventType != md.EventType || replies[0].Metadata.EventType != "" {
		t.Errorf("conversations.replies with include_all_metadata: %+v", replies)
	}
	replies, _, _, err = api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: parent})
	if err != nil || len(replies) != 2 || replies[1].Metadata.EventType != "" {
		t.Errorf("conversations.replies without include_all_metadata: %+v, %v", replies, err)
	}

	// A JSON body carries the metadata as an object.
	out = rawPost(t, s, "chat.postMessage", "application/json; charset=utf-8",
		`{"channel":"`+ch+`","text":"json","metadata":{"event_type":"deploy_started","event_payload":{"id":7}}}`, s.Config().BotToken)
	if out["ok"] != true {
		t.Fatalf("chat.postMessage with JSON metadata: %v", out)
	}
	if got := s.Messages(ch); string(got[len(got)-1].Metadata) != `{"event_payload":{"id":7},"event_type":"deploy_started"}` {
		t.Errorf("JSON metadata stored as %s", got[len(got)-1].Metadata)
	}

	// Slack's refusals.
	before := len(s.Messages(ch))
	for _, tt := range []struct{ metadata, code string }{
		{`not json`, "invalid_metadata_format"},
		{`["event_type"]`, "invalid_metadata_format"},
		{`{"event_payload":{"a":"b"}}`, "invalid_metadata_schema"},
		{`{"event_type":"","event_payload":{"a":"b"}}`, "invalid_metadata_schema"},
		{`{"event_type":"x","event_payload":"b"}`, "invalid_metadata_schema"},
		{`{"event_type":"x"}`, "invalid_metadata_schema"},
	} {
		out := rawPost(t, s, "chat.postMessage", "application/x-www-form-urlencoded",
			url.Values{"channel": {ch}, "text": {"x"}, "metadata": {tt.metadata}}.Encode(), s.Config().BotToken)
		if out["ok"] != false || out["error"] != tt.code {
			t.Errorf("metadata %s: %v, want %s", tt.metadata, out, tt.code)
		}
	}
	if n := len(s.Messages(ch)); n != before {
		t.Errorf("%d messages stored by refused posts", n-before)
	}
}

// TestLatencyOutlivesTheClient: a call held by SetLatency is listed by
// Pending while it waits, and is carried out when its client has gone
// away meanwhile (it timed out, or its process died), as Slack carries out
// a request it received: the post is made and recorded.
func TestLatencyOutlivesTheClient(t *testing.T) {
	s := newServer(t, Config{})
	ch := s.CreateChannel("inc-2", s.BotUserID())
	s.SetLatency("chat.postMessage", 300*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := botAPI(s).PostMessageContext(ctx, ch, slack.MsgOptionText("in flight", false))
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Pending("chat.postMessage")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the post never showed as pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := s.Pending("")
	if len(p) != 1 || p[0].Method != "chat.postMessage" || p[0].Params.Get("text") != "in flight" || p[0].Time.IsZero() {
		t.Fatalf("Pending = %+v", p)
	}
	if len(s.Messages(ch)) != 0 || len(s.Calls("chat.postMessage")) != 0 {
		t.Fatal("the post was carried out before its latency passed")
	}
	cancel() // the client goes away
	if err := <-errc; err == nil {
		t.Fatal("the cancelled client got an answer")
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(s.Messages(ch)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a post whose client went away during the latency was never made")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := s.Messages(ch); len(m) != 1 || m[0].Text != "in flight" {
		t.Errorf("messages = %+v", m)
	}
	for len(s.Pending("")) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p := s.Pending(""); len(p) != 0 {
		t.Errorf("still pending after it was answered: %+v", p)
	}
	if c := s.Calls("chat.postMessage"); len(c) != 1 || c[0].Status != 200 {
		t.Errorf("calls = %+v", c)
	}
}
