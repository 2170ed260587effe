package bot

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
)

// BackfillMargin is how far before the last moment a connection was known
// healthy a backfill starts reading: Slack's clock and ours differ, and an
// event in flight when the socket died may carry an older ts.
const BackfillMargin = 2 * time.Minute

// backfill reads what was said in every open incident channel since a
// moment (per incident) from conversations.history and conversations.replies
// and stores it; what is already stored (same ts) is skipped. It runs after
// every (re)connection, so messages sent while the socket was down or
// silent are not lost.
func (b *Bot) backfill(ctx context.Context, since func(*incidentbot.Incident) time.Time) {
	incs, err := b.store.Incidents(ctx, true)
	if err != nil {
		b.log.WithError(err).Warn("backfill: cannot list open incidents")
		return
	}
	total := 0
	for _, inc := range incs {
		if inc.ChannelID == "" {
			continue
		}
		n, err := b.backfillChannel(ctx, inc, since(inc))
		total += n
		if err != nil {
			b.log.WithField("incident", inc.Key()).WithField("channel", inc.ChannelID).WithError(err).Warn("backfill failed")
		}
	}
	if total > 0 {
		b.log.WithField("events", total).Info("backfill stored messages missed while disconnected")
	}
}

// slackTS formats t as a Slack ts for the oldest parameter.
func slackTS(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%06d", t.Nanosecond()/1000)
}

func (b *Bot) backfillChannel(ctx context.Context, inc *incidentbot.Incident, since time.Time) (int, error) {
	if since.Before(inc.OpenedAt) {
		since = inc.OpenedAt.Add(-time.Second)
	}
	oldest := slackTS(since)
	var events []incidentbot.TimelineEvent
	cursor := ""
	for {
		resp, err := b.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: inc.ChannelID, Oldest: oldest, Inclusive: true, Limit: 200, Cursor: cursor,
		})
		if err != nil {
			return 0, b.slack.err("conversations.history", err)
		}
		for _, m := range resp.Messages {
			if capturedSubtype(m.SubType) {
				if e, ok := b.newMessage(m.User, m.BotID, m.Text, m.Timestamp, m.ThreadTimestamp, m.Files); ok {
					events = append(events, e)
				}
			}
			if m.ReplyCount > 0 && m.LatestReply >= oldest {
				replies, err := b.replies(ctx, inc.ChannelID, m.Timestamp, oldest)
				if err != nil {
					return 0, err
				}
				events = append(events, replies...)
			}
		}
		if !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			break
		}
		cursor = resp.ResponseMetaData.NextCursor
	}
	if len(events) == 0 {
		return 0, nil
	}
	for i := range events {
		events[i].IncidentID = inc.ID
	}
	n, err := b.store.AppendEvents(ctx, events...)
	if err != nil {
		return 0, fmt.Errorf("store backfilled messages: %w", err)
	}
	b.cfg.Metrics.EventsStored(n)
	return n, nil
}

// replies returns the thread replies of parent since oldest.
func (b *Bot) replies(ctx context.Context, channel, parent, oldest string) ([]incidentbot.TimelineEvent, error) {
	var out []incidentbot.TimelineEvent
	cursor := ""
	for {
		msgs, more, next, err := b.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: channel, Timestamp: parent, Oldest: oldest, Inclusive: true, Limit: 200, Cursor: cursor,
		})
		if err != nil {
			return nil, b.slack.err("conversations.replies", err)
		}
		for _, m := range msgs {
			if m.Timestamp == parent || !capturedSubtype(m.SubType) {
				continue
			}
			if e, ok := b.newMessage(m.User, m.BotID, m.Text, m.Timestamp, m.ThreadTimestamp, m.Files); ok {
				out = append(out, e)
			}
		}
		if !more || next == "" {
			return out, nil
		}
		cursor = next
	}
}
