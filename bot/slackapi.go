package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/scheduler"
)

// newSlackClient returns a slack-go client for the Web API at apiURL that
// retries rate limits (honouring Retry-After), 5xx answers and connection
// errors with backoff and jitter, with an explicit timeout on every call.
func newSlackClient(botToken, appToken, apiURL string, timeout time.Duration, m *ops.Metrics) *slack.Client {
	rc := slack.DefaultRetryConfig()
	rc.MaxRetries = 5
	rc.RetryAfterDuration = 5 * time.Second
	rc.RetryAfterJitter = 250 * time.Millisecond
	rc.BackoffInitial = 200 * time.Millisecond
	rc.BackoffMax = 10 * time.Second
	rc.BackoffJitter = 100 * time.Millisecond
	rc.Handlers = append(slack.AllBuiltinRetryHandlers(rc), slack.NewServerErrorRetryHandler(rc))
	// Keep connections to Slack alive and bounded: the default transport
	// keeps 2 idle connections per host, so bursts of follow-ups dialled a
	// new TCP (and TLS) connection per call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 64, 32, 32
	opts := []slack.Option{
		slack.OptionHTTPClient(&http.Client{Timeout: timeout, Transport: m.Transport("slack", tr)}),
		slack.OptionRetryConfig(rc),
		slack.OptionAppLevelToken(appToken),
	}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return slack.New(botToken, opts...)
}

// slackAPI implements commands.Slack (every capability) over slack-go.
type slackAPI struct {
	api     *slack.Client
	metrics *ops.Metrics
}

// err counts a Slack refusal (HTTP failures are counted by the transport)
// and returns slackError.
func (s *slackAPI) err(method string, err error) error {
	if code := slackErrorCode(err); code != "" {
		s.metrics.APIError("slack", method, code)
	}
	return slackError(method, err)
}

var _ commands.Slack = (*slackAPI)(nil)

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

// slackError turns a slack-go error into an *incidentbot.Error: rate limits,
// server errors and network failures are EUnavailable (Slack is having a
// problem; what was recorded is safe), Slack's refusals EInternal.
func slackError(method string, err error) error {
	code := incidentbot.EInternal
	msg := "Slack refused " + method
	if c := slackErrorCode(err); c != "" {
		msg += " (" + c + ")"
	} else {
		code = incidentbot.EUnavailable
		msg = "Slack is not answering " + method + " right now"
		if _, ok := errors.AsType[*slack.RateLimitedError](err); ok {
			msg = "Slack is rate limiting " + method
		}
	}
	return &incidentbot.Error{Code: code, Message: msg, Op: "slack " + method, Err: err}
}

// CreateChannel creates a public channel. Slack's refusals are classified
// here: name_taken is EConflict; a name Slack will not take (invalid_name,
// invalid_name_specials, invalid_name_punctuation, invalid_name_maxlength,
// invalid_name_required) EInvalid, so the caller can try a plainer one;
// restricted_action (the workspace does not let apps create channels)
// EForbidden; anything else as slackError does.
func (s *slackAPI) CreateChannel(ctx context.Context, name string) (string, error) {
	const method = "conversations.create"
	ch, err := s.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
	if err == nil {
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
	_, err := s.api.InviteUsersToConversationContext(ctx, channelID, users...)
	if err == nil {
		return nil
	}
	switch slackErrorCode(err) {
	case "already_in_channel", "cant_invite_self":
		return nil
	}
	return s.err("conversations.invite", err)
}

func (s *slackAPI) Post(ctx context.Context, channelID, text string) (string, error) {
	_, ts, err := s.api.PostMessageContext(ctx, channelID, slack.MsgOptionText(text, false))
	if err != nil {
		return "", s.err("chat.postMessage", err)
	}
	return ts, nil
}

func (s *slackAPI) Update(ctx context.Context, channelID, ts, text string) error {
	if _, _, _, err := s.api.UpdateMessageContext(ctx, channelID, ts, slack.MsgOptionText(text, false)); err != nil {
		return s.err("chat.update", err)
	}
	return nil
}

func (s *slackAPI) Pin(ctx context.Context, channelID, ts string) error {
	err := s.api.AddPinContext(ctx, channelID, slack.NewRefToMessage(channelID, ts))
	if err != nil && slackErrorCode(err) != "already_pinned" {
		return s.err("pins.add", err)
	}
	return nil
}

// Ephemeral shows text to user in channel only.
func (s *slackAPI) Ephemeral(ctx context.Context, channelID, userID, text string) error {
	if _, err := s.api.PostEphemeralContext(ctx, channelID, userID, slack.MsgOptionText(text, false)); err != nil {
		return s.err("chat.postEphemeral", err)
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
		_, err = s.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: name, Title: title, Content: string(content), FileSize: len(content),
			Channel: channelID, InitialComment: comment,
		})
		if err == nil {
			return nil
		}
		if incidentbot.ErrorCode(s.err("files.upload", err)) != incidentbot.EUnavailable {
			break
		}
	}
	return s.err("files.upload", err)
}

func (s *slackAPI) UserByEmail(ctx context.Context, email string) (incidentbot.User, error) {
	u, err := s.api.GetUserByEmailContext(ctx, email)
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
