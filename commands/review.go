package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// ReviewDue returns when inc's follow-up review is due: FollowUpAfter after
// its resolution. ok is false while it is not resolved and once its review
// was posted (Incident.ReviewPostedAt), so that, derived from the stored
// record, a review is posted once whatever the restarts.
func ReviewDue(inc *incidentbot.Incident) (due time.Time, ok bool) {
	if !inc.Resolved() || inc.ResolvedAt.IsZero() || !inc.ReviewPostedAt.IsZero() {
		return time.Time{}, false
	}
	return inc.ResolvedAt.Add(FollowUpAfter), true
}

// PostReviews posts the follow-up review of every incident whose review is
// due (see ReviewDue) and not yet posted: the table of its action items in
// its channel, mentioning the commander and the owners of open items. Each
// post is recorded (Incident.ReviewPostedAt and a timeline event) in one
// update, so it is posted once. The scheduler runs it on each firing of the
// action reminder cron, which makes it the first firing on or after the
// review date. Incidents whose channel cannot be used (none, or gone: the
// channel's state is told elsewhere) are skipped and tried again at later
// firings, once the channel is back.
//
// It returns how many reviews were posted. It fails when the incidents
// cannot be read; a post that Slack refuses or whose record fails is
// reported (joined) and does not stop the others; one refused is tried
// again at the next firing (a post recorded as failed might be posted twice
// if the bot dies between the post and the record).
func (s *Service) PostReviews(ctx context.Context) (int, error) {
	incs, err := s.store.Incidents(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("post follow-up reviews: %w", err)
	}
	now := s.now()
	posted := 0
	var errs []error
	for _, inc := range incs {
		due, ok := ReviewDue(inc)
		if !ok || now.Before(due) || !ChannelUsable(inc) {
			continue
		}
		if err := s.postReview(ctx, inc, now); err != nil {
			errs = append(errs, err)
			continue
		}
		posted++
	}
	return posted, errors.Join(errs...)
}

// postReview posts and records the follow-up review of inc.
func (s *Service) postReview(ctx context.Context, inc *incidentbot.Incident, now time.Time) error {
	// Owners of done items are named, not mentioned; without the names
	// (the store cannot read them), their ids stand in.
	users, _ := s.store.Users(ctx)
	text, summary := reviewText(inc, now, s.cfg.Location, users)
	if _, err := s.deps.Poster.Post(ctx, inc.ChannelID, text); err != nil {
		return fmt.Errorf("post the follow-up review of %s: %w", inc.Key(), s.goneWork(ctx, inc, err))
	}
	sent := s.now()
	_, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if !i.ReviewPostedAt.IsZero() {
			return nil, nil
		}
		i.ReviewPostedAt = sent
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventReview, At: sent, Text: summary}}, nil
	})
	if err != nil {
		return fmt.Errorf("record the follow-up review of %s: %w", inc.Key(), err)
	}
	return nil
}

// reviewText is the follow-up review of inc, and a one-line summary of it
// for the timeline. It mentions the commander and the owners of open items;
// the owners of done items are named from users, so that they are not
// notified.
func reviewText(inc *incidentbot.Incident, now time.Time, loc *time.Location, users map[string]incidentbot.User) (text, summary string) {
	people := []string{inc.Commander()}
	seen := map[string]bool{inc.Commander(): true}
	open := 0
	for _, a := range inc.Actions {
		if a.Status != incidentbot.ActionOpen {
			continue
		}
		open++
		if a.Owner != "" && !seen[a.Owner] {
			seen[a.Owner] = true
			people = append(people, a.Owner)
		}
	}
	mentions := make([]string, len(people))
	for i, p := range people {
		mentions[i] = mention(p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":mag: *Follow-up review of %s: %s* — resolved %s, two weeks ago. %s: time to review the post-mortem and the action items.\n",
		inc.Key(), slacktext.Escape(inc.Title), inc.ResolvedAt.In(loc).Format(incidentbot.DateLayout), strings.Join(mentions, " "))
	if len(inc.Actions) == 0 {
		b.WriteString("It has no action items. Record them with `/incident action &lt;text&gt; @owner due:+7d`.")
		return b.String(), "no action items"
	}
	b.WriteString("*Action items*\n")
	for _, a := range inc.Actions {
		overdue := ""
		if a.Overdue(now, loc) {
			overdue = " :warning: overdue"
		}
		who := describeOwnerDue(a)
		if a.Status != incidentbot.ActionOpen && a.Owner != "" {
			name := a.Owner
			if u, ok := users[a.Owner]; ok && strings.TrimSpace(u.Name) != "" {
				name = u.Name
			}
			who = "owner " + slacktext.Escape(name) + ", " + describeDue(a)
		}
		fmt.Fprintf(&b, "• *%s* [%s] %s — %s%s\n", a.Key(), a.Status, slacktext.Escape(a.Text), who, overdue)
	}
	summary = fmt.Sprintf("%d of %d action items open", open, len(inc.Actions))
	fmt.Fprintf(&b, "%s. Done? `/incident action done A&lt;n&gt;`. Another owner or due date? `/incident action A&lt;n&gt; @owner due:+7d`. Not done after all? `/incident action reopen A&lt;n&gt;`.", summary)
	return b.String(), summary
}
