package bot

import (
	"context"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/slacktext"
)

// ephemeral is the acknowledgement payload that answers a slash command to
// the caller only.
type ephemeral struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// userReply turns a command error into what the caller is told.
func userReply(log logrus.FieldLogger, err error) string {
	switch incidentbot.ErrorCode(err) {
	case incidentbot.EInternal, incidentbot.EUnavailable:
		log.WithError(err).Error("command failed")
		return ":warning: Nothing was recorded: " + incidentbot.ErrorMessage(err) + " Please try again in a moment."
	}
	return ":warning: " + incidentbot.ErrorMessage(err)
}

func (b *Bot) onSlash(ctx context.Context, env *envelope, cmd slack.SlashCommand) {
	env.subcommand = commands.Subcommand(cmd.Text)
	log := env.log().WithFields(logrus.Fields{"user": cmd.UserID, "channel": cmd.ChannelID})
	if cmd.TeamID != b.teamID {
		log.WithField("from_team", cmd.TeamID).Warn("slash command from another workspace ignored")
		b.ack(env, ephemeral{"ephemeral", "This incidentbot serves another workspace."})
		return
	}
	res, err := b.cmds.Handle(ctx, commands.Invocation{
		TeamID: cmd.TeamID, ChannelID: cmd.ChannelID, UserID: cmd.UserID, Text: cmd.Text, DedupKey: cmd.TriggerID,
	})
	if err != nil {
		if incidentbot.ErrorCode(err) == incidentbot.EUnavailable {
			b.storeOK.Store(false)
		}
		b.ack(env, ephemeral{"ephemeral", userReply(log, err)})
		return
	}
	b.storeOK.Store(true)
	b.learnUser(cmd.UserID)
	for _, id := range slacktext.Mentions(cmd.Text) {
		b.learnUser(id) // the post-mortem will need their names
	}
	if res.OpenModal {
		b.ack(env, nil)
		if _, err := b.api.OpenViewContext(ctx, cmd.TriggerID, openModal()); err != nil {
			log.WithError(err).Warn("could not open the modal")
			b.tellByURL(ctx, log, cmd.ResponseURL, ":warning: The form could not be opened ("+incidentbot.ErrorMessage(b.slack.err("views.open", err))+"). Type `/incident open [sev1..sev4] <title>` instead.")
		}
		return
	}
	b.ack(env, ephemeral{"ephemeral", res.Reply})
	b.followup(log, res.Followup, func(ctx context.Context, text string) { b.tellByURL(ctx, log, cmd.ResponseURL, text) })
}

// tellByURL answers the caller of a slash command through its response_url.
func (b *Bot) tellByURL(ctx context.Context, log logrus.FieldLogger, url, text string) {
	if url == "" {
		return
	}
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{ResponseType: "ephemeral", Text: text}); err != nil {
		log.WithError(err).Warn("could not answer through the response_url")
	}
}

// Modal identifiers.
const (
	modalCallback = "incident_open"
	blockTitle    = "title"
	blockSeverity = "severity"
	blockDesc     = "description"
)

// openModal is the form that `/incident open` with no arguments opens.
func openModal() slack.ModalViewRequest {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	title := slack.NewPlainTextInputBlockElement(text("Checkout latency spike"), blockTitle)
	title.MaxLength = commands.MaxTitle
	var opts []*slack.OptionBlockObject
	for _, s := range []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2, incidentbot.Sev3, incidentbot.Sev4} {
		opts = append(opts, slack.NewOptionBlockObject(s.String(), text(s.String()), nil))
	}
	sev := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, text("Severity"), blockSeverity, opts...)
	sev.InitialOption = opts[incidentbot.DefaultSeverity-1]
	desc := slack.NewPlainTextInputBlockElement(text("What is happening, who is affected"), blockDesc)
	desc.Multiline = true
	descBlock := slack.NewInputBlock(blockDesc, text("Description"), nil, desc)
	descBlock.Optional = true
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: modalCallback,
		Title:      text("Open an incident"),
		Submit:     text("Open"),
		Close:      text("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(blockTitle, text("Title"), nil, title),
			slack.NewInputBlock(blockSeverity, text("Severity"), nil, sev),
			descBlock,
			privateInput(),
		}},
	}
}

// viewErrors is the acknowledgement that keeps a modal open with errors.
type viewErrors struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
}

func (b *Bot) onInteractive(ctx context.Context, env *envelope, cbp *slack.InteractionCallback) {
	cb := *cbp
	if b.onShortcut(ctx, env, cb) { // shortcut.go
		return
	}
	switch {
	case cb.Type == slack.InteractionTypeBlockActions:
		b.onClick(ctx, env, cb) // buttons.go
		return
	case cb.Type == slack.InteractionTypeViewSubmission && formSubcommand[cb.View.CallbackID].name != "":
		b.onHeaderForm(ctx, env, cb)
		return
	}
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != modalCallback {
		b.ack(env, nil)
		return
	}
	log := env.log().WithField("user", cb.User.ID)
	if cb.Team.ID != b.teamID {
		b.ack(env, nil)
		return
	}
	vals := cb.View.State.Values
	req := commands.OpenRequest{
		TeamID:      cb.Team.ID,
		UserID:      cb.User.ID,
		Title:       vals[blockTitle][blockTitle].Value,
		Description: vals[blockDesc][blockDesc].Value,
		Private:     privateChecked(vals),
		DedupKey:    cb.View.ID,
	}
	if s := vals[blockSeverity][blockSeverity].SelectedOption.Value; s != "" {
		sev, err := incidentbot.ParseSeverity(s)
		if err != nil {
			b.ack(env, viewErrors{"errors", map[string]string{blockSeverity: incidentbot.ErrorMessage(err)}})
			return
		}
		req.Severity = sev
	}
	res, err := b.cmds.Open(ctx, req)
	if err != nil {
		if code := incidentbot.ErrorCode(err); code == incidentbot.EInvalid {
			msg := incidentbot.ErrorMessage(err)
			if i := strings.Index(msg, "\n"); i > 0 {
				msg = msg[:i]
			}
			b.ack(env, viewErrors{"errors", map[string]string{blockTitle: msg}})
			return
		}
		b.ack(env, viewErrors{"errors", map[string]string{blockTitle: userReply(log, err)}})
		return
	}
	b.ack(env, nil)
	b.learnUser(cb.User.ID)
	dm := func(ctx context.Context, text string) {
		if _, err := b.slack.Post(ctx, cb.User.ID, text); err != nil {
			log.WithError(err).Warn("could not tell the user by DM")
		}
	}
	b.followup(log, res.Followup, dm)
}
