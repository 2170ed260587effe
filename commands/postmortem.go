package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
)

// FollowUpAfter is when the post-incident review is due after resolution.
const FollowUpAfter = 14 * 24 * time.Hour

func (c *call) postmortem() (Result, error) {
	const usage = "/incident postmortem [INC-n]"
	if c.args != "" {
		return Result{}, invalid(usage, "`postmortem` takes no arguments but the incident's id.")
	}
	if c.deps.Drafts == nil {
		return Result{}, &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "Post-mortem drafts are not enabled on this bot."}
	}
	inc, err := c.incident(usage)
	if err != nil {
		return Result{}, err
	}
	if !ChannelUsable(inc) {
		return Result{}, &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf("%s has no channel the draft can be uploaded to. "+
			"The operators can write it with `incidentbot export %s`.", inc.Key(), inc.Key())}
	}
	return Result{
		Reply:    fmt.Sprintf("Drafting the post-mortem of %s; it will be uploaded here as %s-postmortem.md.", inc.Key(), inc.Key()),
		Followup: func(ctx context.Context) error { return c.uploadDraft(ctx, inc.ID, c.inv.UserID) },
	}, nil
}

// uploadDraft renders incident id's post-mortem, uploads it to the channel
// with a short summary, and records that in the timeline.
func (s *Service) uploadDraft(ctx context.Context, id int64, actor string) error {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("draft the post-mortem of INC-%d: %w", id, err)
	}
	if inc.ChannelID == "" {
		return &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " has no channel yet"}
	}
	name, content, err := s.deps.Drafts.Draft(ctx, id)
	if err != nil {
		return fmt.Errorf("draft the post-mortem of %s: %w", inc.Key(), err)
	}
	if err := s.deps.Files.Upload(ctx, inc.ChannelID, name, inc.Key()+" post-mortem draft", content, draftSummary(inc)); err != nil {
		return fmt.Errorf("upload the post-mortem of %s: %w", inc.Key(), err)
	}
	now := s.now()
	if _, _, err := s.updateIncident(ctx, id, "", func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventPostmortem, At: now, Actor: actor, Text: name}}, nil
	}); err != nil {
		return fmt.Errorf("record the post-mortem upload of %s: %w", inc.Key(), err)
	}
	return nil
}

// draftSummary is the comment posted with the draft.
func draftSummary(inc *incidentbot.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, ":memo: *Post-mortem draft for %s* (%s, %s)", inc.Key(), inc.Severity, inc.Status)
	if inc.Resolved() {
		fmt.Fprintf(&b, " — resolved after %s", Age(inc.ResolvedAt.Sub(inc.OpenedAt)))
	}
	rejected := 0
	for _, h := range inc.Hypotheses {
		if h.Outcome == incidentbot.OutcomeRejected {
			rejected++
		}
	}
	flagged, open := 0, 0
	for _, a := range inc.Actions {
		if a.Owner == "" || a.Due == "" {
			flagged++
		}
		if a.Status == incidentbot.ActionOpen {
			open++
		}
	}
	fmt.Fprintf(&b, "\n%d hypotheses (%d rejected) · %d action items (%d open", len(inc.Hypotheses), rejected, len(inc.Actions), open)
	if flagged > 0 {
		fmt.Fprintf(&b, ", %d without an owner or a due date", flagged)
	}
	b.WriteString(")")
	if inc.Resolved() {
		fmt.Fprintf(&b, " · review by %s", inc.ResolvedAt.Add(FollowUpAfter).Format(incidentbot.DateLayout))
	}
	b.WriteString("\nFill in the summary, impact, root cause and contributing factors, and the detection gap — blamelessly: systems, not people.")
	return b.String()
}
