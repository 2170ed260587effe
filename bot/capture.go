package bot

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/incidentbot/incidentbot"
)

// tsTime converts a Slack ts ("1700000000.000100") to a UTC time.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000).UTC()
}

// captured is what one Events API event contributes to an incident timeline.
type captured struct {
	channel string
	events  []incidentbot.TimelineEvent
}

// captureEvent is capture for a whole Events API event. A message without
// ts, which has no key of its own (incidentbot.MessageKey), is keyed by the
// delivery's event id, which Slack keeps across redeliveries, and dropped
// when the envelope has none either: it could not be stored only once.
func (b *Bot) captureEvent(eae slackevents.EventsAPIEvent) captured {
	c := b.capture(eae.InnerEvent)
	eventID := ""
	if cb, ok := eae.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID = cb.EventID
	}
	kept := c.events[:0]
	for _, e := range c.events {
		if e.DedupKey == "" {
			if e.DedupKey = incidentbot.EventKey(eventID); e.DedupKey == "" {
				continue
			}
		}
		kept = append(kept, e)
	}
	c.events = kept
	return c
}

// markedFile returns the id of the file of a :pushpin: on a file, which
// comes without a channel (Slack names none: onEvent finds the incident
// where the file was shared), or "".
func (c captured) markedFile() string {
	if c.channel != "" || len(c.events) != 1 {
		return ""
	}
	e := &c.events[0]
	if e.Kind != incidentbot.EventKeyMarked || e.TS != "" || len(e.Files) != 1 {
		return ""
	}
	return e.Files[0].ID
}

// capture maps an inner event to timeline events. Text is kept as Slack
// sends it (entities &amp; &lt; &gt; and markup such as <@U123>), so that a
// literal "<@U123>" someone typed stays distinct from a mention; renderers
// decode it (package slacktext). It returns a zero
// captured for events that are not recorded: other event types, reactions
// other than :pushpin:, and the bot's own messages, which are recorded as
// the structured events they announce.
func (b *Bot) capture(inner slackevents.EventsAPIInnerEvent) captured {
	switch ev := inner.Data.(type) {
	case *slackevents.MessageEvent:
		return b.captureMessage(ev)
	case *slackevents.ReactionAddedEvent:
		return b.captureReaction(ev)
	case *slackevents.PinAddedEvent:
		if ev.User == b.botUserID || ev.Item.Message == nil {
			return captured{}
		}
		m := ev.Item.Message
		return captured{ev.Channel, []incidentbot.TimelineEvent{{
			Kind: incidentbot.EventPinned, At: tsTime(ev.EventTimestamp), Actor: ev.User, TS: m.Timestamp,
			Text: m.Text, DedupKey: incidentbot.PinKey(m.Timestamp),
		}}}
	}
	return captured{}
}

// captureReaction records a :pushpin: added to a message, or to a file
// itself (item {"type":"file","file":"F…"}), as a key event. Removing a
// :pushpin: is not recorded (the bot does not subscribe to
// reaction_removed): a key event, once marked, stays in the record.
func (b *Bot) captureReaction(ev *slackevents.ReactionAddedEvent) captured {
	if ev.Reaction != "pushpin" || ev.User == b.botUserID {
		return captured{}
	}
	e := incidentbot.TimelineEvent{Kind: incidentbot.EventKeyMarked, At: tsTime(ev.EventTimestamp), Actor: ev.User}
	switch {
	case ev.Item.Type == "message" && ev.Item.Timestamp != "":
		e.TS, e.DedupKey = ev.Item.Timestamp, incidentbot.ReactionKey(ev.Item.Timestamp, ev.User)
		return captured{ev.Item.Channel, []incidentbot.TimelineEvent{e}}
	case ev.Item.Type == "file" && ev.Item.File != nil && ev.Item.File.ID != "":
		id := ev.Item.File.ID
		e.Files, e.DedupKey = []incidentbot.File{{ID: id}}, incidentbot.FileReactionKey(id, ev.User)
		return captured{"", []incidentbot.TimelineEvent{e}} // see markedFile
	}
	return captured{}
}

// errFound stops a walk over a timeline.
var errFound = errors.New("found")

// sharedFile finds where the file fileID was shared: the open incident
// whose timeline holds the message that shared it (a file_shared event),
// and that event. It reads the open incidents' timelines, which is slow
// for very long ones, but a :pushpin: on a file is rare. It reports false
// when no open incident has the file, and fails when the store does.
func (b *Bot) sharedFile(ctx context.Context, fileID string) (int64, incidentbot.TimelineEvent, incidentbot.File, bool, error) {
	incs, err := b.store.Incidents(ctx, true)
	if err != nil {
		return 0, incidentbot.TimelineEvent{}, incidentbot.File{}, false, err
	}
	for _, inc := range incs {
		var share incidentbot.TimelineEvent
		var file incidentbot.File
		err := b.store.Events(ctx, inc.ID, func(e *incidentbot.TimelineEvent) error {
			for _, f := range e.Files {
				if f.ID == fileID && e.Kind != incidentbot.EventKeyMarked {
					share, file = *e, f
					return errFound
				}
			}
			return nil
		})
		if errors.Is(err, errFound) {
			return inc.ID, share, file, true, nil
		}
		if err != nil {
			return 0, incidentbot.TimelineEvent{}, incidentbot.File{}, false, err
		}
	}
	return 0, incidentbot.TimelineEvent{}, incidentbot.File{}, false, nil
}

func (b *Bot) ownMessage(user, botID string) bool {
	return (user != "" && user == b.botUserID) || (botID != "" && botID == b.botID)
}

func (b *Bot) captureMessage(ev *slackevents.MessageEvent) captured {
	// One function per kind: each builds its event in its own frame, and
	// the path of nearly all of the traffic (a new message) stays within
	// the envelope goroutine's starting stack.
	switch {
	case capturedSubtype(ev.SubType):
		return b.captureNew(ev)
	case ev.SubType == "message_changed":
		return b.captureEdit(ev)
	case ev.SubType == "message_deleted":
		return b.captureDelete(ev)
	}
	return captured{}
}

// oneEvent is what a message event in channel contributes: e.
func oneEvent(channel string, e incidentbot.TimelineEvent) captured {
	return captured{channel, []incidentbot.TimelineEvent{e}}
}

// captureNew captures a new message (a reply, a file share).
func (b *Bot) captureNew(ev *slackevents.MessageEvent) captured {
	var files []slack.File
	if ev.Message != nil {
		files = ev.Message.Files
	}
	e, ok := b.newMessage(ev.User, ev.BotID, ev.Text, ev.TimeStamp, ev.ThreadTimeStamp, files)
	if !ok {
		return captured{}
	}
	if e.At.IsZero() {
		// No ts: keyed by the delivery's event id in onEvent.
		e.At = tsTime(ev.EventTimeStamp)
	}
	return oneEvent(ev.Channel, e)
}

// captureEdit captures a message_changed that is an edit.
func (b *Bot) captureEdit(ev *slackevents.MessageEvent) captured {
	m, prev := ev.Message, ev.PreviousMessage
	// "message": null leaves Message as the event's own top level
	// (slackevents' fallback for new messages), whose subtype is
	// message_changed: there is no edited message to record.
	if m == nil || m.SubType == "message_changed" || m.Timestamp == "" || b.ownMessage(m.User, m.BotID) {
		return captured{}
	}
	prevText := ""
	if prev != nil {
		prevText = prev.Text
	}
	text := m.Text
	if prev != nil && text == prevText {
		return captured{} // an unfurl or other change that is not an edit
	}
	at, editTS := tsTime(ev.EventTimeStamp), ev.EventTimeStamp
	if m.Edited != nil && m.Edited.Timestamp != "" {
		at, editTS = tsTime(m.Edited.Timestamp), m.Edited.Timestamp
	}
	e := incidentbot.TimelineEvent{
		Kind: incidentbot.EventEdited, At: at, Actor: m.User, TS: m.Timestamp, Text: text, PrevText: prevText,
		DedupKey: incidentbot.EditKey(m.Timestamp, editTS),
	}
	if m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp {
		e.ThreadTS = m.ThreadTimestamp
	}
	return oneEvent(ev.Channel, e)
}

// captureDelete captures a message_deleted.
func (b *Bot) captureDelete(ev *slackevents.MessageEvent) captured {
	prev := ev.PreviousMessage
	if ev.DeletedTimeStamp == "" || prev != nil && b.ownMessage(prev.User, prev.BotID) {
		return captured{}
	}
	e := incidentbot.TimelineEvent{
		Kind: incidentbot.EventDeleted, At: tsTime(ev.EventTimeStamp), TS: ev.DeletedTimeStamp,
		DedupKey: incidentbot.DeleteKey(ev.DeletedTimeStamp),
	}
	if e.At.IsZero() {
		e.At = tsTime(ev.TimeStamp)
	}
	if prev != nil {
		e.Actor, e.PrevText = prev.User, prev.Text
		if prev.ThreadTimestamp != "" && prev.ThreadTimestamp != prev.Timestamp {
			e.ThreadTS = prev.ThreadTimestamp
		}
	}
	return oneEvent(ev.Channel, e)
}

// capturedSubtypes are the message subtypes recorded as new messages.
func capturedSubtype(subtype string) bool {
	switch subtype {
	case "", "thread_broadcast", "file_share", "bot_message", "me_message":
		return true
	}
	return false
}

// newMessage is the timeline event of a new message (or thread reply), from
// an event or from conversations.history; false for the bot's own.
func (b *Bot) newMessage(user, botID, text, ts, threadTS string, files []slack.File) (incidentbot.TimelineEvent, bool) {
	if b.ownMessage(user, botID) {
		return incidentbot.TimelineEvent{}, false
	}
	e := incidentbot.TimelineEvent{
		Kind: incidentbot.EventMessage, At: tsTime(ts), Actor: user, TS: ts, Text: text, DedupKey: incidentbot.MessageKey(ts),
	}
	if e.Actor == "" {
		e.Actor = botID
	}
	if threadTS != "" && threadTS != ts {
		e.ThreadTS = threadTS
	}
	if len(files) > 0 {
		e.Kind = incidentbot.EventFileShared
		for i := range files {
			e.Files = append(e.Files, fileOf(&files[i]))
		}
	}
	return e, true
}

// fileOf is the stored part of f (taken by pointer: a slack.File is
// 1.7 KB, and copies of it in the capture path's frames made the envelope
// goroutines grow their stacks).
func fileOf(f *slack.File) incidentbot.File {
	url := f.Permalink
	if url == "" {
		url = f.URLPrivate
	}
	return incidentbot.File{ID: f.ID, Name: f.Name, URL: url}
}

// incidentOf returns the incident ID of an incident channel, or 0.
func (b *Bot) incidentOf(ctx context.Context, channel string) (int64, error) {
	if channel == "" {
		return 0, nil
	}
	if id, ok := b.channels.Load(channel); ok {
		return id.(int64), nil
	}
	inc, err := b.store.IncidentByChannel(ctx, channel)
	if incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	b.channels.Store(channel, inc.ID)
	return inc.ID, nil
}

// onEvent records an Events API event from an incident channel and only then
// acknowledges it. A store failure leaves it unacknowledged for redelivery.
func (b *Bot) onEvent(ctx context.Context, env *envelope, eae slackevents.EventsAPIEvent) {
	if eae.Type != slackevents.CallbackEvent {
		b.ack(env, nil)
		return
	}
	if eae.TeamID != b.teamID {
		env.log().WithField("from_team", eae.TeamID).Warn("event from another workspace ignored")
		b.ack(env, nil)
		return
	}
	if b.onLifecycle(ctx, env, eae) || b.onHome(env, eae) {
		return
	}
	c := b.captureEvent(eae)
	if len(c.events) == 0 {
		b.ack(env, nil)
		return
	}
	var id int64
	var err error
	if file := c.markedFile(); file != "" {
		id, err = b.markFile(ctx, file, &c)
		if err != nil {
			b.storeOK.Store(false)
			env.log().WithField("file", file).WithError(err).Error("could not look up a file's incident; leaving the event unacknowledged for redelivery")
			return
		}
	} else {
		id, err = b.incidentOf(ctx, c.channel)
		if err != nil {
			b.storeFailed(ctx, env.log().WithField("channel", c.channel), c.channel, err)
			return
		}
	}
	if id == 0 {
		b.ack(env, nil)
		return
	}
	for i := range c.events {
		c.events[i].IncidentID = id
	}
	n, err := b.store.AppendEvents(ctx, c.events...)
	if err != nil {
		b.storeFailed(ctx, env.log().WithFields(logrus.Fields{"channel": c.channel, "incident": incidentbot.IncidentKey(id)}), c.channel, err)
		return
	}
	b.cfg.Metrics.EventsStored(n)
	b.storeOK.Store(true)
	b.ack(env, nil)
	for _, e := range c.events {
		b.learnUser(e.Actor)
	}
}

// markFile completes the :pushpin: on file fileID from the message that
// shared it (see sharedFile): the mark's TS is that message's, so that the
// post-mortem shows it there, and its file gets the stored name and link.
// It returns the incident, or 0 when the file was shared in no open
// incident's channel (nothing is recorded then).
func (b *Bot) markFile(ctx context.Context, fileID string, c *captured) (int64, error) {
	id, share, file, ok, err := b.sharedFile(ctx, fileID)
	if err != nil || !ok {
		return 0, err
	}
	if inc, err := b.store.Incident(ctx, id); err == nil {
		c.channel = inc.ChannelID
	}
	e := &c.events[0]
	e.TS, e.ThreadTS, e.Files = share.TS, share.ThreadTS, []incidentbot.File{file}
	return id, nil
}

// storeFailed makes a storage failure loud: /readyz fails, the log says so,
// and so does the channel (at most once a minute); the envelope stays
// unacknowledged so that Slack delivers it again.
func (b *Bot) storeFailed(ctx context.Context, log logrus.FieldLogger, channel string, err error) {
	b.storeOK.Store(false)
	log.WithError(err).Error("could not record the event; leaving it unacknowledged for redelivery")
	now := time.Now()
	if last, ok := b.storeNotice.Load(channel); ok && now.Sub(last.(time.Time)) < time.Minute {
		return
	}
	b.storeNotice.Store(channel, now)
	b.background(noticeTimeout, func(ctx context.Context) {
		text := ":warning: incidentbot cannot write to its database right now (" + incidentbot.ErrorMessage(err) +
			"). Messages here are not recorded yet; Slack delivers them again and they will be recorded when the storage recovers."
		if _, err := b.slack.Post(ctx, channel, text); err != nil {
			log.WithError(err).Warn("could not tell the channel about the storage failure")
		}
	})
}

// learnUser fetches and stores the display name of a user the first time
// they are seen, after the acknowledgement.
func (b *Bot) learnUser(id string) {
	if id == "" || !(strings.HasPrefix(id, "U") || strings.HasPrefix(id, "W")) {
		return
	}
	if _, seen := b.users.LoadOrStore(id, struct{}{}); seen {
		return
	}
	b.background(noticeTimeout, func(ctx context.Context) {
		u, err := b.api.GetUserInfoContext(ctx, id)
		if err != nil {
			b.users.Delete(id)
			b.log.WithField("user", id).WithError(b.slack.err("users.info", err)).Debug("could not fetch a user's name")
			return
		}
		if err := b.store.PutUsers(ctx, incidentbot.User{ID: id, Name: userName(u)}); err != nil {
			b.users.Delete(id)
		}
	})
}

// EventSubscriptions are the Events API subscriptions the bot handles, as
// the app manifest must list them: messages in public and private channels
// (with their subtypes: edits, deletions, files, thread replies), reactions
// and pins, the life of channels and of the app and who joins and leaves
// (see lifecycle.go), and the App Home being opened (home.go).
func EventSubscriptions() []string {
	out := append([]string{"message.channels", "message.groups", "reaction_added", "pin_added"}, lifecycleEvents...)
	return append(out, homeEvents...)
}
