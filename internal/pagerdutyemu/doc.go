// Package pagerdutyemu is an in-process PagerDuty emulator for tests and for
// `incidentbot demo`. It serves, on a loopback port, the parts of PagerDuty
// that incidentbot uses, with the request and response shapes of PagerDuty's
// public documentation:
//
//   - POST /v2/enqueue, the Events API v2: trigger, acknowledge and resolve
//     alerts by dedup key, with PagerDuty's validation and its 202 and 400
//     answers;
//   - GET /oncalls, the REST API's on-call listing, filtered by escalation
//     policy, with include[]=users, earliest and classic pagination;
//   - GET /users/{id}, one user.
//
// REST calls need the header "Authorization: Token token=<Config.Token>" and
// are answered 401 otherwise; events need a routing key from
// Config.RoutingKeys.
//
// The Server keeps what it received so that tests can assert on it: every
// request (Requests), every accepted event (Events) and the state of each
// alert (Alerts). Faults are injected with FailNext (the next n requests to a
// path get an error status), SetDown (every connection is dropped without an
// answer, as when PagerDuty is unreachable) and SetLatency (every answer is
// delayed). The package uses the standard library only.
package pagerdutyemu
