// Package github is incidentbot's adapter over GitHub Issues, built on
// github.com/google/go-github. It creates an issue for an action item
// (title, a body linking back to the incident, the labels "incident" and
// "INC-<n>", the owner assigned when Config.UserMap maps their Slack email
// to a login, and a "Due: YYYY-MM-DD" line, since GitHub issues have no due
// date), mirrors owner and due date changes, closes and reopens it, and
// finds the issues changed since a time with one search (and, for closed
// ones, one read each, since only the single-issue answer says who closed
// it).
//
// GitHub cannot look users up by email, hence the mapping (LoadUserMap). The
// base URL is configurable for GitHub Enterprise Server
// ("https://ghe.example.com/api/v3/") and for the emulator.
//
// Every call finishes within Config.Timeout. Errors are *incidentbot.Error
// values whose messages may be shown to users and never hold the token:
// EUnavailable (worth retrying later, with RetryAfter when GitHub said how
// long: a primary rate limit's reset, a secondary rate limit's
// retry-after, a 429's Retry-After) for timeouts, network errors, rate
// limits and 5xx; EUnauthorized for 401 and 403 (a bad token, no access);
// ENotFound for 404 (no such repository); EInvalid for 422 and other
// refusals. Only EUnavailable is worth retrying.
package github
