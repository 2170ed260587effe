// Package githubemu is an in-process GitHub Issues emulator for tests and for
// `incidentbot demo`. It serves, on a loopback port, the parts of GitHub's
// REST API that incidentbot's tracker sync uses, with the request and
// response shapes of GitHub's documentation, for one repository
// (Config.Repo):
//
//   - POST /repos/{owner}/{repo}/issues, "Create an issue": title, body,
//     labels (created on first use, as GitHub does for a user with push
//     access), assignees; 201 with the issue and a Location header. A login
//     that is not a collaborator (see AddUser) is refused with GitHub's 422
//     "Validation Failed", errors[0] = {resource: Issue, field: assignees,
//     code: invalid, value: [logins]}.
//   - GET /repos/{owner}/{repo}/issues/{number}, "Get an issue", the only
//     answer that carries closed_by: list and search results leave it out,
//     as on GitHub, so a client that wants to know who closed an issue reads
//     it one by one.
//   - PATCH /repos/{owner}/{repo}/issues/{number}, "Update an issue": title,
//     body, state open/closed with state_reason (completed by default when
//     closing, reopened when reopening), labels and assignees replaced
//     whole. closed_by is the token's user (Config.Login).
//   - GET /repos/{owner}/{repo}/issues, "List repository issues": state
//     (open by default, closed, all), labels (comma-separated, all must
//     match), since (RFC 3339; updated at or after), assignee, sort
//     (created, updated, comments) and direction, per_page (30 by default,
//     at most 100) and page, with GitHub's Link header.
//   - GET /repos/{owner}/{repo}/assignees/{login}, "Check if a user can be
//     assigned": 204 for a collaborator, 404 otherwise.
//   - GET /search/issues, "Search issues and pull requests", with the
//     qualifiers repo:, label: (quoted or comma-separated), is:issue,
//     is:open, is:closed, state:, updated:, created: and closed: with >=, >,
//     <=, < or = and a date (YYYY-MM-DD, day granularity) or an ISO 8601
//     time; bare words match the title and body. Other qualifiers are
//     answered 422 rather than ignored, so that a client using one notices.
//     Results carry total_count, incomplete_results and the Link header;
//     sort=updated|created and order=asc|desc are honoured.
//
// Every path is also served under "/api/v3", as GitHub Enterprise Server
// serves it, so that go-github's WithEnterpriseURLs(URL(), URL()) works as
// well as setting Client.BaseURL to URL()+"/".
//
// Requests need "Authorization: Bearer <Config.Token>" (or "token
// <Config.Token>"); otherwise the answer is 401 {"message":"Bad
// credentials"} ("Requires authentication" without the header). A
// repository other than Config.Repo is 404 {"message":"Not Found"}. Every
// answer carries GitHub's x-ratelimit-limit, -remaining, -used, -reset and
// -resource headers ("core" for the issue endpoints, "search" for search,
// with Config.CoreLimit per hour and Config.SearchLimit per minute); past
// the limit the answer is GitHub's 403 with x-ratelimit-remaining: 0, which
// go-github turns into *github.RateLimitError.
//
// Tests act as people in GitHub with AddUser, CloseIssue and ReopenIssue,
// and read the state back with Issues and Issue. Faults are injected with
// SecondaryRateLimit (403 with retry-after, go-github's
// *github.AbuseRateLimitError), FailNext (the next n requests to a path get
// an error status), SetDown (every connection is dropped without an answer)
// and SetLatency (every answer is delayed; a request is carried out even
// when its client gave up meanwhile). Every request is kept for
// Requests and RequestsTo. The package uses the standard library only.
package githubemu
