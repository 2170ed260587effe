// Package jiraemu is an in-process Jira Cloud emulator for tests and for
// `incidentbot demo`. It serves, on a loopback port, the parts of Jira Cloud's
// REST API v3 that incidentbot's tracker sync uses, with the request and
// response shapes of Atlassian's documentation:
//
//   - POST /rest/api/3/issue, "Create issue": fields project {key|id},
//     summary, issuetype {name|id}, description (Atlassian Document Format;
//     a plain string is refused as v3 refuses it), labels (no spaces),
//     assignee {accountId}, duedate "YYYY-MM-DD"; 201 {id, key, self}. Other
//     fields, and invalid values, get Jira's 400 {"errorMessages": [],
//     "errors": {field: message}}.
//   - GET /rest/api/3/issue/{issueIdOrKey} with fields= (default every
//     field: summary, description, labels, status with statusCategory,
//     assignee, reporter, creator, duedate, resolution, resolutiondate,
//     created, updated, issuetype, project) and expand=changelog (histories
//     newest first, each with its author, items for status, resolution,
//     assignee, duedate, summary, labels).
//   - PUT /rest/api/3/issue/{issueIdOrKey}, "Edit issue": fields summary,
//     description, labels, assignee {accountId} or null, duedate or null;
//     update.labels add/remove/set. 204. PUT .../assignee, "Assign issue".
//   - GET and POST /rest/api/3/issue/{issueIdOrKey}/transitions: one classic
//     workflow, To Do --21 Start Progress--> In Progress, To Do and In
//     Progress --31 Done--> Done, In Progress --11 Stop Progress--> To Do,
//     Done --41 Reopen--> To Do. Done sets the resolution "Done" (and
//     resolutiondate); leaving Done clears it. The transitions have no
//     screen, so a transition request with "fields" or "update" is refused.
//     Clients should choose a transition by its target's
//     to.statusCategory.key ("new", "indeterminate", "done"), not by name
//     or id, which differ between Jira sites.
//   - GET /rest/api/3/user/search?query=…, "Find users": query matches the
//     start of the email address, of the display name or of a word of it;
//     accountId= matches exactly. The answer is a JSON array of users
//     (accountId, accountType, emailAddress, displayName, active, …).
//   - GET /rest/api/3/myself, the usual check of credentials.
//   - GET and POST /rest/api/3/search/jql, the enhanced JQL search that
//     replaced /rest/api/3/search in 2025 (the old path answers 410 Gone
//     with Atlassian's migration message, as Jira Cloud now does): jql,
//     fields (without fields an issue is only {"id"}), expand=changelog,
//     maxResults (50 by default; at most 100, or 5000 when only id/key are
//     asked) and nextPageToken; the answer is {"issues": […],
//     "nextPageToken": …, "isLast": …} without a total.
//
// The JQL subset: clauses joined by AND (OR, NOT and parentheses are
// answered 400, so that a client using them notices), then an optional
// ORDER BY field [ASC|DESC], …. Fields: project, labels, status,
// statusCategory, key/issuekey, assignee (accountId), updated, created,
// resolutiondate (alias resolved), duedate. Operators: = and != on every
// field, IN (…) and NOT IN (…), IS [NOT] EMPTY, and > >= < <= on dates.
// Dates are "yyyy/MM/dd HH:mm", "yyyy-MM-dd HH:mm", "yyyy/MM/dd",
// "yyyy-MM-dd" in Config.Location (JQL has minute precision, so a client
// polling with `updated >= "…"` must allow for the overlap) or relative
// "-15m", "-2h", "-1d", "-1w". An empty query is 400 "Unbounded JQL queries
// are not allowed here". A project or status that does not exist is 400.
// Without ORDER BY, issues come newest key first.
//
// Requests need HTTP Basic authentication with Config.Email and
// Config.APIToken, as Jira Cloud's API tokens are used; otherwise the answer
// is 401 with the plain-text body "Client must be authenticated to access
// this resource.". An unknown issue is 404 {"errorMessages": ["Issue does
// not exist or you do not have permission to see it."]}.
//
// Tests act as people in Jira with AddUser and TransitionAs, and read the
// state back with Issues and Issue (Issue.History is the changelog). Faults
// are injected with FailNext (the next n requests to a path get an error
// status; 429 carries Retry-After as Jira's rate limiting does), SetDown
// (every connection is dropped without an answer) and SetLatency (every
// answer is delayed; a request is carried out even when its client gave up
// meanwhile). Every request is kept for Requests and RequestsTo.
// The package uses the standard library only.
package jiraemu
