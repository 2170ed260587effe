// Package slackemu is an in-process Slack emulator for tests and for
// `incidentbot demo`.
//
// A Server listens on 127.0.0.1 and speaks Slack's real wire formats: the Web
// API (https://api.slack.com/methods) answers form, query and JSON requests with
// Slack's response shapes and error codes, and Socket Mode delivers envelopes
// (hello, events_api, slash_commands, interactive, disconnect) over a real
// websocket, with WebSocket pings, acknowledgements and Slack-style
// redelivery of unacknowledged events. Up to Config.MaxConnections (10, as
// Slack allows) sockets may be open at once, one more is refused with
// too_many_websockets, and each envelope, first delivery or redelivery, is
// written to one live socket chosen at random. The responses are written from Slack's
// documentation rather than by marshalling slack-go's structs, so a client that
// misreads the protocol fails here as it would against Slack.
//
// The emulator keeps a small workspace: users, channels (public, private and
// direct messages), messages with threads, edits, deletions, reactions, pins
// and message metadata (chat.postMessage's metadata, read back by
// conversations.history and conversations.replies with include_all_metadata),
// uploaded files with their bytes, modal views with their stacks (views.open,
// views.push, views.update), Home tabs (views.publish), trigger ids and
// response URLs. Tests act as human users through methods such as
// PostMessage, SlashCommand, ClickButton (block_actions), SubmitForm
// (view_submission with every input's value shape and Slack's
// response_action handling), MessageShortcut (message_action), OpenAppHome
// (app_home_opened), InviteUser and LeaveChannel, which store what a user
// did and emit the events or interactions Slack would emit; interactions
// report an acknowledgement later than Slack's 3 s as TimedOut; they observe the bot through Messages, Ephemerals, DMs, Views, Events
// and Calls (Activity gives the same as one log, for transcripts; Pending
// the calls received and not answered yet), and inject faults with
// FailNext, SetLatency (a delayed call is carried out even if its client
// goes away meanwhile, as Slack does), DropSockets, SetSilent,
// RequestDisconnect and Redeliver.
//
// A hostile Slack is one control away (faults.go): ArchiveChannel,
// UnarchiveChannel, DeleteChannel, RemoveBot and InviteBot emit the real
// events and make the Web API answer is_archived, channel_not_found or
// not_in_channel afterwards; RevokeBotToken and AppUninstalled make every
// bot-token call fail while the socket stays up; RefuseChannelCreation and
// SetChannelNameRule refuse conversations.create; SetMethodLimit answers 429
// with Retry-After past n calls per window and SetHistoryPageCap caps history
// pages, as Slack's 2025 limits do; AddFileReaction sends reactions whose
// item is a file id. SetLoseEvents loses events while history keeps what
// happened (edits, deletions as tombstones, reactions, pins, files).
//
// Methods that act as a user panic when given an unknown user, channel or
// message: that is a bug in the test or script that calls them, not a condition
// to handle. Everything that a Slack client could get wrong is reported the way
// Slack reports it instead: as an error code in the Web API response.
//
// Tokens are compared but never logged, stored in call records or put in
// error strings.
package slackemu
