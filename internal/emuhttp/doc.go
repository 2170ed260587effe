// Package emuhttp is the plumbing the HTTP emulators of external services
// (internal/pagerdutyemu, internal/githubemu, internal/jiraemu) share: a
// loopback server on a free port, the record of every request with the
// status it was answered, and the faults tests inject — FailNext, SetDown and
// SetLatency.
//
// An emulator keeps what is its own: its routes, its authentication and the
// error bodies of its API. Its middleware calls Server.Admit first, which
// records the request and applies down and latency, then Server.TakeFault,
// and answers an injected failure in its API's error shape.
package emuhttp
