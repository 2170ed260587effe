package templates

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestRenderTimelineAdded: a message from another channel added with the
// message shortcut is a key event, at the message's time, naming its
// author, who added it and its permalink, with its text; a link that is
// not http(s) is left out, and a bot author without a name shows its id.
func TestRenderTimelineAdded(t *testing.T) {
	t0 := time.Date(2025, 6, 4, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	in := Input{
		Incident: &incidentbot.Incident{
			ID: 9, Title: "Checkout errors", Severity: incidentbot.Sev2, Status: incidentbot.StatusInvestigating,
			Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0,
		},
		Events: []incidentbot.TimelineEvent{
			{IncidentID: 9, Seq: 1, Kind: incidentbot.EventOpened, At: at(0), Actor: "U1", Text: "Checkout errors"},
			// Added after the opening, about a message from before it.
			{IncidentID: 9, Seq: 2, Kind: incidentbot.EventTimelineAdded, At: at(-120), Actor: "U2", From: "U1", To: "C7",
				Text: "customers say *checkout* fails <@U3>", Ref: "https://acme.slack.com/archives/C7/p1749031080000100"},
			{IncidentID: 9, Seq: 3, Kind: incidentbot.EventTimelineAdded, At: at(60), Actor: "B9", From: "U3", To: "C8",
				Text: "alert: 5xx > 2%", Ref: "javascript:alert(1)"},
		},
		Users: map[string]incidentbot.User{"U1": {ID: "U1", Name: "Ada"}, "U2": {ID: "U2", Name: "Grace"}, "U3": {ID: "U3", Name: "Linus"}},
	}
	doc := render(t, Default(), in)
	golden(t, "timeline-added.golden", doc)
	d, _ := NewData(in)
	checkStructure(t, doc, d)
	if len(d.KeyEvents) != 3 || d.KeyEvents[0].Kind != string(incidentbot.EventTimelineAdded) {
		t.Fatalf("key events = %+v, want the added message first, then the opening and the second one", d.KeyEvents)
	}
	for _, want := range []string{
		"Message from **Grace** in another channel added to the timeline by **Ada** ([message](https://acme.slack.com/archives/C7/p1749031080000100))",
		"customers say \\*checkout\\* fails @Linus",
		"Message from **B9** in another channel added to the timeline by **Linus**: alert: 5xx",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the draft lacks %q", want)
		}
	}
	if strings.Contains(doc, "javascript:") {
		t.Error("a link that is not http(s) is shown")
	}
}
