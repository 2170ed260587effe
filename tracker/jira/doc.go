// Package jira is incidentbot's adapter over Jira Cloud's REST API v3: a
// small typed client over net/http for the few calls the tracker sync
// needs, since no maintained Go Jira client is served by the module proxy
// here. It creates an issue for an action item (summary, a description in
// Atlassian Document Format linking back to the incident, the labels
// "incident" and "INC-<n>", the assignee found by user search on the
// owner's Slack email, the duedate field), edits the assignee and due date,
// moves the issue to done and back by the target status's category (not by
// transition name or id, which differ between sites), and finds the issues
// changed lately with one JQL search whose changelog says who changed their
// status.
//
// Requests use HTTP Basic authentication with the account's email and API
// token. Every call finishes within Config.Timeout. Errors are
// *incidentbot.Error values whose messages may be shown and never hold the
// token: EUnavailable (retryable, with RetryAfter from a 429's Retry-After)
// for timeouts, network errors, 429 and 5xx; EUnauthorized for 401 and 403;
// ENotFound for 404; EInvalid for 400 and other refusals.
package jira
