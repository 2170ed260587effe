package slackemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// newServer starts an emulator with fast pings that closes with the test.
func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 100 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func botAPI(s *Server) *slack.Client {
	return slack.New(s.Config().BotToken, slack.OptionAPIURL(s.URL()), slack.OptionAppLevelToken(s.Config().AppToken))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// slackErr returns the Slack error code of err ("" for nil).
func slackErr(err error) string {
	if err == nil {
		return ""
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return err.Error()
}

// acker decides how the socket client acknowledges a request: ack reports
// whether to acknowledge, payload is the ack payload (nil for none).
type acker func(api *slack.Client, evt socketmode.Event) (ack bool, payload any)

func ackAll(*slack.Client, socketmode.Event) (bool, any) { return true, nil }

// socketClient runs a real slack-go socketmode client against the emulator and
// forwards every request it receives (after acknowledging it) to got.
type socketClient struct {
	got    chan socketmode.Event
	cancel context.CancelFunc
	done   chan struct{}
}

func startSocket(t *testing.T, s *Server, handle acker, opts ...socketmode.Option) *socketClient {
	t.Helper()
	api := botAPI(s)
	if len(opts) == 0 {
		opts = []socketmode.Option{socketmode.OptionPingInterval(2 * time.Second)}
	}
	sm := socketmode.New(api, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	c := &socketClient{got: make(chan socketmode.Event, 256), cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() { _ = sm.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				if evt.Request != nil && evt.Type != socketmode.EventTypeHello && evt.Type != socketmode.EventTypeDisconnect {
					if ok, payload := handle(api, evt); ok {
						if payload != nil {
							_ = sm.Ack(*evt.Request, payload)
						} else {
							_ = sm.Ack(*evt.Request)
						}
					}
				}
				select {
				case c.got <- evt:
				default:
				}
			}
		}
	})
	go func() { wg.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	return c
}

func (c *socketClient) stop() {
	c.cancel()
	<-c.done
}

// next returns the next received event of type typ, skipping others.
func (c *socketClient) next(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case evt := <-c.got:
			if evt.Type == typ {
				return evt
			}
		case <-timeout:
			t.Fatalf("no %s event within 5s", typ)
			return socketmode.Event{}
		}
	}
}

// nextEvent returns the next Events API event.
func (c *socketClient) nextEvent(t *testing.T) (slackevents.EventsAPIEvent, *socketmode.Request) {
	t.Helper()
	evt := c.next(t, socketmode.EventTypeEventsAPI)
	return evt.Data.(slackevents.EventsAPIEvent), evt.Request
}

// quiet asserts that no Events API event arrives for d.
func (c *socketClient) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case evt := <-c.got:
			if evt.Type == socketmode.EventTypeEventsAPI {
				t.Fatalf("unexpected event: %+v", evt.Data)
			}
		case <-timeout:
			return
		}
	}
}

func TestAuth(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	api := botAPI(s)

	resp, err := api.AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != s.BotUserID() || resp.TeamID != "T0001" || resp.BotID != s.BotID() || resp.User != "incidentbot" {
		t.Errorf("auth.test = %+v", resp)
	}

	tests := []struct {
		name, token, want string
	}{
		{"wrong token", "xoxb-wrong", "invalid_auth"},
		{"no token", "", "not_authed"},
		{"app token for a bot method", s.Config().AppToken, "not_allowed_token_type"},
	}
	for _, tt := range tests {
		_, err := slack.New(tt.token, slack.OptionAPIURL(s.URL())).AuthTestContext(ctx)
		if got := slackErr(err); got != tt.want {
			t.Errorf("%s: error %q, want %q", tt.name, got, tt.want)
		}
	}
	_, _, err = slack.New(s.Config().BotToken, slack.OptionAPIURL(s.URL()), slack.OptionAppLevelToken(s.Config().BotToken)).StartSocketModeContext(ctx)
	if got := slackErr(err); got != "not_allowed_token_type" {
		t.Errorf("apps.connections.open with the bot token: %q", got)
	}
	_, wsURL, err := api.StartSocketModeContext(ctx)
	if err != nil || !strings.HasPrefix(wsURL, "ws://127.0.0.1:") || !strings.Contains(wsURL, "/link/?ticket=") {
		t.Errorf("apps.connections.open = %q, %v", wsURL, err)
	}

	// An unknown method, and a JSON body whose token is not in the header.
	if got := rawPost(t, s, "no.such", "application/json", `{}`, s.Config().BotToken)["error"]; got != "unknown_method" {
		t.Errorf("unknown method: %v", got)
	}
	if got := rawPost(t, s, "auth.test", "application/json; charset=utf-8", `{"token":"xoxb-emulator"}`, "")["error"]; got != "not_authed" {
		t.Errorf("token in JSON body: %v", got)
	}

	for _, c := range s.Calls("") {
		if bytes.Contains(c.Body, []byte("xoxb-emulator")) || bytes.Contains(c.Body, []byte("xapp-emulator")) || c.Params.Has("token") {
			t.Errorf("call %s recorded a token: %s", c.Method, c.Body)
		}
	}
	if calls := s.Calls("auth.test"); len(calls) != 5 || calls[0].TokenType != "bot" || calls[1].Error != "invalid_auth" {
		t.Errorf("auth.test calls = %+v", calls)
	}
}

// rawPost posts body to a method and decodes the answer.
func rawPost(t *testing.T, s *Server, method, contentType, body, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+method, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJSONBody(t *testing.T) {
	s := newServer(t, Config{})
	ch := s.CreateChannel("ops", s.BotUserID())
	out := rawPost(t, s, "chat.postMessage", "application/json; charset=utf-8", `{"channel":"`+ch+`","text":"from json","unfurl_links":false}`, s.Config().BotToken)
	if out["ok"] != true || out["warning"] != nil {
		t.Fatalf("chat.postMessage with JSON: %v", out)
	}
	out = rawPost(t, s, "chat.postMessage", "application/json", `{"channel":"`+ch+`","text":"no charset"}`, s.Config().BotToken)
	if out["ok"] != true || out["warning"] != "missing_charset" {
		t.Errorf("JSON without charset: %v", out)
	}
	msgs := s.Messages(ch)
	if len(msgs) != 2 || msgs[0].Text != "from json" || msgs[0].BotID != s.BotID() {
		t.Errorf("messages = %+v", msgs)
	}
	if c := s.Calls("chat.postMessage")[0]; c.Params.Get("unfurl_links") != "false" || !strings.Contains(string(c.Body), "from json") {
		t.Errorf("recorded call = %+v", c)
	}
}

func TestConversationsCreate(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	tests := []struct {
		name, want string
	}{
		{"", "invalid_name_required"},
		{strings.Repeat("a", 81), "invalid_name_maxlength"},
		{strings.Repeat("a", 80), ""},
		{"Inc-1", "invalid_name_specials"},
		{"inc 1", "invalid_name_specials"},
		{"inc.1", "invalid_name_specials"},
		{"---", "invalid_name_punctuation"},
		{"inc-1-db_down", ""},
		{"inc-1-db_down", "name_taken"},
	}
	for _, tt := range tests {
		ch, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: tt.name})
		if got := slackErr(err); got != tt.want {
			t.Errorf("create %q: error %q, want %q", tt.name, got, tt.want)
			continue
		}
		if err == nil && (ch.Name != tt.name || !ch.IsMember || !ch.IsChannel || ch.IsPrivate || ch.Creator != s.BotUserID()) {
			t.Errorf("create %q = %+v", tt.name, ch)
		}
	}
	priv, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "secret", IsPrivate: true})
	if err != nil || !priv.IsPrivate {
		t.Fatalf("private channel: %+v, %v", priv, err)
	}
	got, ok := s.ChannelByName("inc-1-db_down")
	if !ok || len(got.Members) != 1 || got.Members[0] != s.BotUserID() {
		t.Errorf("ChannelByName = %+v, %v", got, ok)
	}
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: got.ID, IncludeNumMembers: true})
	if err != nil || info.Name != "inc-1-db_down" || info.NumMembers != 1 {
		t.Errorf("conversations.info = %+v, %v", info, err)
	}
	if _, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C404"}); slackErr(err) != "channel_not_found" {
		t.Errorf("info of unknown channel: %v", err)
	}
}

func TestInviteJoinMembers(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice", RealName: "Alice Adams", Email: "alice@example.com"}).ID
	bob := s.AddUser(User{RealName: "Bob Brown"}).ID
	ch, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.InviteUsersToConversationContext(ctx, ch.ID, alice); err != nil {
		t.Fatalf("invite: %v", err)
	}
	tests := []struct {
		channel string
		users   []string
		want    string
	}{
		{ch.ID, []string{alice}, "already_in_channel"},
		{ch.ID, []string{"U404"}, "user_not_found"},
		{ch.ID, []string{s.BotUserID()}, "cant_invite_self"},
		{"C404", []string{bob}, "channel_not_found"},
		{ch.ID, []string{bob, alice}, "already_in_channel"}, // nobody invited
	}
	for _, tt := range tests {
		_, err := api.InviteUsersToConversationContext(ctx, tt.channel, tt.users...)
		if got := slackErr(err); !strings.Contains(got, tt.want) {
			t.Errorf("invite %v to %s: %q, want %q", tt.users, tt.channel, got, tt.want)
		}
	}
	members, _, err := api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: ch.ID})
	if err != nil || strings.Join(members, ",") != s.BotUserID()+","+alice {
		t.Errorf("members = %v, %v", members, err)
	}

	// Paging through members.
	pub := s.CreateChannel("general", alice, bob)
	page, cursor, err := api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: pub, Limit: 1})
	if err != nil || len(page) != 1 || page[0] != alice || cursor == "" {
		t.Fatalf("first member page = %v %q %v", page, cursor, err)
	}
	page, cursor, err = api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: pub, Limit: 1, Cursor: cursor})
	if err != nil || len(page) != 1 || page[0] != bob || cursor != "" {
		t.Errorf("second member page = %v %q %v", page, cursor, err)
	}

	// The bot joins a public channel; joining again warns.
	if _, err := api.InviteUsersToConversationContext(ctx, pub, bob); slackErr(err) != "not_in_channel" {
		t.Errorf("invite while not a member: %v", err)
	}
	if _, warning, _, err := api.JoinConversationContext(ctx, pub); err != nil || warning != "" {
		t.Fatalf("join: %q %v", warning, err)
	}
	if _, warning, _, err := api.JoinConversationContext(ctx, pub); err != nil || warning != "already_in_channel" {
		t.Errorf("second join: %q %v", warning, err)
	}
	priv := s.CreatePrivateChannel("secret", alice)
	if _, _, _, err := api.JoinConversationContext(ctx, priv); slackErr(err) != "channel_not_found" {
		t.Errorf("join invisible private channel: %v", err)
	}
}

func TestUsers(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice", RealName: "Alice Adams", DisplayName: "Al", Email: "alice@example.com"})
	u, err := api.GetUserInfoContext(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "alice" || u.RealName != "Alice Adams" || u.Profile.DisplayName != "Al" || u.Profile.Email != "alice@example.com" || u.IsBot {
		t.Errorf("users.info = %+v", u)
	}
	bot, err := api.GetUserInfoContext(ctx, s.BotUserID())
	if err != nil || !bot.IsBot || bot.Profile.BotID != s.BotID() {
		t.Errorf("bot users.info = %+v, %v", bot, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U404"); slackErr(err) != "user_not_found" {
		t.Errorf("unknown user: %v", err)
	}
	byMail, err := api.GetUserByEmailContext(ctx, "ALICE@example.com")
	if err != nil || byMail.ID != alice.ID {
		t.Errorf("lookupByEmail = %+v, %v", byMail, err)
	}
	if _, err := api.GetUserByEmailContext(ctx, "nobody@example.com"); slackErr(err) != "users_not_found" {
		t.Errorf("unknown email: %v", err)
	}
}

func TestChat(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	bob := s.AddUser(User{Name: "bob"}).ID
	outside := s.CreateChannel("outside", alice)
	ch := s.CreateChannel("inc-3", s.BotUserID(), alice)

	if _, _, err := api.PostMessageContext(ctx, outside, slack.MsgOptionText("hi", false)); slackErr(err) != "not_in_channel" {
		t.Errorf("post in a channel the bot is not in: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C404", slack.MsgOptionText("hi", false)); slackErr(err) != "channel_not_found" {
		t.Errorf("post in unknown channel: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch); slackErr(err) != "no_text" {
		t.Errorf("post without text: %v", err)
	}
	long := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("x", 3001), false, false), nil, nil)
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionBlocks(long)); slackErr(err) != "invalid_blocks" {
		t.Errorf("post with a too long section: %v", err)
	}

	section := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*INC-3* opened", false, false), nil, nil)
	chID, ts, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("INC-3 opened", false), slack.MsgOptionBlocks(section))
	if err != nil || chID != ch {
		t.Fatalf("post: %q %v", chID, err)
	}
	_, replyTS, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts))
	if err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages(ch)
	if len(msgs) != 2 || msgs[0].TS != ts || msgs[0].BotID != s.BotID() || msgs[0].User != s.BotUserID() ||
		msgs[0].BlockText() != "*INC-3* opened" || msgs[1].ThreadTS != ts || msgs[1].TS != replyTS {
		t.Errorf("messages = %+v", msgs)
	}

	// A DM by user id opens a D... conversation.
	dm, _, err := api.PostMessageContext(ctx, bob, slack.MsgOptionText("you have an overdue action item", false))
	if err != nil || !strings.HasPrefix(dm, "D") {
		t.Fatalf("DM: %q %v", dm, err)
	}
	if got := s.DMs(bob); len(got) != 1 || got[0] != "you have an overdue action item" {
		t.Errorf("DMs = %v", got)
	}

	// Ephemeral messages.
	if _, err := api.PostEphemeralContext(ctx, ch, alice, slack.MsgOptionText("only you", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PostEphemeralContext(ctx, ch, bob, slack.MsgOptionText("x", false)); slackErr(err) != "user_not_in_channel" {
		t.Errorf("ephemeral to a non-member: %v", err)
	}
	if _, err := api.PostEphemeralContext(ctx, ch, "U404", slack.MsgOptionText("x", false)); slackErr(err) != "user_not_found" {
		t.Errorf("ephemeral to unknown user: %v", err)
	}
	if got := s.Ephemerals(ch, alice); len(got) != 1 || got[0] != "only you" {
		t.Errorf("Ephemerals = %v", got)
	}
	if len(s.Messages(ch)) != 2 {
		t.Error("an ephemeral message was stored in the channel")
	}

	// Updates and permalinks.
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText("INC-3 opened (sev2)", false)); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(ch)[0]; m.Text != "INC-3 opened (sev2)" || !m.Edited || m.BlockText() != "*INC-3* opened" {
		t.Errorf("updated message = %+v", m)
	}
	userTS := s.PostMessage(alice, ch, "hello")
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, userTS, slack.MsgOptionText("x", false)); slackErr(err) != "cant_update_message" {
		t.Errorf("update a user's message: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, "1.000001", slack.MsgOptionText("x", false)); slackErr(err) != "message_not_found" {
		t.Errorf("update unknown message: %v", err)
	}
	var kinds []string
	for _, a := range s.Activity(0) {
		kinds = append(kinds, a.Kind+":"+a.To+":"+a.Text)
	}
	wantKinds := []string{
		"message::INC-3 opened", "message::in thread", "message:" + bob + ":you have an overdue action item",
		"ephemeral:" + alice + ":only you", "edit::INC-3 opened (sev2)", "message::hello",
	}
	if strings.Join(kinds, "|") != strings.Join(wantKinds, "|") {
		t.Errorf("Activity = %q\nwant %q", kinds, wantKinds)
	}
	if got := s.Activity(5); len(got) != 1 || got[0].Seq != 5 || got[0].User != alice || got[0].Name != "inc-3" {
		t.Errorf("Activity(5) = %+v", got)
	}
	link, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ch, Ts: ts})
	if want := "https://emulator.slack.com/archives/" + ch + "/p" + strings.Replace(ts, ".", "", 1); err != nil || link != want {
		t.Errorf("permalink = %q, %v; want %q", link, err, want)
	}
}

func TestPins(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	ch := s.CreateChannel("inc-4", s.BotUserID())
	_, ts, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("header", false))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ts, want string
	}{
		{ts, ""},
		{ts, "already_pinned"},
		{"1.000001", "message_not_found"},
	}
	for _, tt := range tests {
		if got := slackErr(api.AddPinContext(ctx, ch, slack.NewRefToMessage(ch, tt.ts))); got != tt.want {
			t.Errorf("pin %s: %q, want %q", tt.ts, got, tt.want)
		}
	}
	if c, _ := s.Channel(ch); len(c.Pins) != 1 || c.Pins[0] != ts {
		t.Errorf("pins = %v", c.Pins)
	}
	if !s.Messages(ch)[0].Pinned {
		t.Error("message not marked pinned")
	}
}

func TestHistoryPaging(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-5", s.BotUserID(), alice)
	var top []string
	for i := range 7 {
		top = append(top, s.PostMessage(alice, ch, fmt.Sprintf("m%d", i)))
	}
	reply := s.PostReply(alice, ch, top[1], "reply")
	_, bcast, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("broadcast", false), slack.MsgOptionTS(top[1]), slack.MsgOptionBroadcast())
	if err != nil {
		t.Fatal(err)
	}
	s.DeleteMessage(ch, top[6])
	want := []string{bcast, top[5], top[4], top[3], top[2], top[1], top[0]}

	var got []string
	cursor := ""
	pages := 0
	for {
		resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range resp.Messages {
			got = append(got, m.Timestamp)
			if m.Timestamp == top[1] && (m.ReplyCount != 2 || m.ThreadTimestamp != top[1]) {
				t.Errorf("thread parent = %+v", m.Msg)
			}
		}
		if resp.HasMore != (resp.ResponseMetaData.NextCursor != "") {
			t.Errorf("has_more %v with cursor %q", resp.HasMore, resp.ResponseMetaData.NextCursor)
		}
		if !resp.HasMore {
			break
		}
		cursor = resp.ResponseMetaData.NextCursor
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || pages != 3 {
		t.Errorf("history (%d pages) = %v, want %v", pages, got, want)
	}

	// oldest/latest bounds, exclusive unless inclusive.
	rng := []struct {
		oldest, latest string
		inclusive      bool
		want           []string
	}{
		{top[2], top[4], false, []string{top[3]}},
		{top[2], top[4], true, []string{top[4], top[3], top[2]}},
		{top[4], "", false, []string{bcast, top[5]}},
	}
	for _, r := range rng {
		resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch, Oldest: r.oldest, Latest: r.latest, Inclusive: r.inclusive})
		if err != nil {
			t.Fatal(err)
		}
		var ts []string
		for _, m := range resp.Messages {
			ts = append(ts, m.Timestamp)
		}
		if strings.Join(ts, " ") != strings.Join(r.want, " ") {
			t.Errorf("history %s..%s inclusive=%v = %v, want %v", r.oldest, r.latest, r.inclusive, ts, r.want)
		}
	}

	replies, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: reply})
	if err != nil || len(replies) != 3 || replies[0].Timestamp != top[1] || replies[1].Timestamp != reply || replies[2].Timestamp != bcast ||
		replies[1].ParentUserId != alice {
		t.Errorf("replies = %+v, %v", replies, err)
	}
	if _, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: "1.000001"}); slackErr(err) != "thread_not_found" {
		t.Errorf("replies of unknown thread: %v", err)
	}
	outside := s.CreateChannel("outside", alice)
	if _, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: outside}); slackErr(err) != "not_in_channel" {
		t.Errorf("history of a channel the bot is not in: %v", err)
	}
}

func TestUploadV2(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	ch := s.CreateChannel("inc-6", s.BotUserID())
	content := "# INC-6 post-mortem\n\nroot cause: pool exhaustion\n"
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Channel:        ch,
		Filename:       "INC-6-postmortem.md",
		Title:          "INC-6 post-mortem",
		FileSize:       len(content),
		Reader:         strings.NewReader(content),
		InitialComment: "post-mortem draft",
	})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := s.File(sum.ID)
	if !ok || string(f.Content) != content || f.Name != "INC-6-postmortem.md" || f.Title != "INC-6 post-mortem" || f.Filetype != "markdown" {
		t.Errorf("File = %+v, %v", f, ok)
	}
	msgs := s.Messages(ch)
	if len(msgs) != 1 || msgs[0].Subtype != "file_share" || msgs[0].Text != "post-mortem draft" || len(msgs[0].Files) != 1 ||
		string(msgs[0].Files[0].Content) != content || msgs[0].BotID != s.BotID() {
		t.Errorf("messages = %+v", msgs)
	}
	for _, m := range []string{"files.getUploadURLExternal", "upload", "files.completeUploadExternal"} {
		if calls := s.Calls(m); len(calls) != 1 || calls[0].Status != http.StatusOK {
			t.Errorf("%s calls = %+v", m, calls)
		}
	}

	// The bot can download the file through url_private.
	var buf bytes.Buffer
	msg := s.Messages(ch)[0]
	_ = msg
	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch})
	if err != nil || len(hist.Messages) != 1 || len(hist.Messages[0].Files) != 1 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	if err := api.GetFileContext(ctx, hist.Messages[0].Files[0].URLPrivateDownload, &buf); err != nil || buf.String() != content {
		t.Errorf("download = %q, %v", buf.String(), err)
	}

	// Completing an upload twice, or into a channel the bot is not in, fails.
	if _, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: sum.ID}}, Channel: ch}); slackErr(err) != "file_not_found" {
		t.Errorf("complete twice: %v", err)
	}
}

func TestRateLimitAndFaults(t *testing.T) {
	s := newServer(t, Config{})
	api := botAPI(s)
	ctx := ctxT(t)
	ch := s.CreateChannel("inc-7", s.BotUserID())

	s.FailNext("chat.postMessage", 1, http.StatusTooManyRequests, 2*time.Second)
	_, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Fatalf("rate limited error = %#v", err)
	}
	s.FailNext("*", 1, http.StatusServiceUnavailable, 0)
	_, _, err = api.PostMessageContext(ctx, ch, slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
		t.Fatalf("503 error = %#v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	if n := len(s.Messages(ch)); n != 1 {
		t.Errorf("%d messages stored, want 1 (failed calls must not store)", n)
	}
	calls := s.Calls("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != 429 || calls[0].Error != "ratelimited" || calls[1].Status != 503 || calls[2].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}

	s.SetLatency("auth.test", 150*time.Millisecond)
	start := time.Now()
	if _, err := api.AuthTestContext(ctx); err != nil || time.Since(start) < 150*time.Millisecond {
		t.Errorf("latency: %v after %v", err, time.Since(start))
	}
}

// TestWire checks the raw Socket Mode frames: hello, pings, an events_api
// envelope and a slash_commands envelope, and that a plain ack is accepted.
func TestWire(t *testing.T) {
	s := newServer(t, Config{PingInterval: 50 * time.Millisecond})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-8", s.BotUserID(), alice)

	_, wsURL, err := botAPI(s).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pings := make(chan string, 16)
	conn.SetPingHandler(func(data string) error {
		select {
		case pings <- data:
		default:
		}
		return nil
	})
	read := func() map[string]any {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	hello := read()
	if hello["type"] != "hello" || hello["num_connections"] != 1.0 ||
		hello["connection_info"].(map[string]any)["app_id"] != "A0001" || hello["debug_info"].(map[string]any)["host"] == "" {
		t.Errorf("hello = %v", hello)
	}
	// A used ticket is refused.
	if _, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil); err == nil {
		t.Error("a websocket URL could be used twice")
	}

	ts := s.PostMessage(alice, ch, "hello <@"+s.BotUserID()+">")
	env := read()
	payload := env["payload"].(map[string]any)
	event := payload["event"].(map[string]any)
	if env["type"] != "events_api" || env["accepts_response_payload"] != false || env["retry_attempt"] != 0.0 || env["retry_reason"] != "" ||
		env["envelope_id"] == "" || payload["type"] != "event_callback" || payload["team_id"] != "T0001" || payload["api_app_id"] != "A0001" ||
		!strings.HasPrefix(payload["event_id"].(string), "Ev") || payload["authorizations"].([]any)[0].(map[string]any)["user_id"] != s.BotUserID() ||
		event["type"] != "message" || event["ts"] != ts || event["channel"] != ch || event["channel_type"] != "channel" || event["user"] != alice {
		t.Errorf("events_api envelope = %v", env)
	}
	if err := conn.WriteJSON(map[string]string{"envelope_id": env["envelope_id"].(string)}); err != nil {
		t.Fatal(err)
	}

	go func() { _, _ = s.SlashCommand(ctx, alice, ch, "status investigating db") }()
	cmd := read()
	p := cmd["payload"].(map[string]any)
	if cmd["type"] != "slash_commands" || cmd["accepts_response_payload"] != true || p["command"] != "/incident" ||
		p["text"] != "status investigating db" || p["channel_id"] != ch || p["channel_name"] != "inc-8" || p["user_id"] != alice ||
		p["user_name"] != "alice" || p["is_enterprise_install"] != "false" || !strings.HasPrefix(p["response_url"].(string), "http://127.0.0.1:") ||
		p["trigger_id"] == "" {
		t.Errorf("slash_commands envelope = %v", cmd)
	}
	if _, ok := cmd["retry_attempt"]; ok {
		t.Error("a slash command envelope has retry_attempt")
	}
	if err := conn.WriteJSON(map[string]any{"envelope_id": cmd["envelope_id"], "payload": map[string]string{"text": "ok"}}); err != nil {
		t.Fatal(err)
	}

	// Reading keeps the ping handler running.
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pings:
	case <-time.After(2 * time.Second):
		t.Error("no websocket ping")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.UnackedCount() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.UnackedCount(); n != 0 || len(s.AckedEnvelopes()) != 2 || !s.Acked(env["envelope_id"].(string)) {
		t.Errorf("unacked %d, acked %v", n, s.AckedEnvelopes())
	}
}

func TestSocketModeEvents(t *testing.T) {
	s := newServer(t, Config{})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-9", s.BotUserID(), alice)
	other := s.CreateChannel("random", alice)
	sc := startSocket(t, s, ackAll)
	sc.next(t, socketmode.EventTypeHello)

	msg := func() *slackevents.MessageEvent {
		t.Helper()
		ev, _ := sc.nextEvent(t)
		m, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent)
		if !ok {
			t.Fatalf("event %T, want message", ev.InnerEvent.Data)
		}
		return m
	}

	ts := s.PostMessage(alice, ch, "db is down")
	if m := msg(); m.Text != "db is down" || m.User != alice || m.TimeStamp != ts || m.Channel != ch || m.SubType != "" || m.ChannelType != "channel" {
		t.Errorf("message = %+v", m)
	}
	rts := s.PostReply(alice, ch, ts, "in thread")
	if m := msg(); m.ThreadTimeStamp != ts || m.TimeStamp != rts {
		t.Errorf("reply = %+v", m)
	}
	s.EditMessage(alice, ch, ts, "db is down (primary)")
	if m := msg(); m.SubType != "message_changed" || m.Message.Text != "db is down (primary)" || m.Message.Timestamp != ts ||
		m.PreviousMessage.Text != "db is down" || m.Message.Edited == nil || m.Message.Edited.User != alice {
		t.Errorf("message_changed = %+v / %+v / %+v", m, m.Message, m.PreviousMessage)
	}
	s.DeleteMessage(ch, rts)
	if m := msg(); m.SubType != "message_deleted" || m.DeletedTimeStamp != rts || m.PreviousMessage.Text != "in thread" {
		t.Errorf("message_deleted = %+v", m)
	}
	s.ShareFile(alice, ch, "graph.png", "pool saturation")
	if m := msg(); m.SubType != "file_share" || len(m.Message.Files) != 1 || m.Message.Files[0].Name != "graph.png" || m.Text != "pool saturation" {
		t.Errorf("file_share = %+v", m)
	}
	s.AddReaction(alice, ch, ts, ":pushpin:")
	ev, _ := sc.nextEvent(t)
	if r, ok := ev.InnerEvent.Data.(*slackevents.ReactionAddedEvent); !ok || r.Reaction != "pushpin" || r.Item.Timestamp != ts || r.Item.Channel != ch || r.User != alice || r.ItemUser != alice {
		t.Errorf("reaction_added = %#v", ev.InnerEvent.Data)
	}
	s.PinMessage(alice, ch, ts)
	ev, _ = sc.nextEvent(t)
	if p, ok := ev.InnerEvent.Data.(*slackevents.PinAddedEvent); !ok || p.Channel != ch || p.User != alice || p.Item.Message == nil || p.Item.Message.Timestamp != ts {
		t.Errorf("pin_added = %#v", ev.InnerEvent.Data)
	}
	if c, _ := s.Channel(ch); len(c.Pins) != 1 || c.Pins[0] != ts {
		t.Errorf("pins = %v", c.Pins)
	}

	// The bot's own posts come back as events, with bot_id and app_id.
	if _, _, err := botAPI(s).PostMessage(ch, slack.MsgOptionText("INC-9 opened", false)); err != nil {
		t.Fatal(err)
	}
	if m := msg(); m.BotID != s.BotID() || m.User != s.BotUserID() || m.Text != "INC-9 opened" {
		t.Errorf("bot message = %+v", m)
	}

	// Nothing is delivered for channels the bot is not in.
	s.PostMessage(alice, other, "lunch?")
	sc.quiet(t, 200*time.Millisecond)

	raw := s.EmitRawEvent(map[string]any{"type": "app_mention", "user": alice, "text": "<@" + s.BotUserID() + "> hi", "channel": other, "ts": "1.000001"})
	ev, _ = sc.nextEvent(t)
	if a, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent); !ok || a.User != alice {
		t.Errorf("raw event = %#v", ev.InnerEvent.Data)
	}
	if ids := s.EventIDs(ch); len(ids) != 8 {
		t.Errorf("EventIDs = %v", ids)
	}
	if s.LastEventID() != raw {
		t.Errorf("LastEventID = %q, want %q", s.LastEventID(), raw)
	}
	waitFor(t, "acks", func() bool { return s.UnackedCount() == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSlashCommandAndResponseURL(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-10", s.BotUserID(), alice)
	respURLs := make(chan string, 4)
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			respURLs <- cmd.ResponseURL
			if cmd.Text == "help" {
				return true, map[string]string{"text": "usage: /incident open <title>"}
			}
			if cmd.Text == "loud" {
				return true, map[string]string{"text": "everyone sees this", "response_type": "in_channel"}
			}
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)

	res, err := s.SlashCommand(ctx, alice, ch, "help")
	if err != nil {
		t.Fatal(err)
	}
	if res.AckText != "usage: /incident open <title>" || res.ResponseType != "ephemeral" || res.TimedOut || res.Latency <= 0 || !s.Acked(res.EnvelopeID) {
		t.Errorf("result = %+v", res)
	}
	if got := s.Ephemerals(ch, alice); len(got) != 1 || got[0] != "usage: /incident open <title>" {
		t.Errorf("Ephemerals = %v", got)
	}
	cmdEvt := sc.next(t, socketmode.EventTypeSlashCommand)
	if cmd := cmdEvt.Data.(slack.SlashCommand); cmd.Command != "/incident" || cmd.UserID != alice || cmd.ChannelID != ch || cmd.TriggerID != res.TriggerID {
		t.Errorf("slash command = %+v", cmd)
	}

	if _, err := s.SlashCommand(ctx, alice, ch, "loud"); err != nil {
		t.Fatal(err)
	}
	if msgs := s.Messages(ch); len(msgs) != 1 || msgs[0].Text != "everyone sees this" || msgs[0].BotID != s.BotID() {
		t.Errorf("in_channel ack: %+v", msgs)
	}

	// response_url: ephemeral, replace_original, in_channel.
	<-respURLs
	<-respURLs
	if _, err := s.SlashCommand(ctx, alice, ch, "open db down"); err != nil {
		t.Fatal(err)
	}
	u := <-respURLs
	api := botAPI(s)
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral), slack.MsgOptionText("working on it", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionReplaceOriginal(u), slack.MsgOptionText("done: INC-1", false)); err != nil {
		t.Fatal(err)
	}
	if got := s.Ephemerals(ch, alice); len(got) != 2 || got[1] != "done: INC-1" {
		t.Errorf("Ephemerals after response_url = %v", got)
	}
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionResponseURL(u, slack.ResponseTypeInChannel), slack.MsgOptionText("INC-1 opened", false)); err != nil {
		t.Fatal(err)
	}
	if msgs := s.Messages(ch); len(msgs) != 2 || msgs[1].Text != "INC-1 opened" {
		t.Errorf("in_channel response_url: %+v", msgs)
	}
	for range 2 {
		_, _, _ = api.PostMessageContext(ctx, ch, slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral), slack.MsgOptionText("again", false))
	}
	if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral), slack.MsgOptionText("sixth", false)); err == nil {
		t.Error("a response_url accepted a sixth post")
	}

	// Without a socket, a command waits in the queue until ctx ends.
	sc.stop()
	waitFor(t, "disconnect", func() bool { return s.Connections() == 0 })
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.SlashCommand(short, alice, ch, "help"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("command without a socket: %v", err)
	}
}

func TestViews(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("general", s.BotUserID(), alice)

	modal := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject("plain_text", "Open an incident", false, false),
		Submit:          slack.NewTextBlockObject("plain_text", "Open", false, false),
		CallbackID:      "open_incident",
		PrivateMetadata: ch,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("title", slack.NewTextBlockObject("plain_text", "Title", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "title_input")),
			slack.NewInputBlock("severity", slack.NewTextBlockObject("plain_text", "Severity", false, false), nil,
				slack.NewOptionsSelectBlockElement("static_select", nil, "severity_select",
					slack.NewOptionBlockObject("sev1", slack.NewTextBlockObject("plain_text", "SEV1", false, false), nil),
					slack.NewOptionBlockObject("sev3", slack.NewTextBlockObject("plain_text", "SEV3", false, false), nil))),
		}},
	}
	type opened struct {
		viewID, reuseErr string
		err              error
	}
	results := make(chan opened, 1)
	submissions := make(chan slack.InteractionCallback, 1)
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		switch d := evt.Data.(type) {
		case slack.SlashCommand:
			resp, err := api.OpenViewContext(ctx, d.TriggerID, modal)
			var o opened
			o.err = err
			if err == nil {
				o.viewID = resp.ID
				_, err2 := api.OpenViewContext(ctx, d.TriggerID, modal)
				o.reuseErr = slackErr(err2)
			}
			results <- o
		case slack.InteractionCallback:
			submissions <- d
			return true, map[string]any{"response_action": "errors", "errors": map[string]string{"title": "too short"}}
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)

	if _, err := s.SlashCommand(ctx, alice, ch, ""); err != nil {
		t.Fatal(err)
	}
	o := <-results
	if o.err != nil || o.reuseErr != "invalid_trigger_id" {
		t.Fatalf("views.open: %+v", o)
	}
	if _, err := botAPI(s).OpenViewContext(ctx, "123.456.abc", modal); slackErr(err) != "invalid_trigger_id" {
		t.Errorf("unknown trigger: %v", err)
	}
	views := s.Views()
	if len(views) != 1 || views[0].ID != o.viewID || views[0].User != alice || views[0].CallbackID != "open_incident" || !views[0].Open {
		t.Fatalf("Views = %+v", views)
	}

	// Submission checks happen before anything is sent.
	for _, bad := range []map[string]map[string]string{
		{"title": {"title_input": "x"}},                                                           // severity missing
		{"title": {"title_input": "x"}, "severity": {"severity_select": "sev9"}},                  // not an option
		{"title": {"nope": "x"}, "severity": {"severity_select": "sev1"}},                         // unknown action
		{"title": {"title_input": ""}, "severity": {"severity_select": "sev1"}},                   // empty required
		{"title": {"title_input": "x"}, "severity": {"severity_select": "sev1"}, "x": {"y": "z"}}, // unknown block
	} {
		if _, err := s.SubmitView(ctx, alice, o.viewID, bad); err == nil {
			t.Errorf("SubmitView(%v) succeeded", bad)
		}
	}
	ack, err := s.SubmitView(ctx, alice, o.viewID, map[string]map[string]string{
		"title":    {"title_input": "db"},
		"severity": {"severity_select": "sev1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack), `"response_action":"errors"`) {
		t.Errorf("ack = %s", ack)
	}
	sub := <-submissions
	vals := sub.View.State.Values
	if sub.Type != slack.InteractionTypeViewSubmission || sub.User.ID != alice || sub.View.ID != o.viewID || sub.View.CallbackID != "open_incident" ||
		sub.View.PrivateMetadata != ch || vals["title"]["title_input"].Value != "db" ||
		vals["severity"]["severity_select"].SelectedOption.Value != "sev1" || sub.TriggerID == "" {
		t.Errorf("view_submission = %+v", sub)
	}
	if v := s.Views()[0]; !v.Open {
		t.Error("a view answered with errors was closed")
	}
}

func TestRedelivery(t *testing.T) {
	s := newServer(t, Config{AckTimeout: 150 * time.Millisecond})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-11", s.BotUserID(), alice)
	sc := startSocket(t, s, func(_ *slack.Client, evt socketmode.Event) (bool, any) {
		return evt.Request.RetryAttempt > 0, nil // drop the first delivery
	})
	sc.next(t, socketmode.EventTypeHello)

	s.PostMessage(alice, ch, "first")
	first, req1 := sc.nextEvent(t)
	second, req2 := sc.nextEvent(t)
	if req1.RetryAttempt != 0 || req2.RetryAttempt != 1 || req2.RetryReason != "timeout" || req1.EnvelopeID == req2.EnvelopeID {
		t.Errorf("envelopes: %s attempt %d %q, then %s attempt %d %q",
			req1.EnvelopeID, req1.RetryAttempt, req1.RetryReason, req2.EnvelopeID, req2.RetryAttempt, req2.RetryReason)
	}
	id1 := eventID(t, req1)
	if id2 := eventID(t, req2); id1 != id2 || first.InnerEvent.Data.(*slackevents.MessageEvent).Text != second.InnerEvent.Data.(*slackevents.MessageEvent).Text {
		t.Errorf("redelivery changed the event: %s vs %s", id1, id2)
	}
	waitFor(t, "ack", func() bool { return s.UnackedCount() == 0 })
	if s.Acked(req1.EnvelopeID) || !s.Acked(req2.EnvelopeID) {
		t.Error("wrong envelopes acknowledged")
	}
	sc.quiet(t, 300*time.Millisecond) // an acknowledged event is not redelivered

	// Redeliver sends it again on demand.
	if !s.Redeliver(id1) || s.Redeliver("Ev404") {
		t.Fatal("Redeliver")
	}
	_, req3 := sc.nextEvent(t)
	if eventID(t, req3) != id1 || req3.RetryAttempt != 2 {
		t.Errorf("redelivered envelope: attempt %d, event %s", req3.RetryAttempt, eventID(t, req3))
	}
	waitFor(t, "ack of the redelivery", func() bool { return s.UnackedCount() == 0 })
	if evs := s.Events(); len(evs) != 1 || len(evs[0].Envelopes) != 3 || !evs[0].Acked || evs[0].Type != "message" {
		t.Errorf("Events = %+v", evs)
	}
}

func eventID(t *testing.T, req *socketmode.Request) string {
	t.Helper()
	var p struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(req.Payload, &p); err != nil || p.EventID == "" {
		t.Fatalf("payload without event_id: %s", req.Payload)
	}
	return p.EventID
}

func TestGiveUpAfterThreeRetries(t *testing.T) {
	s := newServer(t, Config{AckTimeout: 30 * time.Millisecond})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-12", s.BotUserID(), alice)
	sc := startSocket(t, s, func(*slack.Client, socketmode.Event) (bool, any) { return false, nil })
	sc.next(t, socketmode.EventTypeHello)
	s.PostMessage(alice, ch, "never acked")
	for want := range 4 {
		if _, req := sc.nextEvent(t); req.RetryAttempt != want {
			t.Fatalf("attempt %d, want %d", req.RetryAttempt, want)
		}
	}
	sc.quiet(t, 200*time.Millisecond)
	if s.UnackedCount() != 1 {
		t.Errorf("UnackedCount = %d", s.UnackedCount())
	}
}

func TestReconnectAndQueue(t *testing.T) {
	s := newServer(t, Config{AckTimeout: -1})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-13", s.BotUserID(), alice)

	// Queued before any socket connects.
	s.PostMessage(alice, ch, "queued")
	if s.QueuedCount() != 1 {
		t.Fatalf("queued = %d", s.QueuedCount())
	}
	sc := startSocket(t, s, ackAll)
	if ev, _ := sc.nextEvent(t); ev.InnerEvent.Data.(*slackevents.MessageEvent).Text != "queued" {
		t.Errorf("first event = %+v", ev)
	}

	// An abrupt drop: the client reconnects and delivery resumes.
	waitFor(t, "first ack", func() bool { return s.UnackedCount() == 0 })
	s.DropSockets()
	s.PostMessage(alice, ch, "while down")
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if ev, _ := sc.nextEvent(t); ev.InnerEvent.Data.(*slackevents.MessageEvent).Text != "while down" {
		t.Errorf("event after reconnect = %+v", ev)
	}
	if n := len(s.Calls("apps.connections.open")); n != 2 {
		t.Errorf("%d apps.connections.open calls, want 2", n)
	}

	// A requested disconnect: the client reconnects on its own. (Its ack
	// of the event above must be in first: slack-go may drop an ack it is
	// about to write when the disconnect arrives, and with redelivery off
	// nothing would deliver that event again.)
	waitFor(t, "the ack of the event after reconnect", func() bool { return s.UnackedCount() == 0 })
	s.RequestDisconnect("refresh_requested")
	sc.next(t, socketmode.EventTypeHello)
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.PostMessage(alice, ch, "after refresh")
	if ev, _ := sc.nextEvent(t); ev.InnerEvent.Data.(*slackevents.MessageEvent).Text != "after refresh" {
		t.Errorf("event after refresh = %+v", ev)
	}
	waitFor(t, "acks", func() bool { return s.UnackedCount() == 0 })
}

func TestSilentSocket(t *testing.T) {
	s := newServer(t, Config{PingInterval: 50 * time.Millisecond})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-14", s.BotUserID(), alice)
	sc := startSocket(t, s, ackAll, socketmode.OptionPingInterval(400*time.Millisecond))
	sc.next(t, socketmode.EventTypeHello)

	s.SetSilent(true)
	s.PostMessage(alice, ch, "held back")
	// slack-go notices the missing pings and reconnects; the new socket gets
	// the queued event.
	sc.next(t, socketmode.EventTypeHello)
	if ev, _ := sc.nextEvent(t); ev.InnerEvent.Data.(*slackevents.MessageEvent).Text != "held back" {
		t.Errorf("event = %+v", ev)
	}
}

func TestTwoSockets(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-15", s.BotUserID(), alice)
	a := startSocket(t, s, ackAll)
	b := startSocket(t, s, ackAll)
	if err := s.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		s.PostMessage(alice, ch, fmt.Sprint(i))
	}
	waitFor(t, "acks", func() bool { return len(s.AckedEnvelopes()) == n })
	seen := map[string]int{}
	for _, c := range []*socketClient{a, b} {
	drain:
		for {
			select {
			case evt := <-c.got:
				if evt.Type == socketmode.EventTypeEventsAPI {
					seen[evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent).Text]++
				}
			default:
				break drain
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct events delivered, want %d", len(seen), n)
	}
	for text, k := range seen {
		if k != 1 {
			t.Errorf("event %s delivered %d times", text, k)
		}
	}
}

func TestTriggerExpiry(t *testing.T) {
	s := newServer(t, Config{TriggerTTL: 20 * time.Millisecond})
	alice := s.AddUser(User{Name: "alice"}).ID
	s.mu.Lock()
	trig := s.newTriggerLocked(alice, "")
	s.mu.Unlock()
	time.Sleep(40 * time.Millisecond)
	view := `{"type":"modal","title":{"type":"plain_text","text":"t"},"blocks":[]}`
	out := rawPost(t, s, "views.open", "application/json; charset=utf-8", `{"trigger_id":"`+trig+`","view":`+view+`}`, s.Config().BotToken)
	if out["error"] != "expired_trigger_id" {
		t.Errorf("expired trigger: %v", out)
	}
}

func TestModalValidation(t *testing.T) {
	tests := []struct {
		name, view, want string
	}{
		{"ok", `{"type":"modal","title":{"type":"plain_text","text":"Open"},"blocks":[]}`, ""},
		{"not modal", `{"type":"home","title":{"type":"plain_text","text":"Open"},"blocks":[]}`, "/view/type"},
		{"long title", `{"type":"modal","title":{"type":"plain_text","text":"` + strings.Repeat("t", 25) + `"},"blocks":[]}`, "/view/title/text"},
		{"no blocks", `{"type":"modal","title":{"type":"plain_text","text":"Open"}}`, "blocks"},
		{"input without submit", `{"type":"modal","title":{"type":"plain_text","text":"Open"},"blocks":[{"type":"input","label":{"type":"plain_text","text":"T"},"element":{"type":"plain_text_input"}}]}`, "submit"},
		{"input without label", `{"type":"modal","title":{"type":"plain_text","text":"Open"},"submit":{"type":"plain_text","text":"Go"},"blocks":[{"type":"input","element":{"type":"plain_text_input"}}]}`, "label"},
		{"duplicate block_id", `{"type":"modal","title":{"type":"plain_text","text":"Open"},"blocks":[{"type":"divider","block_id":"a"},{"type":"divider","block_id":"a"}]}`, "duplicate"},
	}
	for _, tt := range tests {
		var spec obj
		if err := json.Unmarshal([]byte(tt.view), &spec); err != nil {
			t.Fatal(err)
		}
		got := validateModal(spec)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseTS(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1512085950.000216", 1512085950000216, true},
		{"1512085950", 1512085950000000, true},
		{"1512085950.5", 1512085950500000, true},
		{"1512085950.12345678", 1512085950123456, true},
		{"0", 0, true},
		{"", 0, false},
		{"abc", 0, false},
		{"-1.5", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTS(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTS(%q) = %d, %v", tt.in, got, ok)
		}
	}
}

func TestTimestampsIncrease(t *testing.T) {
	s := newServer(t, Config{})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("ts", alice)
	prev := int64(0)
	for range 200 {
		ts := s.PostMessage(alice, ch, "x")
		n, ok := parseTS(ts)
		if !ok || n <= prev || len(strings.Split(ts, ".")[1]) != 6 {
			t.Fatalf("ts %q after %d", ts, prev)
		}
		prev = n
	}
}

func TestActorsPanicOnUnknown(t *testing.T) {
	s := newServer(t, Config{})
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-16", alice)
	priv := s.CreatePrivateChannel("secret")
	for name, f := range map[string]func(){
		"unknown user":       func() { s.PostMessage("U404", ch, "x") },
		"unknown channel":    func() { s.PostMessage(alice, "C404", "x") },
		"unknown message":    func() { s.AddReaction(alice, ch, "1.000001", "eyes") },
		"private non-member": func() { s.PostMessage(alice, priv, "x") },
		"bad channel name":   func() { s.CreateChannel("Bad Name") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// Posting in a public channel joins it.
	other := s.CreateChannel("other")
	s.PostMessage(alice, other, "hi")
	if c, _ := s.Channel(other); len(c.Members) != 1 || c.Members[0] != alice {
		t.Errorf("members = %v", c.Members)
	}
}

func TestCloseUnblocksWaiters(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-17", alice)
	errc := make(chan error, 1)
	go func() {
		_, err := s.SlashCommand(context.Background(), alice, ch, "help")
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("SlashCommand succeeded on a closed server")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SlashCommand still waiting after Close")
	}
	resp, err := http.Get(s.URL() + "auth.test")
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Error("server still answering after Close")
	}
}
