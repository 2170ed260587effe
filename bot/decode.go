package bot

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// decode parses an envelope's payload with slack-go's types: a
// slackevents.EventsAPIEvent, a slack.SlashCommand or a
// *slack.InteractionCallback. Message events — nearly all of the traffic —
// come decoded already from the reader's one pass (decodeFrame); what
// reaches decode is the rest, and a message frame that pass could not take
// (invalid UTF-8, an odd shape), which slackevents decodes in full.
func decode(req socketmode.Request) (any, error) {
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		ev, err := slackevents.ParseEvent(req.Payload, slackevents.OptionNoVerifyToken())
		if err != nil {
			if rev, ok := decodeReactionEvent(req.Payload); ok {
				return rev, nil
			}
		}
		return ev, err
	case socketmode.RequestTypeSlashCommands:
		var cmd slack.SlashCommand
		err := json.Unmarshal(req.Payload, &cmd)
		return cmd, err
	case socketmode.RequestTypeInteractive:
		// A pointer: the callback is kilobytes (views, messages, blocks),
		// and a copy of it in the envelope goroutine's first frame made
		// every goroutine grow its stack, captured messages included.
		cb := new(slack.InteractionCallback)
		err := json.Unmarshal(req.Payload, cb)
		return cb, err
	}
	return nil, fmt.Errorf("unknown envelope type %q", req.Type)
}

// msgFields are the fields of a message (top level or nested) the bot uses.
type msgFields struct {
	Type            string        `json:"type"`
	SubType         string        `json:"subtype"`
	User            string        `json:"user"`
	Text            string        `json:"text"`
	Timestamp       string        `json:"ts"`
	ThreadTimestamp string        `json:"thread_ts"`
	BotID           string        `json:"bot_id"`
	Edited          *slack.Edited `json:"edited"`
	Files           []slack.File  `json:"files"`
}

func (m *msgFields) msg() *slack.Msg {
	if m == nil {
		return nil
	}
	return &slack.Msg{
		Type: m.Type, SubType: m.SubType, User: m.User, Text: m.Text, Timestamp: m.Timestamp,
		ThreadTimestamp: m.ThreadTimestamp, BotID: m.BotID, Edited: m.Edited, Files: m.Files,
	}
}

// messageEvent is an Events API message event without its blocks.
type messageEvent struct {
	msgFields
	Channel          string     `json:"channel"`
	ChannelType      string     `json:"channel_type"`
	EventTimeStamp   string     `json:"event_ts"`
	Message          *msgFields `json:"message"`
	PreviousMessage  *msgFields `json:"previous_message"`
	DeletedTimeStamp string     `json:"deleted_ts"`
}

// messageEventsAPI is the EventsAPIEvent slackevents.ParseEvent makes of
// callback outer carrying message event m.
func messageEventsAPI(outer *slackevents.EventsAPICallbackEvent, m *messageEvent) slackevents.EventsAPIEvent {
	ev := &slackevents.MessageEvent{
		Type: m.Type, SubType: m.SubType, User: m.User, Text: m.Text, TimeStamp: m.Timestamp,
		ThreadTimeStamp: m.ThreadTimestamp, Channel: m.Channel, ChannelType: m.ChannelType,
		EventTimeStamp: m.EventTimeStamp, BotID: m.BotID, DeletedTimeStamp: m.DeletedTimeStamp,
		Message: m.Message.msg(), PreviousMessage: m.PreviousMessage.msg(),
	}
	if ev.Message == nil {
		// As slackevents does: a new message's content is at the top level.
		ev.Message = m.msgFields.msg()
	}
	return slackevents.EventsAPIEvent{
		Token: outer.Token, TeamID: outer.TeamID, Type: outer.Type, APIAppID: outer.APIAppID,
		EnterpriseID: outer.EnterpriseID, IsExtSharedChannel: outer.IsExtSharedChannel, Data: outer,
		InnerEvent: slackevents.EventsAPIInnerEvent{Type: m.Type, Data: ev},
	}
}

// messageFrame is a Socket Mode frame read in one pass, down to the fields
// of a message event: the frames of nearly all of the traffic. It is
// decoded with github.com/goccy/go-json, 2-3x faster than encoding/json on
// these frames, and without the message's Block Kit "blocks", which the
// bot does not use (parsing their rich text was 40% of the CPU of
// capturing a message).
type messageFrame struct {
	Type                   string `json:"type"`
	EnvelopeID             string `json:"envelope_id"`
	AcceptsResponsePayload bool   `json:"accepts_response_payload"`
	RetryAttempt           int    `json:"retry_attempt"`
	RetryReason            string `json:"retry_reason"`
	Payload                *struct {
		Type               string        `json:"type"`
		Token              string        `json:"token"`
		TeamID             string        `json:"team_id"`
		APIAppID           string        `json:"api_app_id"`
		EnterpriseID       string        `json:"enterprise_id"`
		EventID            string        `json:"event_id"`
		EventTime          int           `json:"event_time"`
		IsExtSharedChannel bool          `json:"is_ext_shared_channel"`
		Event              *messageEvent `json:"event"`
	} `json:"payload"`
}

// decodeFrame parses a Socket Mode frame as the reader does. A message
// event's frame is decoded in one pass, and its event is returned as
// decode would make it from the payload (the frame's Payload is then left
// empty); any other frame is parsed into the request alone, its payload
// kept for decode. Parsing the envelope, then the payload, then the inner
// event — three passes, each copying what it kept raw — was the largest
// share of a replica's CPU and garbage under a burst of messages.
func decodeFrame(data []byte) (req socketmode.Request, event any, err error) {
	// go-json keeps invalid UTF-8 as it is where encoding/json (and so
	// slackevents) replaces it with U+FFFD: such frames go the standard
	// way, so that stored text is always valid UTF-8.
	if utf8.Valid(data) {
		var f messageFrame
		if gojson.Unmarshal(data, &f) == nil && f.Type == socketmode.RequestTypeEventsAPI && f.EnvelopeID != "" &&
			f.Payload != nil && f.Payload.Type == slackevents.CallbackEvent && f.Payload.Event != nil && f.Payload.Event.Type == "message" {
			p := f.Payload
			outer := &slackevents.EventsAPICallbackEvent{
				Type: p.Type, Token: p.Token, TeamID: p.TeamID, APIAppID: p.APIAppID, EnterpriseID: p.EnterpriseID,
				EventID: p.EventID, EventTime: p.EventTime, IsExtSharedChannel: p.IsExtSharedChannel,
			}
			req = socketmode.Request{Type: f.Type, EnvelopeID: f.EnvelopeID, AcceptsResponsePayload: f.AcceptsResponsePayload,
				RetryAttempt: f.RetryAttempt, RetryReason: f.RetryReason}
			return req, messageEventsAPI(outer, p.Event), nil
		}
	}
	err = gojson.Unmarshal(data, &req)
	return req, nil, err
}

// reactionFields are the fields of a reaction_added or reaction_removed
// event, with the item's file left raw: Slack sends it as the file's id, a
// string ({"type":"file","file":"F123"}), where slackevents expects an
// object and fails to decode the whole event.
type reactionFields struct {
	Type     string `json:"type"`
	User     string `json:"user"`
	Reaction string `json:"reaction"`
	ItemUser string `json:"item_user"`
	Item     struct {
		Type      string          `json:"type"`
		Channel   string          `json:"channel"`
		Timestamp string          `json:"ts"`
		File      json.RawMessage `json:"file"`
	} `json:"item"`
	EventTimestamp string `json:"event_ts"`
}

// decodeReactionEvent decodes a reaction_added or reaction_removed event
// that slackevents.ParseEvent could not, into the same types it returns
// (ReactionAddedEvent, ReactionRemovedEvent), with Item.File set from a
// file id given as a string or as an object; false for anything else.
func decodeReactionEvent(payload []byte) (slackevents.EventsAPIEvent, bool) {
	var outer slackevents.EventsAPICallbackEvent
	if err := json.Unmarshal(payload, &outer); err != nil || outer.Type != slackevents.CallbackEvent || outer.InnerEvent == nil {
		return slackevents.EventsAPIEvent{}, false
	}
	var r reactionFields
	if err := json.Unmarshal(*outer.InnerEvent, &r); err != nil {
		return slackevents.EventsAPIEvent{}, false
	}
	item := slackevents.Item{Type: r.Item.Type, Channel: r.Item.Channel, Timestamp: r.Item.Timestamp}
	var id string
	var f slackevents.File
	switch {
	case json.Unmarshal(r.Item.File, &id) == nil && id != "":
		item.File = &slackevents.File{ID: id}
	case json.Unmarshal(r.Item.File, &f) == nil && f.ID != "":
		item.File = &f
	}
	var data any
	switch r.Type {
	case "reaction_added":
		data = &slackevents.ReactionAddedEvent{Type: r.Type, User: r.User, Reaction: r.Reaction, ItemUser: r.ItemUser, Item: item, EventTimestamp: r.EventTimestamp}
	case "reaction_removed":
		data = &slackevents.ReactionRemovedEvent{Type: r.Type, User: r.User, Reaction: r.Reaction, ItemUser: r.ItemUser, Item: item, EventTimestamp: r.EventTimestamp}
	default:
		return slackevents.EventsAPIEvent{}, false
	}
	return slackevents.EventsAPIEvent{
		Token: outer.Token, TeamID: outer.TeamID, Type: outer.Type, APIAppID: outer.APIAppID,
		EnterpriseID: outer.EnterpriseID, IsExtSharedChannel: outer.IsExtSharedChannel, Data: &outer,
		InnerEvent: slackevents.EventsAPIInnerEvent{Type: r.Type, Data: data},
	}, true
}
