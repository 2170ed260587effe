package templates

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestRenderFileKeyEvent: a :pushpin: on a file itself is a key event that
// names the file, with its link, and who shared it, with the sharing
// message's text; the message log notes it on that message. A mark of a
// file whose message was not captured names the file alone.
func TestRenderFileKeyEvent(t *testing.T) {
	t0 := time.Date(2025, 6, 3, 8, 30, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	graph := incidentbot.File{ID: "F1", Name: "disk [usage].png", URL: "https://files.example/disk.png"}
	in := Input{
		Incident: &incidentbot.Incident{
			ID: 8, Title: "Disk full", Severity: incidentbot.Sev2, Status: incidentbot.StatusInvestigating,
			Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0,
		},
		Events: []incidentbot.TimelineEvent{
			{IncidentID: 8, Seq: 1, Kind: incidentbot.EventOpened, At: at(0), Actor: "U1", Text: "Disk full"},
			{IncidentID: 8, Seq: 2, Kind: incidentbot.EventFileShared, At: at(60), Actor: "U2", TS: "100.000", Text: "the graph",
				Files: []incidentbot.File{graph}},
			{IncidentID: 8, Seq: 3, Kind: incidentbot.EventKeyMarked, At: at(90), Actor: "U3", TS: "100.000", Files: []incidentbot.File{graph}},
			{IncidentID: 8, Seq: 4, Kind: incidentbot.EventKeyMarked, At: at(120), Actor: "U1",
				Files: []incidentbot.File{{ID: "F9", Name: "unseen.log", URL: "https://files.example/unseen.log"}}},
		},
		Users: map[string]incidentbot.User{"U1": {ID: "U1", Name: "Ada"}, "U2": {ID: "U2", Name: "Grace"}, "U3": {ID: "U3", Name: "Linus"}},
	}
	doc := render(t, Default(), in)
	golden(t, "file-key-event.golden", doc)
	d, _ := NewData(in)
	checkStructure(t, doc, d)
	for _, want := range []string{
		"— File [disk \\[usage\\].png](https://files.example/disk.png) shared by **Grace** (2025-06-03 08:31:00Z) marked as a key event (:pushpin:) by **Linus**: the graph",
		"(file [disk \\[usage\\].png](https://files.example/disk.png) marked as a key event :pushpin: by **Linus** 2025-06-03 08:31:30Z)",
		"File [unseen.log](https://files.example/unseen.log) marked as a key event (:pushpin:) by **Ada**",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
}
