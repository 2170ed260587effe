package bot

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// fuzzFrame is a Socket Mode frame as Slack (and internal/slackemu) writes
// it: an envelope of kind around payload.
func fuzzFrame(kind, payload string) string {
	f := `{"envelope_id":"0b4c5f7e-1b2a-4c1e-9a55-6f2d1c3b4a5e","payload":` + payload + `,"type":"` + kind +
		`","accepts_response_payload":` + strconv.FormatBool(kind != "events_api")
	if kind == "events_api" {
		f += `,"retry_attempt":0,"retry_reason":""`
	}
	return f + "}"
}

// fuzzCallback is an events_api frame whose event_callback carries event.
func fuzzCallback(event string) string {
	return fuzzFrame("events_api", `{"token":"verification-token","team_id":"T1","api_app_id":"A1","event":`+event+
		`,"type":"event_callback","event_id":"Ev00000001","event_time":1700000000,"authorizations":[{"enterprise_id":null,`+
		`"team_id":"T1","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}],"is_ext_shared_channel":false,`+
		`"event_context":"4-eyJhaWQiOiJBMSJ9"}`)
}

// fuzzFrames are realistic frames of every kind the bot reads, in the shapes
// internal/slackemu writes.
func fuzzFrames() []string {
	const file = `{"id":"F1","created":1700000000,"timestamp":1700000000,"name":"graph.png","title":"graph","mimetype":"image/png",` +
		`"filetype":"png","pretty_type":"PNG","user":"U1","user_team":"T1","editable":false,"size":3,"mode":"hosted",` +
		`"is_external":false,"external_type":"","is_public":true,"url_private":"https://files.example/F1/graph.png",` +
		`"permalink":"https://t1.slack.example/files/U1/F1/graph.png"}`
	msg := func(fields string) string {
		return `{"type":"message","ts":"1700000100.000200","text":"DB latency is up &lt;b&gt; <@U2> <!here>","team":"T1",` + fields + `}`
	}
	return []string{
		`{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1","build_number":1,"approximate_connection_time":18060},"connection_info":{"app_id":"A1"}}`,
		`{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}`,
		`{"type":"disconnect","reason":"warning","debug_info":{"host":"applink-1"}}`,
		// A new message, a thread reply, the bot's own message, a file share.
		fuzzCallback(msg(`"user":"U1","client_msg_id":"c1","channel":"C1","event_ts":"1700000100.000200","channel_type":"channel"`)),
		fuzzCallback(msg(`"user":"U2","thread_ts":"1700000000.000100","parent_user_id":"U1","channel":"C1","event_ts":"1700000100.000200","channel_type":"channel"`)),
		fuzzCallback(msg(`"subtype":"thread_broadcast","user":"U2","thread_ts":"1700000000.000100","root":{"type":"message","ts":"1700000000.000100","text":"root","user":"U1","thread_ts":"1700000000.000100"},"channel":"C1","event_ts":"1700000100.000200"`)),
		fuzzCallback(msg(`"user":"UBOT","bot_id":"BBOT","app_id":"A1","bot_profile":{"id":"BBOT","name":"incidentbot","app_id":"A1","team_id":"T1"},"channel":"C1","event_ts":"1700000100.000200"`)),
		fuzzCallback(msg(`"subtype":"bot_message","bot_id":"B2","username":"deploys","channel":"C1","event_ts":"1700000100.000200"`)),
		fuzzCallback(msg(`"subtype":"file_share","user":"U1","files":[` + file + `],"upload":false,"display_as_bot":false,"channel":"C1","event_ts":"1700000100.000200"`)),
		fuzzCallback(msg(`"subtype":"me_message","user":"U1","channel":"C1","event_ts":"1700000100.000200"`)),
		fuzzCallback(msg(`"subtype":"channel_join","user":"U3","channel":"C1","event_ts":"1700000100.000200"`)),
		// An edit, an unfurl (same text), the bot's edit, deletions.
		fuzzCallback(`{"type":"message","subtype":"message_changed","message":{"type":"message","ts":"1700000100.000200","text":"DB latency is up (edited)",` +
			`"user":"U1","team":"T1","edited":{"user":"U1","ts":"1700000200.000300"},"source_team":"T1","user_team":"T1"},` +
			`"previous_message":{"type":"message","ts":"1700000100.000200","text":"DB latency is up","user":"U1","team":"T1"},` +
			`"channel":"C1","hidden":true,"ts":"1700000200.000400","event_ts":"1700000200.000400","channel_type":"channel"}`),
		fuzzCallback(`{"type":"message","subtype":"message_changed","message":{"type":"message","ts":"1700000100.000200","text":"same",` +
			`"user":"U1","thread_ts":"1700000000.000100","attachments":[{"title":"unfurl"}]},"previous_message":{"type":"message","ts":"1700000100.000200","text":"same","user":"U1"},` +
			`"channel":"C1","hidden":true,"ts":"1700000200.000400","event_ts":"1700000200.000400"}`),
		fuzzCallback(`{"type":"message","subtype":"message_changed","message":{"type":"message","ts":"1.2","text":"header","bot_id":"BBOT"},"channel":"C1","hidden":true,"event_ts":"1700000200.000400"}`),
		fuzzCallback(`{"type":"message","subtype":"message_changed","channel":"C1","hidden":true,"event_ts":"1700000200.000400"}`),
		fuzzCallback(`{"type":"message","subtype":"message_deleted","previous_message":{"type":"message","ts":"1700000100.000200","text":"oops","user":"U1","thread_ts":"1700000000.000100"},` +
			`"channel":"C1","hidden":true,"deleted_ts":"1700000100.000200","ts":"1700000300.000500","event_ts":"1700000300.000500","channel_type":"channel"}`),
		fuzzCallback(`{"type":"message","subtype":"message_deleted","channel":"C1","hidden":true,"deleted_ts":"1700000100.000200","ts":"1700000300.000500"}`),
		// Reactions and pins.
		fuzzCallback(`{"type":"reaction_added","user":"U1","reaction":"pushpin","item":{"type":"message","channel":"C1","ts":"1700000100.000200"},"item_user":"U2","event_ts":"1700000400.000600"}`),
		fuzzCallback(`{"type":"reaction_added","user":"U1","reaction":"eyes","item":{"type":"message","channel":"C1","ts":"1700000100.000200"},"item_user":"U2","event_ts":"1700000400.000600"}`),
		fuzzCallback(`{"type":"reaction_added","user":"U1","reaction":"pushpin","item":{"type":"file","file":"F1"},"event_ts":"1700000400.000600"}`),
		fuzzCallback(`{"type":"pin_added","user":"U1","channel_id":"C1","item":{"type":"message","created":1700000500,"channel":"C1",` +
			`"message":{"type":"message","ts":"1700000100.000200","text":"root cause: config push","user":"U2","permalink":"https://t1.slack.example/archives/C1/p1700000100000200"},"created_by":"U1"},` +
			`"item_user":"U2","pin_count":"1","pinned_info":{"channel":"C1","pinned_by":"U1","pinned_ts":1700000500},"event_ts":"1700000500.000700"}`),
		fuzzCallback(`{"type":"pin_added","user":"U1","channel_id":"C1","item":{"type":"file","created":1700000500,"channel":"C1","file":` + file + `},"event_ts":"1700000500.000700"}`),
		fuzzCallback(`{"type":"pin_removed","user":"UBOT","channel_id":"C1","item":{"type":"message","channel":"C1"},"has_pins":false,"event_ts":"1700000600.000800"}`),
		fuzzCallback(`{"type":"app_mention","user":"U1","text":"<@UBOT> help","ts":"1.1","channel":"C1","event_ts":"1.1"}`),
		fuzzCallback(`{"type":"no_such_event"}`),
		fuzzCallback(`null`),
		fuzzFrame("events_api", `{"token":"x","team_id":"T1","type":"url_verification","challenge":"abc"}`),
		fuzzFrame("events_api", `{"token":"x","team_id":"T1","type":"app_rate_limited","minute_rate_limited":1700000000,"api_app_id":"A1"}`),
		// A slash command and a modal submission.
		fuzzFrame("slash_commands", `{"token":"verification-token","team_id":"T1","team_domain":"t1","channel_id":"C1","channel_name":"inc-1-db",`+
			`"user_id":"U1","user_name":"alice","command":"/incident","text":"status identified &lt;b&gt; <@U2|bob>","api_app_id":"A1",`+
			`"is_enterprise_install":"false","response_url":"https://hooks.slack.example/commands/T1/1/abc","trigger_id":"1.2.abc"}`),
		fuzzFrame("slash_commands", `{"team_id":"T1","channel_id":"D1","channel_name":"directmessage","user_id":"U1","command":"/incident","text":"","trigger_id":"1.3"}`),
		fuzzFrame("interactive", `{"type":"view_submission","team":{"id":"T1","domain":"t1"},"user":{"id":"U1","username":"alice","name":"alice","team_id":"T1"},`+
			`"api_app_id":"A1","token":"verification-token","trigger_id":"1.4.def","view":{"id":"V1","type":"modal","callback_id":"incident_open",`+
			`"title":{"type":"plain_text","text":"Open an incident"},"blocks":[],"state":{"values":{"title":{"title":{"type":"plain_text_input","value":"Checkout down"}},`+
			`"severity":{"severity":{"type":"static_select","selected_option":{"text":{"type":"plain_text","text":"sev1"},"value":"sev1"}}},`+
			`"description":{"description":{"type":"plain_text_input","value":null}}}}},"response_urls":[],"is_enterprise_install":false,"enterprise":null}`),
		fuzzFrame("interactive", `{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},"actions":[{"action_id":"a","block_id":"b","type":"button","value":"v"}]}`),
		// Garbage.
		``, `{`, `null`, `[]`, `"hello"`, `{"type":42}`, `{"type":"events_api"}`, `{"type":"events_api","envelope_id":"e","payload":null}`,
		`{"type":"events_api","envelope_id":"e","payload":"a string"}`, `{"type":"events_api","envelope_id":"e","payload":[1,2]}`,
		`{"type":"slash_commands","envelope_id":"e","payload":{"text":7}}`, `{"type":"interactive","envelope_id":"e","payload":{"view":[]}}`,
		fuzzCallback(`{"type":"message","subtype":"file_share","files":[null,{"id":7}],"ts":"x.y"}`),
		fuzzCallback(`{"type":"message","ts":"99999999999999999999.1","text":"overflow"}`),
		fuzzCallback(`{"type":"reaction_added","user":"U1","reaction":"pushpin","item":{"type":"file","file":"F1"},"event_ts":"1.2"}`),
		fuzzCallback(`{"type":"reaction_removed","user":"U1","reaction":"pushpin","item":{"type":"file","file":{"id":"F1"}},"event_ts":"1.2"}`),
		fuzzCallback(`{"type":"message","subtype":"message_changed","message":null,"ts":"1.2"}`),
		fuzzCallback(`{"type":"message","text":"no ts"}`),
		strings.Repeat(`{"a":`, 100) + strings.Repeat(`}`, 100),
	}
}

// FuzzDecodeEnvelope feeds raw Socket Mode frames through what the reader
// does with them: the frame parsed as read does (decodeFrame), its payload
// decoded unless decodeFrame did, and an Events API event mapped to timeline
// events as onEvent does. None of it may panic, the bot's own messages are
// never recorded, and decodeFrame's one pass over a message event captures
// what slackevents.ParseEvent's full decoding would.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range fuzzFrames() {
		f.Add([]byte(s))
	}
	b := &Bot{botUserID: "UBOT", botID: "BBOT"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req socketmode.Request
		if err := json.Unmarshal(data, &req); err != nil {
			return
		}
		got, v, err := decodeFrame(data)
		if err != nil {
			return
		}
		if v != nil {
			// decodeFrame's one pass over a message event's frame.
			want := req
			want.Payload, want.NumConnections, want.ConnectionInfo, want.Reason, want.DebugInfo = nil, 0, socketmode.ConnectionInfo{}, "", socketmode.DebugInfo{}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeFrame: envelope %+v; encoding/json: %+v, for %s", got, want, data)
			}
		} else if v, err = decode(got); err != nil {
			return
		}
		eae, ok := v.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		c := b.captureEvent(eae)
		// decodeFrame takes a short cut for message events; what it makes
		// of one must be what slack-go's own parsing makes of it.
		if full, err := slackevents.ParseEvent(req.Payload, slackevents.OptionNoVerifyToken()); err == nil {
			if full.Type != eae.Type || full.TeamID != eae.TeamID {
				t.Fatalf("decoded: %s from team %q; slackevents: %s from team %q, for %s", eae.Type, eae.TeamID, full.Type, full.TeamID, data)
			}
			if want := b.captureEvent(full); !reflect.DeepEqual(c, want) {
				t.Fatalf("decode captures %+v; slackevents %+v, for %s", c, want, data)
			}
		}
		for _, e := range c.events {
			if e.Actor == "UBOT" {
				t.Fatalf("the bot's own activity was captured: %+v from %s", e, data)
			}
			if e.DedupKey == "" {
				t.Fatalf("an event without a dedup key: %+v from %s", e, data)
			}
		}
	})
}
