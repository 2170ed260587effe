package localapi

import (
	"net/http"

	"github.com/incidentbot/incidentbot"
)

// codeStatus pairs an incidentbot error code with its HTTP status.
type codeStatus struct {
	code   string
	status int
}

// codeStatuses is the one table between error codes and HTTP statuses; the
// server reads it one way and the client the other, so each code must have
// its own status.
func codeStatuses() []codeStatus {
	return []codeStatus{
		{incidentbot.EInvalid, http.StatusBadRequest},
		{incidentbot.ENotFound, http.StatusNotFound},
		{incidentbot.EConflict, http.StatusConflict},
		{incidentbot.EUnauthorized, http.StatusForbidden},
		{incidentbot.EUnavailable, http.StatusServiceUnavailable},
		{incidentbot.EInternal, http.StatusInternalServerError},
	}
}

// httpStatus is the status the server answers for an error code; an unknown
// code is an internal error.
func httpStatus(code string) int {
	for _, cs := range codeStatuses() {
		if cs.code == code {
			return cs.status
		}
	}
	return http.StatusInternalServerError
}

// errorCode is the error code the client reads from a failed request's
// status; a status outside the table (a proxy's 502, say) is an internal
// error.
func errorCode(status int) string {
	for _, cs := range codeStatuses() {
		if cs.status == status {
			return cs.code
		}
	}
	return incidentbot.EInternal
}
