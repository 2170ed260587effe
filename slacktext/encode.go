package slacktext

import "strings"

// encoder writes the entities Slack writes in message and command text.
var encoder = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Encode writes raw text — what a person typed in a form's input, which
// Slack sends as typed — as Slack writes message and command text: &, <
// and > as &amp;, &lt; and &gt;. Decode undoes it. Encode does not fail.
func Encode(s string) string { return encoder.Replace(s) }
