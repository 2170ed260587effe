package incidentbot

import (
	"errors"
	"fmt"
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
)

// Error is an application error: a code, a message safe to show a user, and
// optionally the operation and underlying cause for logs.
type Error struct {
	Code    string
	Message string
	Op      string
	Err     error
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
