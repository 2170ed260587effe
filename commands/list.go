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
	if len(open) == 0 {
		return Result{Reply: "No open incidents. Open one with `/incident open [sev1..sev4] <title>`."}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Open incidents (%d)*\n", len(open))
	now := c.now()
	for _, inc := range open {
		fmt.Fprintf(&b, "• *%s* %s %s — %s · %s · commander %s · open %s · last update %s ago\n",
			inc.Key(), inc.Severity, inc.Status, slacktext.Escape(inc.Title), channelLink(inc), mention(inc.Roles[incidentbot.RoleCommander]),
			Age(now.Sub(inc.OpenedAt)), Age(now.Sub(inc.LastUpdateAt)))
	}
	return Result{Reply: b.String()}, nil
}

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
