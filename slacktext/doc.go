// Package slacktext owns Slack's text format: the one place that decodes
// it, parses it, escapes user text for it and produces it.
//
// Slack sends message and command text with three entities (&amp; &lt;
// &gt;) and with markup in angle brackets: user mentions <@U123> and
// <@U123|name>, channel links <#C123|name>, web links <https://x|label>,
// and special mentions <!here>, <!channel>, <!everyone>, <!subteam^S1|@team>.
// The record keeps text as Slack sent it, so that a literal "<@U123>"
// someone typed (which arrives as "&lt;@U123&gt;") stays distinct from a
// mention; what reads or shows it goes through this package:
//
//   - Decode undoes the entities (channel names, PagerDuty summaries).
//   - ParseMention and Mentions find user mentions in command text.
//   - Mention and ChannelLink write markup the bot means to send.
//   - Escape makes user text safe to echo in a mrkdwn message: it can
//     notify nobody (no <!here>, no "@channel") and disguise no link.
//   - PlainText renders text as the person typed it, mentions resolved to
//     names, for the post-mortem's markdown and for transcripts.
//   - Slug reduces text to the characters a Slack channel name may hold,
//     diacritics removed; SlugText does so for text as Slack sent it, its
//     markup read as a person would (a link's label, a person's name).
//
// Nothing here fails: malformed markup is kept as text. The package imports
// the standard library and, for Slug's Unicode folding, golang.org/x/text;
// markdown escaping belongs to templates.
package slacktext
