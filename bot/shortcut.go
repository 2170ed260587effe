package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/slacktext"
)

// The message shortcut "Add to incident timeline" (manifest:
// features.shortcuts, callback ShortcutCallback).
//
// On a message in an incident channel it marks that message as a key
// event: the very record a :pushpin: reaction makes (EventKeyMarked with
// the message's TS, attributed to the user, keyed by
// incidentbot.ReactionKey), so that the shortcut and a :pushpin: by the
// same person on the same message are one record, and two people marking
// one message are two, as with reactions (the post-mortem lists the
// message once). The envelope is acknowledged once the mark is committed;
// the user is then told, only to them, through the response_url.
//
// On a message anywhere else it opens a form (views.open, within the
// trigger's 3 s) listing the open incidents the user may see; on submit the
// message's text, author and permalink are recorded in the chosen
// incident's timeline (commands.Service.AddToTimeline, once per incident
// and message) before the acknowledgement, which shows the outcome in the
// form. The message travels in the form's private_metadata: its channel,
// ts, author, permalink and text, the text cut to fit Slack's 3000
// characters.

// ShortcutCallback is the callback id of the message shortcut, as the app
// manifest declares it.
const ShortcutCallback = "add_to_timeline"

// MessageShortcuts are the callback ids of the message shortcuts the bot
// handles, as the app manifest must declare them (features.shortcuts of
// type message).
func MessageShortcuts() []string { return []string{ShortcutCallback} }

// The form's incident select.
const (
	blockShortcutIncident = "incident"
	shortcutOptionsMax    = 100 // Slack's limit of a static_select
	shortcutOptionText    = 75  // and of an option's text
	shortcutPermalinkWait = 1500 * time.Millisecond
	privateMetadataMax    = 3000
)

// onShortcut handles the shortcut's message_action and its form's
// view_submission, and reports whether cb was one of them.
func (b *Bot) onShortcut(ctx context.Context, env *envelope, cb slack.InteractionCallback) bool {
	switch {
	case cb.Type == slack.InteractionTypeMessageAction && cb.CallbackID == ShortcutCallback:
	case cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == ShortcutCallback:
	default:
		return false
	}
	log := env.log().WithFields(logrus.Fields{"user": cb.User.ID, "channel": cb.Channel.ID})
	if cb.Team.ID != b.teamID {
		log.WithField("from_team", cb.Team.ID).Warn("message shortcut from another workspace ignored")
		b.ack(env, nil)
		return true
	}
	if cb.Type == slack.InteractionTypeMessageAction {
		b.onMessageShortcut(ctx, env, log, cb)
	} else {
		b.onTimelineForm(ctx, env, log, cb)
	}
	return true
}

// onMessageShortcut marks the message as a key event of the incident whose
// channel it is in, or opens the form to choose an incident.
func (b *Bot) onMessageShortcut(ctx context.Context, env *envelope, log logrus.FieldLogger, cb slack.InteractionCallback) {
	channel, ts := cb.Channel.ID, cb.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	tell := func(ctx context.Context, text string) { b.tellByURL(ctx, log, cb.ResponseURL, text) }
	id, err := b.incidentOf(ctx, channel)
	if err != nil {
		b.storeOK.Store(false)
		b.ack(env, nil)
		tell(ctx, userReply(log, err))
		return
	}
	if id != 0 {
		b.markByShortcut(ctx, env, log, id, cb, ts, tell)
		return
	}
	// Nothing is recorded before the form: acknowledge at once.
	b.ack(env, nil)
	b.openTimelineForm(ctx, log, cb, ts, tell)
}

// markByShortcut records the shortcut on a message of incident id's
// channel as the key-event mark a :pushpin: makes, then acknowledges and
// tells the user.
func (b *Bot) markByShortcut(ctx context.Context, env *envelope, log logrus.FieldLogger, id int64, cb slack.InteractionCallback,
	ts string, tell func(context.Context, string)) {
	user := cb.User.ID
	at := tsTime(cb.ActionTs)
	if at.IsZero() {
		at = time.Now().UTC()
	}
	e := incidentbot.TimelineEvent{
		IncidentID: id, Kind: incidentbot.EventKeyMarked, At: at, Actor: user, TS: ts,
		DedupKey: incidentbot.ReactionKey(ts, user),
	}
	if e.DedupKey == "" {
		b.ack(env, nil)
		tell(ctx, ":warning: Slack did not say which message this is; nothing was recorded.")
		return
	}
	n, err := b.store.AppendEvents(ctx, e)
	if err != nil {
		b.storeOK.Store(false)
		b.ack(env, nil)
		tell(ctx, userReply(log.WithField("incident", incidentbot.IncidentKey(id)), err))
		return
	}
	b.cfg.Metrics.EventsStored(n)
	b.storeOK.Store(true)
	b.ack(env, nil)
	b.learnUser(user)
	key := incidentbot.IncidentKey(id)
	if n == 0 {
		tell(ctx, ":pushpin: You had already marked this message as a key event of *"+key+"*.")
		return
	}
	tell(ctx, ":pushpin: Marked as a key event of *"+key+"*, as a :pushpin: reaction does: the post-mortem lists it under *Key events*.")
}

// openTimelineForm opens the form that picks the incident a message from
// elsewhere goes to, or tells the user why there is none. It has the
// trigger's 3 s: the incidents the user may see and the message's
// permalink are looked up at the same time.
func (b *Bot) openTimelineForm(ctx context.Context, log logrus.FieldLogger, cb slack.InteractionCallback, ts string,
	tell func(context.Context, string)) {
	var choices []*incidentbot.Incident
	var choicesErr error
	var link string
	var wg sync.WaitGroup
	wg.Go(func() { choices, choicesErr = b.cmds.TimelineChoices(ctx, cb.User.ID) })
	wg.Go(func() {
		pctx, cancel := context.WithTimeout(ctx, shortcutPermalinkWait)
		defer cancel()
		link = b.permalink(pctx, log, cb.Channel.ID, ts)
	})
	wg.Wait()
	if choicesErr != nil {
		tell(ctx, userReply(log, choicesErr))
		return
	}
	if len(choices) == 0 {
		tell(ctx, "There is no open incident you can add this message to. Open one with `/incident open [sev1..sev4] <title>`; "+
			"a private incident is offered only to the members of its channel.")
		return
	}
	author := cb.Message.User
	if author == "" {
		author = cb.Message.BotID
	}
	meta := shortcutMeta{Channel: cb.Channel.ID, TS: ts, Author: author, Permalink: link, Text: cb.Message.Text}
	if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, timelineForm(meta, choices)); err != nil {
		log.WithError(err).Warn("could not open the timeline form")
		tell(ctx, ":warning: The form could not be opened ("+incidentbot.ErrorMessage(b.slack.err("views.open", err))+
			"). Try the shortcut again, or copy the message into the incident channel.")
	}
}

// permalink is the message's link (chat.getPermalink); when Slack gives
// none (the bot cannot see the channel, or Slack is slow), the link the
// Slack client makes of the channel and ts, or "" when the workspace's
// address is not known.
func (b *Bot) permalink(ctx context.Context, log logrus.FieldLogger, channel, ts string) string {
	link, err := b.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	if err == nil && link != "" {
		return link
	}
	if err != nil {
		log.WithError(b.slack.err("chat.getPermalink", err)).Debug("no permalink from Slack; making one")
	}
	base := b.channelURL(channel)
	if base == "" || ts == "" {
		return ""
	}
	return base + "/p" + strings.Replace(ts, ".", "", 1)
}

// shortcutMeta is the message a timeline form is about, kept in its
// private_metadata.
type shortcutMeta struct {
	Channel   string `json:"c"`
	TS        string `json:"ts"`
	Author    string `json:"u,omitempty"`
	Permalink string `json:"l,omitempty"`
	Text      string `json:"t,omitempty"`
}

// encode is the private_metadata of m, its text cut (marked "…") to the
// longest start that lets the whole fit Slack's limit.
func (m shortcutMeta) encode() string {
	enc := func(m shortcutMeta) string {
		var b strings.Builder
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false) // "<" as itself, not as 6 bytes
		_ = e.Encode(m)
		return strings.TrimSuffix(b.String(), "\n")
	}
	raw := enc(m)
	if len(raw) <= privateMetadataMax {
		return raw
	}
	// The largest cut that fits: JSON escapes make the encoded text longer
	// than the text by a factor that depends on the text.
	full := m.Text
	lo, hi := 0, len(full)-1 // a cut to lo bytes fits; to hi+1 does not
	for lo < hi {
		mid := (lo + hi + 1) / 2
		m.Text = truncate(full, mid)
		if len(enc(m)) <= privateMetadataMax {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m.Text = ""
	if lo > len("…") {
		m.Text = truncate(full, lo)
	}
	return enc(m)
}

// timelineForm is the form that picks the incident a message goes to.
// The select is optional to Slack, so that submitting without a choice
// reaches the bot, which answers with the error under it.
func timelineForm(m shortcutMeta, choices []*incidentbot.Incident) slack.ModalViewRequest {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	var opts []*slack.OptionBlockObject
	for i, inc := range choices {
		if i == shortcutOptionsMax {
			break
		}
		label := fmt.Sprintf("%s · %s · %s", inc.Key(), inc.Severity, inc.Title)
		if inc.Private {
			label = fmt.Sprintf("%s · %s · private · %s", inc.Key(), inc.Severity, inc.Title)
		}
		opts = append(opts, slack.NewOptionBlockObject(strconv.FormatInt(inc.ID, 10), text(truncate(label, shortcutOptionText)), nil))
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, text("Choose an open incident"), blockShortcutIncident, opts...)
	in := slack.NewInputBlock(blockShortcutIncident, text("Incident"), text("The message's text, author and link go into its timeline and post-mortem."), sel)
	in.Optional = true
	from := "a bot"
	if strings.HasPrefix(m.Author, "U") || strings.HasPrefix(m.Author, "W") {
		from = slacktext.Mention(m.Author)
	}
	quote := truncate("Message from "+from+":\n>"+strings.ReplaceAll(m.Text, "\n", "\n>"), sectionMax)
	blocks := []slack.Block{section(quote), in}
	if len(choices) > shortcutOptionsMax {
		blocks = append(blocks, section(fmt.Sprintf("_Only the %d most severe and newest of %d open incidents are listed._", shortcutOptionsMax, len(choices))))
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ShortcutCallback,
		Title:           text("Add to timeline"),
		Submit:          text("Add"),
		Close:           text("Cancel"),
		PrivateMetadata: m.encode(),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// onTimelineForm records the message of a submitted timeline form in the
// chosen incident's timeline, then acknowledges: with the outcome shown in
// the form, or with the error under the select and nothing recorded.
func (b *Bot) onTimelineForm(ctx context.Context, env *envelope, log logrus.FieldLogger, cb slack.InteractionCallback) {
	fieldError := func(msg string) {
		b.ack(env, viewErrors{"errors", map[string]string{blockShortcutIncident: msg}})
	}
	var m shortcutMeta
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &m); err != nil || m.Channel == "" || m.TS == "" {
		fieldError("This form has lost its message. Close it and use the shortcut on the message again.")
		return
	}
	choice := cb.View.State.Values[blockShortcutIncident][blockShortcutIncident].SelectedOption.Value
	if choice == "" {
		fieldError("Choose the incident to add the message to.")
		return
	}
	id, err := strconv.ParseInt(choice, 10, 64)
	if err != nil || id <= 0 {
		fieldError("Choose one of the incidents listed.")
		return
	}
	inc, added, err := b.cmds.AddToTimeline(ctx, commands.AddToTimelineRequest{
		IncidentID: id, UserID: cb.User.ID, ChannelID: m.Channel, TS: m.TS,
		Author: m.Author, Text: m.Text, Permalink: m.Permalink, At: tsTime(m.TS),
	})
	if err != nil {
		switch incidentbot.ErrorCode(err) {
		case incidentbot.EInternal, incidentbot.EUnavailable:
			b.storeOK.Store(false)
			fieldError(strings.TrimPrefix(userReply(log, err), ":warning: "))
		default:
			fieldError(incidentbot.ErrorMessage(err))
		}
		return
	}
	b.storeOK.Store(true)
	msg := ":white_check_mark: Added to the timeline of *" + inc.Key() + "*: the post-mortem lists it under *Key events*."
	if !added {
		msg = "This message is already in the timeline of *" + inc.Key() + "*."
	}
	b.ack(env, viewUpdate{"update", doneView(msg)})
	b.learnUser(cb.User.ID)
	b.learnUser(m.Author)
}

// viewUpdate is the acknowledgement that replaces a submitted view.
type viewUpdate struct {
	ResponseAction string                 `json:"response_action"`
	View           slack.ModalViewRequest `json:"view"`
}

// doneView is the form's last view: what happened, and a button to close it.
func doneView(msg string) slack.ModalViewRequest {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: ShortcutCallback + "_done",
		Title:      text("Add to timeline"),
		Close:      text("Done"),
		Blocks:     slack.Blocks{BlockSet: []slack.Block{section(msg)}},
	}
}
