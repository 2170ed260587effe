package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/slack-go/slack/slackevents"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

// The life of incident channels and of the app itself, as Slack reports it
// in events: channels archived, unarchived or deleted (channel_* for public
// channels, group_* for private ones), the bot removed from or invited back
// to a channel (member_left_channel / member_joined_channel for the bot
// user), and the app's tokens revoked or the app uninstalled
// (tokens_revoked, app_uninstalled), which are fatal. Other users joining
// and leaving keep the membership cache current (members.go).

// lifecycleEvents are the Events API subscriptions handled here.
var lifecycleEvents = []string{
	"channel_archive", "channel_unarchive", "channel_deleted",
	"group_archive", "group_unarchive", "group_deleted",
	"member_joined_channel", "member_left_channel",
	"tokens_revoked", "app_uninstalled",
}

// onLifecycle handles an event of the channel's or the app's life and
// reports whether it was one. A change of an incident channel is recorded
// (see commands.Service.ChannelChanged) before the acknowledgement; a store
// failure leaves the envelope unacknowledged for redelivery. A revoked
// token or an uninstalled app is acknowledged and then stops the bot.
func (b *Bot) onLifecycle(ctx context.Context, env *envelope, eae slackevents.EventsAPIEvent) bool {
	b.trackMembers(eae)
	ch, fatal, ok := b.lifecycleChange(eae)
	if !ok {
		return false
	}
	if fatal != "" {
		b.ack(env, nil)
		b.failAuth(fmt.Errorf("bot: Slack reports %s for incidentbot: nothing can work until the app is installed again. "+
			"Reinstall the app to the workspace, set SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN (xapp-…) to the new tokens, and restart incidentbot", fatal))
		return true
	}
	if ch.ChannelID == "" {
		b.ack(env, nil)
		return true
	}
	log := env.log().WithField("channel", ch.ChannelID)
	tell, err := b.cmds.ChannelChanged(ctx, ch)
	if err != nil {
		b.storeFailed(ctx, log, ch.ChannelID, err)
		return true
	}
	b.storeOK.Store(true)
	b.ack(env, nil)
	if ch.Actor != "" {
		b.learnUser(ch.Actor)
	}
	if tell != nil {
		b.background(noticeTimeout, func(ctx context.Context) {
			if err := tell(ctx); err != nil {
				log.WithError(err).Warn("recorded a change of an incident channel, but could not tell about it")
			}
		})
	}
	return true
}

// trackMembers keeps the membership cache (who may see a private
// incident) current from member_joined_channel and member_left_channel
// events of other users; the bot leaving a channel, or the channel being
// deleted, drops what is known of it.
func (b *Bot) trackMembers(eae slackevents.EventsAPIEvent) {
	switch ev := eae.InnerEvent.Data.(type) {
	case *slackevents.MemberJoinedChannelEvent:
		if ev.User == b.botUserID {
			b.members.forget(ev.Channel) // read afresh: it changed while the bot was out
		} else {
			b.members.changed(ev.Channel, ev.User, true)
		}
	case *slackevents.MemberLeftChannelEvent:
		if ev.User == b.botUserID {
			b.members.forget(ev.Channel)
		} else {
			b.members.changed(ev.Channel, ev.User, false)
		}
	case *slackevents.ChannelDeletedEvent:
		b.members.forget(ev.Channel)
	case *slackevents.GroupDeletedEvent:
		b.members.forget(ev.Channel)
	}
}

// lifecycleChange maps a lifecycle event to the channel change it records,
// or to the reason it is fatal; ok is false for other events. A change
// with no ChannelID is acknowledged and ignored (another user's membership).
func (b *Bot) lifecycleChange(eae slackevents.EventsAPIEvent) (ch commands.ChannelChange, fatal string, ok bool) {
	if eae.Type != slackevents.CallbackEvent {
		return ch, "", false
	}
	switch eae.InnerEvent.Data.(type) {
	case *slackevents.MessageEvent, *slackevents.ReactionAddedEvent, *slackevents.ReactionRemovedEvent,
		*slackevents.PinAddedEvent, *slackevents.PinRemovedEvent:
		// The captured events, nearly all of the traffic: not a lifecycle
		// event, and not worth decoding the inner event once more below.
		return ch, "", false
	}
	if cb, isCB := eae.Data.(*slackevents.EventsAPICallbackEvent); isCB {
		ch.DedupKey = cb.EventID
	}
	var raw struct {
		User string `json:"user"`
		TS   string `json:"event_ts"`
	}
	if cb, isCB := eae.Data.(*slackevents.EventsAPICallbackEvent); isCB && cb.InnerEvent != nil {
		_ = json.Unmarshal(*cb.InnerEvent, &raw)
	}
	ch.Actor, ch.At = raw.User, tsTime(raw.TS)
	switch ev := eae.InnerEvent.Data.(type) {
	case *slackevents.ChannelArchiveEvent:
		ch.ChannelID, ch.Kind, ch.Gone = ev.Channel, incidentbot.EventChannelArchived, "is_archived"
	case *slackevents.GroupArchiveEvent:
		ch.ChannelID, ch.Kind, ch.Gone = ev.Channel, incidentbot.EventChannelArchived, "is_archived"
	case *slackevents.ChannelUnarchiveEvent:
		ch.ChannelID, ch.Kind, ch.Back = ev.Channel, incidentbot.EventChannelUnarchived, true
	case *slackevents.GroupUnarchiveEvent:
		ch.ChannelID, ch.Kind, ch.Back = ev.Channel, incidentbot.EventChannelUnarchived, true
	case *slackevents.ChannelDeletedEvent:
		ch.ChannelID, ch.Kind, ch.Gone = ev.Channel, incidentbot.EventChannelDeleted, "channel_not_found"
	case *slackevents.GroupDeletedEvent:
		ch.ChannelID, ch.Kind, ch.Gone = ev.Channel, incidentbot.EventChannelDeleted, "channel_not_found"
	case *slackevents.MemberLeftChannelEvent:
		if ev.User == b.botUserID {
			ch.ChannelID, ch.Gone, ch.Actor = ev.Channel, "not_in_channel", ""
		}
	case *slackevents.MemberJoinedChannelEvent:
		if ev.User == b.botUserID {
			ch.ChannelID, ch.Back, ch.Actor = ev.Channel, true, ev.Inviter
		}
	case *slackevents.TokensRevokedEvent:
		if len(ev.Tokens.Bot) == 0 || slices.Contains(ev.Tokens.Bot, b.botUserID) {
			return ch, "tokens_revoked (the bot token was revoked)", true
		}
		ch.ChannelID = ""
	case *slackevents.AppUninstalledEvent:
		return ch, "app_uninstalled (the app was removed from the workspace)", true
	default:
		return ch, "", false
	}
	if ch.ChannelID == "" {
		ch = commands.ChannelChange{}
	}
	return ch, "", true
}
