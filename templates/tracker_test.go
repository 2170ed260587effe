package templates

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestRenderTrackerIssues: items with issues link them in the action item
// table (a URL that could break the link is left out), and an item closed
// in the tracker says so in the timeline.
func TestRenderTrackerIssues(t *testing.T) {
	in := richInput()
	inc := in.Incident.Clone()
	inc.Actions[0].Issue = &incidentbot.TrackerIssue{Tracker: incidentbot.TrackerGitHub, Key: "acme/ops#12", URL: "https://github.com/acme/ops/issues/12"}
	inc.Actions[1].Issue = &incidentbot.TrackerIssue{Tracker: incidentbot.TrackerJira, Key: "OPS-7", URL: "javascript:alert(1)"}
	in.Incident = inc
	at := inc.ResolvedAt.Add(time.Hour)
	in.Events = append(in.Events,
		incidentbot.TimelineEvent{IncidentID: inc.ID, Seq: 9001, Kind: incidentbot.EventActionDone, At: at, Ref: inc.Actions[0].Key(), Text: inc.Actions[0].Text, From: "GitHub", To: "@octocat"},
		incidentbot.TimelineEvent{IncidentID: inc.ID, Seq: 9002, Kind: incidentbot.EventActionReopen, At: at.Add(time.Minute), Ref: inc.Actions[0].Key(), Text: inc.Actions[0].Text, From: "GitHub"})
	got := render(t, Default(), in)
	golden(t, "tracker.golden", got)
	for _, want := range []string{"(GitHub [acme/ops#12](https://github.com/acme/ops/issues/12))", "(Jira OPS-7)",
		"done in GitHub by **@octocat**", "**reopened** in GitHub"} {
		if !strings.Contains(got, want) {
			t.Errorf("the draft lacks %q", want)
		}
	}
	if strings.Contains(got, "(javascript:alert(1))") && !strings.Contains(got, "(Jira OPS-7)") {
		t.Error("an unsafe issue URL is linked")
	}
}
