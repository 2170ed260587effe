package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

func (c *call) list() (Result, error) {
	open, err := c.store.Incidents(c.ctx, true)
	if err != nil {
		return Result{}, err
	}
	open = c.visibleOnly(c.ctx, open, c.inv.UserID)
	if len(open) == 0 {
		return Result{Reply: "No open incidents. Open one with `/incident open [sev1..sev4] <title>`."}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Open incidents (%d)*\n", len(open))
	now := c.now()
	unusable := 0
	for _, inc := range open {
		state, ok := channelState(inc, now)
		if !ok {
			unusable++
		}
		fmt.Fprintf(&b, "• *%s* %s %s — %s · %s · commander %s · open %s · last update %s ago\n",
			inc.Key(), inc.Severity, inc.Status, slacktext.Escape(inc.Title), state, mention(inc.Roles[incidentbot.RoleCommander]),
			Age(now.Sub(inc.OpenedAt)), Age(now.Sub(inc.LastUpdateAt)))
	}
	if unusable > 0 {
		b.WriteString(":warning: marks an incident that cannot be worked in its channel: name it first, from any channel — " +
			"`/incident status INC-n <update>`, `/incident resolve INC-n <summary>`.")
	}
	return Result{Reply: b.String()}, nil
}

// channelState is inc's channel for the list: a link, or why there is none,
// marked :warning: when the bot cannot use it (ok false).
func channelState(inc *incidentbot.Incident, now time.Time) (state string, ok bool) {
	switch {
	case inc.ChannelID == "" && inc.ChannelRefused != "":
		return ":warning: *no channel*: Slack refused to create it (" + slacktext.Escape(inc.ChannelRefused) + ")", false
	case inc.ChannelID == "" && now.Sub(inc.OpenedAt) > missingAfter:
		return ":warning: *no channel* yet: creating it keeps failing", false
	case inc.ChannelID == "":
		return "(channel being created)", true
	case inc.ChannelGone != "":
		return channelLink(inc) + " :warning: *channel unusable* (" + slacktext.Escape(inc.ChannelGone) + ")", false
	}
	return channelLink(inc), true
}

// missingAfter is how long after opening a missing channel is shown as a
// problem rather than as being created.
const missingAfter = 2 * time.Minute

// Age formats a duration for people: "42s", "17m", "3h05m", "2d4h".
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
