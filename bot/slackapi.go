package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/scheduler"
)

// retryMode is what a slack-go client retries by itself.
type retryMode int

const (
	// retryWaiting retries 5xx answers and connection errors with backoff
	// and jitter, and sleeps through a rate limit's Retry-After inside
	// the call: interactive follow-ups.
	retryWaiting retryMode = iota
	// retryNoWait retries as retryWaiting but returns a 429 at once with
	// its Retry-After, so that the scheduler reschedules that incident
	// instead of one goroutine sleeping through it: scheduled work.
	retryNoWait
	// retryNever retries nothing: a call whose repeat could do twice what
	// Slack did once (a marked post, settled from the channel's history
	// when its outcome is unknown; see PostMarked).
	retryNever
)

// newSlackHTTP returns the HTTP client of the bot's Web API calls, with an
// explicit timeout on every call. The bot's slack-go clients (one per
// retryMode) share it, and so its connections to Slack.
func newSlackHTTP(timeout time.Duration, m *ops.Metrics) *http.Client {
	// Keep connections to Slack alive and bounded: the default transport
	// keeps 2 idle connections per host, so bursts of follow-ups dialled a
	// new TCP (and TLS) connection per call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 64, 32, 32
	return &http.Client{Timeout: timeout, Transport: m.Transport("slack", tr)}
}

// newSlackClient returns a slack-go client for the Web API at apiURL over
// hc (newSlackHTTP), retrying as mode says.
func newSlackClient(botToken, appToken, apiURL string, hc *http.Client, mode retryMode) *slack.Client {
	rc := slack.DefaultRetryConfig()
	rc.MaxRetries = 5
	rc.RetryAfterDuration = 5 * time.Second
	rc.RetryAfterJitter = 250 * time.Millisecond
	rc.BackoffInitial = 200 * time.Millisecond
	rc.BackoffMax = 10 * time.Second
	rc.BackoffJitter = 100 * time.Millisecond
	switch mode {
	case retryWaiting:
		rc.Handlers = append(slack.AllBuiltinRetryHandlers(rc), slack.NewServerErrorRetryHandler(rc))
	case retryNoWait:
		rc.Handlers = []slack.RetryHandler{slack.NewConnectionErrorRetryHandler(), slack.NewServerErrorRetryHandler(rc)}
	case retryNever:
		rc.MaxRetries = 0
		rc.Handlers = nil
	}
	opts := []slack.Option{
		slack.OptionHTTPClient(hc),
		slack.OptionRetryConfig(rc),
		slack.OptionAppLevelToken(appToken),
	}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return slack.New(botToken, opts...)
}

// slackAPI implements commands.Slack (every capability) over slack-go.
//
// Every answer goes through classify, once. Calls about a channel are paced
// per channel: after a 429 for channel A, calls for A wait out its
// Retry-After (interactive follow-ups sleep; scheduled work, marked with
// scheduler.Scheduled, fails at once with EUnavailable and the remaining
// wait in Error.RetryAfter), while other channels go on.
type slackAPI struct {
	api     *slack.Client // retries 429s itself: interactive follow-ups
	noWait  *slack.Client // returns 429s at once: scheduled work
	never   *slack.Client // retries nothing: marked posts (nil: as client says)
	metrics *ops.Metrics
	// onAuth, if set, is called with every EAuth failure: the bot's
	// credentials are rejected and nothing can work.
	onAuth func(method string, err error)
	// members, if set, learns of the channels created and the users
	// invited through this value.
	members *memberCache

	pmu   sync.Mutex
	until map[string]time.Time // channel → end of its Retry-After (wall clock)

	// botID is the bot id (B…) of the bot's messages, once auth.test told
	// it (setBotID); FindMarked takes only messages it marks.
	botID atomic.Pointer[string]
}

var (
	_ commands.Slack  = (*slackAPI)(nil)
	_ commands.Marked = (*slackAPI)(nil)
)

// setBotID records the bot id that marks the bot's own messages.
func (s *slackAPI) setBotID(id string) { s.botID.Store(&id) }

// client is the client for a call made with ctx.
func (s *slackAPI) client(ctx context.Context) *slack.Client {
	if s.noWait != nil && scheduler.Scheduled(ctx) {
		return s.noWait
	}
	return s.api
}

// err classifies a failed call (see classify), counts a Slack refusal (HTTP
// failures are counted by the transport), and reports a rejected token.
func (s *slackAPI) err(method string, err error) error {
	if code := slackErrorCode(err); code != "" {
		s.metrics.APIError("slack", method, code)
	}
	out := classify(method, err)
	if incidentbot.ErrorCode(out) == incidentbot.EAuth && s.onAuth != nil {
		s.onAuth(method, out)
	}
	return out
}

// chanErr is err for a call about channel: a rate limit also paces the
// channel for its Retry-After.
func (s *slackAPI) chanErr(method, channel string, err error) error {
	out := s.err(method, err)
	if d := incidentbot.RetryAfter(out); d > 0 && channel != "" {
		s.pmu.Lock()
		if s.until == nil {
			s.until = map[string]time.Time{}
		}
		if t := time.Now().Add(d); t.After(s.until[channel]) {
			s.until[channel] = t
		}
		s.pmu.Unlock()
	}
	return out
}

// pace waits until channel's Retry-After has passed. Scheduled work does
// not wait: it gets EUnavailable with the time left in RetryAfter. It fails
// when ctx ends first.
func (s *slackAPI) pace(ctx context.Context, method, channel string) error {
	s.pmu.Lock()
	until, ok := s.until[channel]
	if ok && !time.Now().Before(until) {
		delete(s.until, channel)
		ok = false
	}
	s.pmu.Unlock()
	if !ok {
		return nil
	}
	left := time.Until(until)
	if scheduler.Scheduled(ctx) {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Op: "slack " + method, RetryAfter: left,
			Message: "Slack is rate limiting " + method + " for this channel; retrying after " + left.Round(time.Second).String()}
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Op: "slack " + method, Message: "Slack is rate limiting " + method, Err: ctx.Err()}
	case <-t.C:
		return nil
	}
}

// slackErrorCode returns Slack's error code ("name_taken") of err, or "".
func slackErrorCode(err error) string {
	if e, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return e.Err
	}
	if e, ok := errors.AsType[*slack.SlackErrorResponse](err); ok {
		return e.Err
	}
	return ""
}

// Slack's error codes by what they mean for the bot (see the root error.go).
var (
	// goneCodes: the channel cannot be used now (archived, deleted, the bot
	// removed from it); permanent for that channel.
	goneCodes = map[string]string{
		"is_archived":       "the channel is archived",
		"is_inactive":       "the channel is archived",
		"channel_not_found": "the channel was deleted (or the bot cannot see it)",
		"not_in_channel":    "incidentbot was removed from the channel",
	}
	// forbiddenCodes: the workspace forbids the app this action.
	forbiddenCodes = map[string]bool{"restricted_action": true}
	// authCodes: Slack rejects the app's own token; fatal for the app.
	authCodes = map[string]bool{
		"invalid_auth": true, "not_authed": true, "token_revoked": true, "token_expired": true,
		"account_inactive": true, "team_access_not_granted": true, "not_allowed_token_type": true,
	}
)

// slackRefusal is Slack's refusal of a call, as the cause of an
// *incidentbot.Error: Reason is Slack's own code ("is_archived"), which
// commands records (Incident.ChannelGone) without knowing Slack.
type slackRefusal struct {
	method, code string
	err          error
}

func (e *slackRefusal) Error() string  { return e.method + ": " + e.code }
func (e *slackRefusal) Unwrap() error  { return e.err }
func (e *slackRefusal) Reason() string { return e.code }

// classify turns a slack-go error into an *incidentbot.Error, once for every
// call of the bot:
//   - EGone: is_archived, is_inactive, channel_not_found, not_in_channel
//   - EForbidden: restricted_action
//   - EAuth: invalid_auth, not_authed, token_revoked, token_expired,
//     account_inactive (and the like)
//   - EUnavailable: HTTP 429 (RetryAfter set from Retry-After), 5xx,
//     network errors and timeouts
//   - EInternal: any other refusal (a bug or a request Slack will never take)
func classify(method string, err error) error {
	if err == nil {
		return nil
	}
	op := "slack " + method
	if c := slackErrorCode(err); c != "" {
		cause := &slackRefusal{method: method, code: c, err: err}
		switch {
		case goneCodes[c] != "":
			return &incidentbot.Error{Code: incidentbot.EGone, Op: op, Err: cause, Message: goneCodes[c] + " (Slack: " + c + ")"}
		case forbiddenCodes[c]:
			return &incidentbot.Error{Code: incidentbot.EForbidden, Op: op, Err: cause,
				Message: "the workspace does not allow incidentbot to do this (Slack: " + c + "); a Slack admin can change that"}
		case authCodes[c]:
			return &incidentbot.Error{Code: incidentbot.EAuth, Op: op, Err: cause,
				Message: "Slack rejected incidentbot's token (" + c + ")"}
		}
		return &incidentbot.Error{Code: incidentbot.EInternal, Op: op, Err: cause, Message: "Slack refused " + method + " (" + c + ")"}
	}
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Op: op, Err: err, RetryAfter: max(rl.RetryAfter, time.Second),
			Message: "Slack is rate limiting " + method}
	}
	return &incidentbot.Error{Code: incidentbot.EUnavailable, Op: op, Err: err, Message: "Slack is not answering " + method + " right now"}
}

// CreateChannel creates a channel, private when private is set (which
// needs the groups:write scope). Slack's refusals are classified
// here: name_taken is EConflict; a name Slack will not take (invalid_name,
// invalid_name_specials, invalid_name_punctuation, invalid_name_maxlength,
// invalid_name_required) EInvalid, so the caller can try a plainer one;
// restricted_action (the workspace does not let apps create channels)
// EForbidden; anything else as slackError does.
func (s *slackAPI) CreateChannel(ctx context.Context, name string, private bool) (string, error) {
	const method = "conversations.create"
	ch, err := s.client(ctx).CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name, IsPrivate: private})
	if err == nil {
		if s.members != nil {
			s.members.created(ch.ID, "")
		}
		return ch.ID, nil
	}
	switch code := slackErrorCode(err); code {
	case "name_taken":
		return "", &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("the channel name %s is taken", name), Err: err}
	case "invalid_name", "invalid_name_specials", "invalid_name_punctuation", "invalid_name_maxlength", "invalid_name_required":
		s.metrics.APIError("slack", method, code)
		return "", &incidentbot.Error{Code: incidentbot.EInvalid, Op: "slack " + method, Err: err,
			Message: fmt.Sprintf("Slack refused the channel name %s (%s)", name, code)}
	case "restricted_action":
		s.metrics.APIError("slack", method, code)
		return "", &incidentbot.Error{Code: incidentbot.EForbidden, Op: "slack " + method, Err: err,
			Message: "this workspace does not allow apps to create channels (restricted_action)"}
	}
	return "", s.err(method, err)
}

func (s *slackAPI) Invite(ctx context.Context, channelID string, users ...string) error {
	if err := s.pace(ctx, "conversations.invite", channelID); err != nil {
		return err
	}
	_, err := s.client(ctx).InviteUsersToConversationContext(ctx, channelID, users...)
	switch slackErrorCode(err) {
	case "already_in_channel", "cant_invite_self":
		err = nil
	}
	if err == nil {
		if s.members != nil {
			for _, u := range users {
				s.members.changed(channelID, u, true)
			}
		}
		return nil
	}
	return s.chanErr("conversations.invite", channelID, err)
}

func (s *slackAPI) Post(ctx context.Context, channelID, text string) (string, error) {
	return s.post(ctx, channelID, slack.MsgOptionText(text, false))
}

// post is chat.postMessage with opts.
func (s *slackAPI) post(ctx context.Context, channelID string, opts ...slack.MsgOption) (string, error) {
	return s.postWith(ctx, s.client(ctx), channelID, opts...)
}

// postWith is post with the given client.
func (s *slackAPI) postWith(ctx context.Context, api *slack.Client, channelID string, opts ...slack.MsgOption) (string, error) {
	if err := s.pace(ctx, "chat.postMessage", channelID); err != nil {
		return "", err
	}
	_, ts, err := api.PostMessageContext(ctx, channelID, opts...)
	if err != nil {
		return "", s.chanErr("chat.postMessage", channelID, err)
	}
	return ts, nil
}

// PostMarked posts text with m as the message's metadata: event type
// m.Kind, payload m.Fields. It fails as Post does: EUnavailable without
// RetryAfter (a timeout, a connection lost, a 5xx) is the one failure
// after which Slack may have posted the message. It is sent once: slack-go
// retrying it after a 5xx or a connection lost could post it twice, and
// the caller settles an unknown outcome from the channel's history.
func (s *slackAPI) PostMarked(ctx context.Context, channelID, text string, m commands.Marker) (string, error) {
	payload := make(map[string]any, len(m.Fields))
	for k, v := range m.Fields {
		payload[k] = v
	}
	api := s.never
	if api == nil {
		api = s.client(ctx)
	}
	return s.postWith(ctx, api, channelID, slack.MsgOptionText(text, false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: m.Kind, EventPayload: payload}))
}

// The bounds of FindMarked's reads.
const (
	// markedPageSize is the limit of each history read; Slack gives at
	// most 15 to non-Marketplace apps since 2025, whatever is asked.
	markedPageSize = 100
	// markedPages bounds the pages read for one look.
	markedPages = 10
)

// FindMarked reads the channel's history between from and to
// (conversations.history with include_all_metadata, newest first) and
// reports whether a message of the bot carries m: m.Kind as its
// metadata's event type and every field of m in its payload. The first
// page is read as the calling context's other calls are (scheduled work
// gets a rate limit back at once, with its Retry-After); the pages after
// it, needed only in a busy channel, wait out Slack's rate limit, so that
// the stretch is read to its end rather than restarted each time. It
// fails as Post does (EGone for a channel gone), and with EUnavailable
// wrapping commands.ErrTooMuchHistory when the stretch holds more than
// markedPages pages.
func (s *slackAPI) FindMarked(ctx context.Context, channelID string, m commands.Marker, from, to time.Time) (bool, error) {
	const method = "conversations.history"
	api := s.client(ctx)
	cursor := ""
	for range markedPages {
		resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: channelID, Oldest: slackTS(from), Latest: slackTS(to), Inclusive: true,
			Limit: markedPageSize, IncludeAllMetadata: true, Cursor: cursor,
		})
		if err != nil {
			return false, s.err(method, err)
		}
		for i := range resp.Messages {
			if s.marks(&resp.Messages[i], m) {
				return true, nil
			}
		}
		if !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			return false, nil
		}
		cursor, api = resp.ResponseMetaData.NextCursor, s.api
	}
	return false, &incidentbot.Error{Code: incidentbot.EUnavailable, Op: "slack " + method, Err: commands.ErrTooMuchHistory,
		Message: fmt.Sprintf("more than %d pages of history between %s and %s", markedPages, from.Format(time.RFC3339), to.Format(time.RFC3339))}
}

// marks reports whether msg is the bot's and carries m.
func (s *slackAPI) marks(msg *slack.Message, m commands.Marker) bool {
	if msg.BotID == "" || msg.Metadata.EventType != m.Kind {
		return false
	}
	if id := s.botID.Load(); id != nil && *id != "" && msg.BotID != *id {
		return false
	}
	for k, v := range m.Fields {
		if got, _ := msg.Metadata.EventPayload[k].(string); got != v {
			return false
		}
	}
	return true
}

func (s *slackAPI) Update(ctx context.Context, channelID, ts, text string) error {
	if err := s.pace(ctx, "chat.update", channelID); err != nil {
		return err
	}
	if _, _, _, err := s.client(ctx).UpdateMessageContext(ctx, channelID, ts, slack.MsgOptionText(text, false)); err != nil {
		return s.chanErr("chat.update", channelID, err)
	}
	return nil
}

func (s *slackAPI) Pin(ctx context.Context, channelID, ts string) error {
	if err := s.pace(ctx, "pins.add", channelID); err != nil {
		return err
	}
	err := s.client(ctx).AddPinContext(ctx, channelID, slack.NewRefToMessage(channelID, ts))
	if err != nil && slackErrorCode(err) != "already_pinned" {
		return s.chanErr("pins.add", channelID, err)
	}
	return nil
}

// Ephemeral shows text to user in channel only.
func (s *slackAPI) Ephemeral(ctx context.Context, channelID, userID, text string) error {
	if err := s.pace(ctx, "chat.postEphemeral", channelID); err != nil {
		return err
	}
	if _, err := s.client(ctx).PostEphemeralContext(ctx, channelID, userID, slack.MsgOptionText(text, false)); err != nil {
		return s.chanErr("chat.postEphemeral", channelID, err)
	}
	return nil
}

// Upload shares a file in a channel with the files v2 flow
// (files.getUploadURLExternal, the upload, files.completeUploadExternal).
// slack-go cannot replay the streamed upload body, so the whole flow is
// retried here when Slack is unavailable.
func (s *slackAPI) Upload(ctx context.Context, channelID, name, title string, content []byte, comment string) error {
	var err error
	for attempt := range 2 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return s.err("files.upload", err)
			case <-time.After(scheduler.Backoff{First: 500 * time.Millisecond, Max: 500 * time.Millisecond}.Delay(attempt)):
			}
		}
		_, err = s.client(ctx).UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: name, Title: title, Content: string(content), FileSize: len(content),
			Channel: channelID, InitialComment: comment,
		})
		if err == nil {
			return nil
		}
		if incidentbot.ErrorCode(classify("files.upload", err)) != incidentbot.EUnavailable {
			break
		}
	}
	return s.err("files.upload", err)
}

func (s *slackAPI) UserByEmail(ctx context.Context, email string) (incidentbot.User, error) {
	u, err := s.client(ctx).GetUserByEmailContext(ctx, email)
	if err != nil {
		if slackErrorCode(err) == "users_not_found" {
			return incidentbot.User{}, &incidentbot.Error{Code: incidentbot.ENotFound, Message: "no Slack account has the email " + email, Err: err}
		}
		return incidentbot.User{}, s.err("users.lookupByEmail", err)
	}
	return incidentbot.User{ID: u.ID, Name: userName(u)}, nil
}

// userName is the name the bot shows for a Slack user: their display name,
// else their real name, else their handle.
func userName(u *slack.User) string {
	if u.Profile.DisplayName != "" {
		return u.Profile.DisplayName
	}
	if u.RealName != "" {
		return u.RealName
	}
	return u.Name
}
