package bot

import (
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
)

// TestClassify: every Slack answer the bot meets maps to one code, once.
func TestClassify(t *testing.T) {
	refusal := func(code string) error { return slack.SlackErrorResponse{Err: code} }
	tests := []struct {
		err        error
		code       string
		retryAfter time.Duration
		reason     string
	}{
		{refusal("is_archived"), incidentbot.EGone, 0, "is_archived"},
		{refusal("is_inactive"), incidentbot.EGone, 0, "is_inactive"},
		{refusal("channel_not_found"), incidentbot.EGone, 0, "channel_not_found"},
		{refusal("not_in_channel"), incidentbot.EGone, 0, "not_in_channel"},
		{refusal("restricted_action"), incidentbot.EForbidden, 0, "restricted_action"},
		{refusal("invalid_auth"), incidentbot.EAuth, 0, "invalid_auth"},
		{refusal("not_authed"), incidentbot.EAuth, 0, "not_authed"},
		{refusal("token_revoked"), incidentbot.EAuth, 0, "token_revoked"},
		{refusal("token_expired"), incidentbot.EAuth, 0, "token_expired"},
		{refusal("account_inactive"), incidentbot.EAuth, 0, "account_inactive"},
		{refusal("msg_too_long"), incidentbot.EInternal, 0, "msg_too_long"},
		{&slack.RateLimitedError{RetryAfter: 30 * time.Second}, incidentbot.EUnavailable, 30 * time.Second, ""},
		{slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}, incidentbot.EUnavailable, 0, ""},
		{errors.New("dial tcp: connection refused"), incidentbot.EUnavailable, 0, ""},
	}
	for _, tt := range tests {
		err := classify("chat.postMessage", tt.err)
		if got := incidentbot.ErrorCode(err); got != tt.code {
			t.Errorf("%v: code %s, want %s", tt.err, got, tt.code)
		}
		if got := incidentbot.RetryAfter(err); got != tt.retryAfter {
			t.Errorf("%v: RetryAfter %v, want %v", tt.err, got, tt.retryAfter)
		}
		if tt.reason != "" {
			if r, ok := errors.AsType[*slackRefusal](err); !ok || r.Reason() != tt.reason {
				t.Errorf("%v: no reason %q in %v", tt.err, tt.reason, err)
			}
			if slackErrorCode(err) != tt.reason {
				t.Errorf("%v: slackErrorCode lost through classify", tt.err)
			}
		}
	}
}
