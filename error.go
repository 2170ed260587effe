package incidentbot

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Only the edge (bot/, cmd/) translates them into replies, exit
// codes or HTTP statuses.
const (
	EInvalid      = "invalid"      // the user's input is wrong; Message says how
	ENotFound     = "not_found"    // the thing named does not exist
	EConflict     = "conflict"     // the request contradicts the current state
	EUnauthorized = "unauthorized" // the caller may not do this
	EUnavailable  = "unavailable"  // a dependency (Slack, PagerDuty, disk) failed; retry later
	EInternal     = "internal"     // a bug or an unexpected failure

	// EGone: the target of a call is gone for now — a Slack channel that is
	// archived or deleted, or that the bot was removed from. Permanent for
	// that target: stop the work for it, tell a human once, and try again
	// only on a slow schedule or when it comes back.
	EGone = "gone"
	// EForbidden: the workspace forbids the app this action (Slack's
	// restricted_action, e.g. creating channels). Permanent until an admin
	// changes the settings; retried only on a slow schedule.
	EForbidden = "forbidden"
	// EAuth: the service rejected the app's own credentials (Slack's
	// invalid_auth, token_revoked, account_inactive; the tokens_revoked and
	// app_uninstalled events). Fatal for the whole app: nothing it does can
	// work until an operator installs a new token.
	EAuth = "auth"
)

// Slack's error codes, classified once (see bot/slackapi.go):
//   - EGone: is_archived, is_inactive, channel_not_found, not_in_channel
//   - EForbidden: restricted_action
//   - EAuth: invalid_auth, not_authed, token_revoked, token_expired,
//     account_inactive, no_permission for the token, team_access_not_granted
//   - EUnavailable (retryable): HTTP 429 (with Retry-After), 5xx, network
//     errors and timeouts

// Error is an application error: a code, a message safe to show a user, and
// optionally the operation and underlying cause for logs.
type Error struct {
	Code    string
	Message string
	Op      string
	Err     error
	// RetryAfter, for EUnavailable, is how long the service asked to be
	// left alone (HTTP Retry-After); zero when it did not say.
	RetryAfter time.Duration
}

// Error implements error. The text contains the operation and cause, so it is
// for logs; show users Message (see ErrorMessage).
func (e *Error) Error() string {
	s := e.Message
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		if s == "" {
			return e.Err.Error()
		}
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != "" {
		return e.Code
	}
	return EInternal
}

// RetryAfter returns the RetryAfter of the first *Error in err's chain that
// has one, or zero.
func RetryAfter(err error) time.Duration {
	for err != nil {
		e, ok := errors.AsType[*Error](err)
		if !ok {
			return 0
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}

// ErrorMessage returns the user-safe message of the first *Error in err's
// chain, or a generic text for other errors, which may contain details that
// must not be shown.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Message != "" {
		return e.Message
	}
	return "Something went wrong inside incidentbot; the operators have the details in the logs."
}
