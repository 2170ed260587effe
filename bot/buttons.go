package bot

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/slacktext"
)

// triggerLife is how long Slack accepts a trigger_id for views.open after
// the interaction that carried it.
const triggerLife = 3 * time.Second

// The callback ids of the forms the header's buttons open.
const (
	formStatus     = "incident_status_form"
	formHypothesis = "incident_hypothesis_form"
	formAction     = "incident_action_form"
	formResolve    = "incident_resolve_form"
)

// headerForms maps a header button to the callback id of the form it opens.
var headerForms = map[string]string{
	commands.ButtonStatus:     formStatus,
	commands.ButtonHypothesis: formHypothesis,
	commands.ButtonAction:     formAction,
	commands.ButtonResolve:    formResolve,
}

// formSubcommand is the subcommand a form stands for, in metrics, and its
// main input, under which errors that name no input are shown.
var formSubcommand = map[string]struct{ name, input string }{
	formStatus:     {"status", commands.InputUpdate},
	formHypothesis: {"hypothesis", commands.InputHypothesis},
	formAction:     {"action", commands.InputAction},
	formResolve:    {"resolve", commands.InputSummary},
}

// formMeta is a header form's private_metadata: the incident it acts on
// and the channel whose header opened it (where the clicker is answered).
type formMeta struct {
	Incident int64  `json:"incident"`
	Channel  string `json:"channel"`
}

// onClick handles a header button (block_actions). "I'm the commander" is
// recorded at once and acknowledged after the commit, as a slash command
// is. A button that opens a form is acknowledged first — the click records
// nothing, and the acknowledgement is one websocket write — and the form is
// opened right after, within what is left of the trigger's 3 s (Slack's
// retries of views.open stop there): acknowledging after views.open would
// put Slack's round trip, and any retry, inside the 3 s the
// acknowledgement has. A click on a stale button is answered ephemerally.
func (b *Bot) onClick(ctx context.Context, env *envelope, cb slack.InteractionCallback) {
	log := env.log().WithFields(logrus.Fields{"user": cb.User.ID, "channel": cb.Channel.ID})
	if cb.Team.ID != b.teamID || len(cb.ActionCallback.BlockActions) == 0 {
		b.ack(env, nil)
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	form, opens := headerForms[act.ActionID]
	if !opens && act.ActionID != commands.ButtonCommander {
		b.ack(env, nil)
		return
	}
	tell := func(text string) {
		b.background(noticeTimeout, func(ctx context.Context) { b.tellByURL(ctx, log, cb.ResponseURL, text) })
	}
	id, err := commands.IncidentID(act.Value)
	if err != nil {
		b.ack(env, nil)
		tell(userReply(log, err))
		return
	}
	log = log.WithField("incident", incidentbot.IncidentKey(id))
	if !opens {
		env.subcommand = "role"
		res, err := b.cmds.TakeCommand(ctx, commands.Click{TeamID: cb.Team.ID, UserID: cb.User.ID, IncidentID: id, DedupKey: cb.TriggerID})
		b.storeOK.Store(incidentbot.ErrorCode(err) != incidentbot.EUnavailable)
		b.ack(env, nil)
		if err != nil {
			tell(userReply(log, err))
			return
		}
		b.learnUser(cb.User.ID)
		tell(res.Reply)
		b.followup(log, res.Followup, func(ctx context.Context, text string) { b.tellByURL(ctx, log, cb.ResponseURL, text) })
		return
	}
	inc, err := b.cmds.ClickTarget(ctx, id, act.ActionID)
	b.ack(env, nil)
	if err != nil {
		tell(userReply(log, err))
		return
	}
	octx, cancel := context.WithDeadline(ctx, env.start.Add(triggerLife))
	defer cancel()
	if _, err := b.api.OpenViewContext(octx, cb.TriggerID, headerForm(form, inc, cb.Channel.ID)); err != nil {
		log.WithError(err).Warn("could not open the form")
		tell(":warning: The form could not be opened (" + incidentbot.ErrorMessage(b.slack.err("views.open", err)) + "). " +
			"Type the command instead: `/incident help` lists them.")
	}
}

// headerForm is the form of callback id form for inc.
func headerForm(form string, inc *incidentbot.Incident, channel string) slack.ModalViewRequest {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	input := func(id, label string, el slack.BlockElement, optional bool) *slack.InputBlock {
		blk := slack.NewInputBlock(id, text(label), nil, el)
		blk.Optional = optional
		return blk
	}
	multiline := func(id, placeholder string, max int) *slack.PlainTextInputBlockElement {
		el := slack.NewPlainTextInputBlockElement(text(placeholder), id)
		el.Multiline, el.MaxLength = true, max
		return el
	}
	meta, _ := json.Marshal(formMeta{Incident: inc.ID, Channel: channel})
	about := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*"+inc.Key()+"*: "+slacktext.Escape(inc.Title), false, false), nil, nil)
	v := slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: form, PrivateMetadata: string(meta),
		Close: text("Cancel"), Blocks: slack.Blocks{BlockSet: []slack.Block{about}},
	}
	add := func(blocks ...slack.Block) { v.Blocks.BlockSet = append(v.Blocks.BlockSet, blocks...) }
	switch form {
	case formStatus:
		var opts []*slack.OptionBlockObject
		for _, st := range []incidentbot.Status{incidentbot.StatusInvestigating, incidentbot.StatusIdentified, incidentbot.StatusMonitoring} {
			opts = append(opts, slack.NewOptionBlockObject(string(st), text(string(st)), nil))
		}
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, text("Status"), commands.InputStatus, opts...)
		for _, o := range opts {
			if o.Value == string(inc.Status) {
				sel.InitialOption = o
			}
		}
		v.Title, v.Submit = text("Post update"), text("Post")
		add(input(commands.InputStatus, "Status", sel, false),
			input(commands.InputUpdate, "Update", multiline(commands.InputUpdate, "What is known, what is being done, when the next update comes", 3000), false))
	case formHypothesis:
		v.Title, v.Submit = text("Add hypothesis"), text("Add")
		add(input(commands.InputHypothesis, "Hypothesis", multiline(commands.InputHypothesis, "What you think is going on", 3000), false))
	case formAction:
		v.Title, v.Submit = text("Add action item"), text("Add")
		what := slack.NewPlainTextInputBlockElement(text("What needs doing"), commands.InputAction)
		what.MaxLength = 3000
		add(input(commands.InputAction, "Action", what, false),
			input(commands.InputOwner, "Owner", slack.NewOptionsSelectBlockElement(slack.OptTypeUser, text("Who does it"), commands.InputOwner), true),
			input(commands.InputDue, "Due", slack.NewDatePickerBlockElement(commands.InputDue), true))
	case formResolve:
		v.Title, v.Submit = text("Resolve"), text("Resolve")
		add(input(commands.InputSummary, "Summary", multiline(commands.InputSummary, "What happened and how it was fixed", 3000), true))
	}
	return v
}

// onHeaderForm handles the submission of a header form: a missing or
// refused input keeps the form open with the error under it and records
// nothing; otherwise the change is recorded as the equivalent command
// records it, attributed to the submitter, and acknowledged only after the
// commit; the reply and any follow-up failure are shown to the submitter
// in the incident channel. A redelivered submission (the same view id) is
// applied once.
func (b *Bot) onHeaderForm(ctx context.Context, env *envelope, cb slack.InteractionCallback) {
	log := env.log().WithField("user", cb.User.ID)
	var meta formMeta
	if cb.Team.ID != b.teamID || json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta) != nil || meta.Incident <= 0 {
		b.ack(env, nil)
		return
	}
	log = log.WithField("incident", incidentbot.IncidentKey(meta.Incident))
	sub := formSubcommand[cb.View.CallbackID]
	env.subcommand = sub.name
	cl := commands.Click{TeamID: cb.Team.ID, UserID: cb.User.ID, IncidentID: meta.Incident, DedupKey: cb.View.ID}
	vals := cb.View.State.Values
	val := func(input string) slack.BlockAction { return vals[input][input] }
	var res commands.Result
	var err error
	switch cb.View.CallbackID {
	case formStatus:
		res, err = b.cmds.PostUpdate(ctx, cl, val(commands.InputStatus).SelectedOption.Value, val(commands.InputUpdate).Value)
	case formHypothesis:
		res, err = b.cmds.AddHypothesis(ctx, cl, val(commands.InputHypothesis).Value)
	case formAction:
		res, err = b.cmds.AddAction(ctx, cl, val(commands.InputAction).Value, val(commands.InputOwner).SelectedUser, val(commands.InputDue).SelectedDate)
	case formResolve:
		res, err = b.cmds.Resolve(ctx, cl, val(commands.InputSummary).Value)
	}
	if err != nil {
		if incidentbot.ErrorCode(err) == incidentbot.EUnavailable {
			b.storeOK.Store(false)
		}
		b.ack(env, viewErrors{"errors", map[string]string{formInput(err, sub.input): formMessage(log, err)}})
		return
	}
	b.storeOK.Store(true)
	b.ack(env, nil)
	b.learnUser(cb.User.ID)
	if owner := val(commands.InputOwner).SelectedUser; owner != "" {
		b.learnUser(owner)
	}
	tell := func(ctx context.Context, text string) {
		if err := b.slack.Ephemeral(ctx, meta.Channel, cb.User.ID, text); err != nil {
			log.WithError(err).Warn("could not answer the form's submitter")
		}
	}
	if meta.Channel != "" && res.Reply != "" {
		b.background(noticeTimeout, func(ctx context.Context) { tell(ctx, res.Reply) })
	}
	if meta.Channel == "" {
		tell = nil
	}
	b.followup(log, res.Followup, tell)
}

// formInput is the input a form's error is shown under: the one a
// *commands.FormError names, else main.
func formInput(err error, main string) string {
	if fe, ok := errors.AsType[*commands.FormError](err); ok {
		return fe.Input
	}
	return main
}

// formMessage is what a form shows under an input for err: its first line
// (the command usage that follows does not apply to a form).
func formMessage(log logrus.FieldLogger, err error) string {
	switch incidentbot.ErrorCode(err) {
	case incidentbot.EInternal, incidentbot.EUnavailable:
		return userReply(log, err)
	}
	msg := incidentbot.ErrorMessage(err)
	if i := strings.Index(msg, "\n"); i > 0 {
		msg = msg[:i]
	}
	return msg
}
