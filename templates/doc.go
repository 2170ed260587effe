// Package templates renders the post-mortem draft of an incident as markdown.
//
// The draft comes from a Go text/template. The default one,
// postmortem.md.tmpl, is embedded in the binary; an operator may replace it
// with a file (INCIDENTBOT_POSTMORTEM_TEMPLATE), which Load parses and tries
// once against a built-in sample incident, so that a broken template fails at
// start-up rather than when an incident is resolved.
//
// Templates never compute anything and never escape anything by hand: the
// package turns an Input (the incident, its whole timeline and the names of
// its users) into a Data value whose strings are ready to print. Every piece
// of user text is a Text, which prints as inert markdown, so that a message
// containing "## heading", "| pipes |", "<script>" or a code fence cannot
// break the document. Durations, key events and the full message log are
// computed here, in Go; the message log lines are rendered before the
// template runs, so that a timeline of 100,000 events renders in well under
// a second. The same Input always renders the same bytes.
//
// LoadRecord reads an incident's record (the incident, its timeline, the
// user names) from any RecordSource, and Drafts renders a draft from it:
// the bot uploads drafts through Drafts, and the command line exports them.
//
// README.md in this directory documents every field and function for
// template authors.
package templates
