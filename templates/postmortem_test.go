package templates

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// richInput is a resolved incident with every event kind, threads, edits,
// deletions, files, pins and :pushpin: marks, hypotheses of every outcome,
// action items with and without owners and due dates, and text that tries
// to break the document.
func richInput() Input {
	t0 := time.Date(2025, 6, 2, 13, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	inc := &incidentbot.Incident{
		ID:          42,
		Title:       "## Payments down | <script>alert(1)</script> `rm -rf` *now*",
		Description: "line one\n```\nfence\n```\n> quoted",
		Severity:    incidentbot.Sev1,
		Status:      incidentbot.StatusResolved,
		ChannelID:   "C42",
		ChannelName: "inc-42-payments-down",
		Declarer:    "U1",
		Roles: map[incidentbot.Role]string{
			incidentbot.RoleCommander: "U2",
			incidentbot.RoleScribe:    "U404", // not in Users
		},
		HeaderTS:        "100.000",
		OpenedAt:        at(0),
		ImpactStartedAt: at(-25 * 60),
		AcknowledgedAt:  at(90),
		MitigatedAt:     at(40 * 60),
		ResolvedAt:      at(3*3600 + 5),
		Summary:         "Rolled back <@U3>'s *config* change.\n## Not a heading\n| not | a | table |",
		Hypotheses: []incidentbot.Hypothesis{
			{ID: 2, Text: "Card processor outage", Author: "U3", CreatedAt: at(600), Outcome: incidentbot.OutcomeConfirmed, Note: "their status page: <https://status.example.com|degraded>", DecidedBy: "U2", DecidedAt: at(1500)},
			{ID: 1, Text: "DNS | again?\n- surely not", Author: "U1", CreatedAt: at(300), Outcome: incidentbot.OutcomeRejected, Note: "resolves fine: `dig` shows <b>OK</b>", DecidedBy: "U2", DecidedAt: at(900)},
			{ID: 3, Text: "Certificate expiry", Author: "U404", CreatedAt: at(700), Outcome: incidentbot.OutcomeOpen},
		},
		Actions: []incidentbot.ActionItem{
			{ID: 1, Text: "Alert on processor | error rate", Owner: "U3", Due: "2025-06-16", Status: incidentbot.ActionOpen, CreatedBy: "U2", CreatedAt: at(3 * 3600)},
			{ID: 2, Text: "Runbook: ```fail over```", Owner: "U1", Status: incidentbot.ActionOpen, CreatedBy: "U2", CreatedAt: at(3 * 3600)},
			{ID: 3, Text: "Review <!channel> paging", Due: "2025-06-30", Status: incidentbot.ActionOpen, CreatedBy: "U2", CreatedAt: at(3 * 3600)},
			{ID: 4, Text: "Nobody, never\nsecond line", Status: incidentbot.ActionOpen, CreatedBy: "U2", CreatedAt: at(3 * 3600)},
			{ID: 5, Text: "Done already", Owner: "U2", Due: "2025-06-03", Status: incidentbot.ActionDone, CreatedBy: "U2", CreatedAt: at(3 * 3600), DoneBy: "U2", DoneAt: at(3*3600 + 60)},
		},
	}
	users := map[string]incidentbot.User{
		"U1": {ID: "U1", Name: "Ada Lovelace"},
		"U2": {ID: "U2", Name: "*Grace* | Hopper"},
		"U3": {ID: "U3", Name: "<b>Linus</b>"},
		"U4": {ID: "U4", Name: "on_call_bot"},
	}
	var seq uint64
	var events []incidentbot.TimelineEvent
	add := func(e incidentbot.TimelineEvent) {
		seq++
		e.IncidentID, e.Seq = 42, seq
		events = append(events, e)
	}
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventOpened, At: at(0), Actor: "U1", Text: inc.Title, To: "sev2"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventChannel, At: at(1), Ref: "C42", Text: "inc-42-payments-down"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPinned, At: at(2), TS: "100.000"}) // the header
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPage, At: at(3), Actor: "U1", Ref: "inc-42-1", Text: "paging: <!here> payments"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventOnCall, At: at(30), To: "U4"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventRole, At: at(90), Actor: "U1", Ref: "commander", To: "U2"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventRole, At: at(95), Actor: "U2", Ref: "scribe", To: "U404", From: "U1"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(100), Actor: "U1", TS: "101.000",
		Text: "## heading\n| a | b |\n|---|---|\n| 1 | 2 |"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(110), Actor: "U3", TS: "102.000", ThreadTS: "101.000",
		Text: "&lt;script&gt;alert('x')&lt;/script&gt; &amp;amp; <script>raw</script> &#35; &copy;"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(120), Actor: "U2", TS: "103.000",
		Text: "```\ncode fence\n```\n~~~\ntilde\n~~~"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(125), Actor: "U3", TS: "104.000", ThreadTS: "101.000",
		Text: "`backticks` *stars* _under_ [link](http://x) ![img](y) snake_case"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(130), Actor: "U1", TS: "105.000",
		Text: "> quote\n- item\n1. one\n\n    indented code?\n---\n===\n***\n<!-- comment -->"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(140), Actor: "U2", TS: "106.000",
		Text: "<!channel> deploy <@U1> and <@U9|ghost> see <https://example.com/d?a=1&amp;b=2|the dash> in <#C9|general>"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(145), Actor: "U4", TS: "106.500",
		Text: "links that swallow escapes: http://a.example/** *b* www.b.example/_c_ :-\n:-"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(150), Actor: "U9", TS: "107.000", ThreadTS: "99.000",
		Text: "reply to a thread we never saw"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventFileShared, At: at(160), Actor: "U3", TS: "108.000", Text: "graphs",
		Files: []incidentbot.File{
			{ID: "F1", Name: "evil](javascript:alert(1)) <b>.png", URL: "https://files.example.com/a b(1).png?x=<y>&z=1"},
			{ID: "F2", Name: "payload.html", URL: "javascript:alert(1)"},
			{ID: "F3", Name: "", URL: ""},
		}})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventEdited, At: at(170), Actor: "U1", TS: "101.000",
		Text: "## heading (edited)", PrevText: "## heading\n| a | b |\n|---|---|\n| 1 | 2 |"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventEdited, At: at(175), Actor: "U1", TS: "101.000",
		Text: "heading, third version", PrevText: "## heading (edited)"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventKeyMarked, At: at(180), Actor: "U2", TS: "101.000"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventKeyMarked, At: at(181), Actor: "U3", TS: "101.000"}) // same message again
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPinned, At: at(185), Actor: "U1", TS: "108.000"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPinned, At: at(186), Actor: "U1", TS: "55.000"}) // never captured
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventHypothesis, At: at(300), Actor: "U1", Ref: "H1", Text: "DNS | again?\n- surely not"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventStatus, At: at(305), Actor: "U2", To: "investigating",
		Text: "Looking at DNS.\n## Also\n| x |"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventHypothesis, At: at(600), Actor: "U3", Ref: "H2", Text: "Card processor outage"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventHypothesis, At: at(700), Actor: "U404", Ref: "H3", Text: "Certificate expiry"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventHypRejected, At: at(900), Actor: "U2", Ref: "H1", Text: "resolves fine: `dig` shows <b>OK</b>"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventReminder, At: at(1200), Text: "<@U2> no status update for 15m"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventSnoozed, At: at(1210), Actor: "U2", To: at(1210 + 1800).Format(time.RFC3339)})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(1300), Actor: "U3", TS: "109.000", Text: "oops, wrong channel <@U1>"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventDeleted, At: at(1310), Actor: "U3", TS: "109.000", PrevText: "oops, wrong channel <@U1>"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventDeleted, At: at(1320), Actor: "U3", TS: "50.000", PrevText: "deleted before we saw it"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventEdited, At: at(1330), Actor: "U1", TS: "51.000", Text: "edit of an unseen message", PrevText: "unseen original"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventSeverity, At: at(1400), Actor: "U2", From: "sev2", To: "sev1", Text: ""})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventHypConfirmed, At: at(1500), Actor: "U2", Ref: "H2", Text: "their status page: <https://status.example.com|degraded>"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventImpactStarted, At: at(1510), Actor: "U2", To: at(-25 * 60).Format(time.RFC3339)})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventStatus, At: at(1600), Actor: "U2", To: "identified", Text: "Processor degraded"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPage, At: at(1700), Actor: "U2", Ref: "inc-42-2", Text: "need payments team"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventStatus, At: at(2400), Actor: "U2", To: "monitoring", Text: "Failed over to backup processor"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventNotice, At: at(2500), Text: "Could not reach PagerDuty; retrying"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventChannelArchived, At: at(2510), Actor: "U3", Ref: "C42"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventChannelGone, At: at(2510), Ref: "C42", Text: "is_archived"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventChannelUnarchived, At: at(2520), Actor: "U2", Ref: "C42"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventChannelBack, At: at(2520), Actor: "U2", Ref: "C42"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(2600), Actor: "U1", TS: "110.000", ThreadTS: "110.000", Text: "thread parent with ts == thread_ts"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(2610), Actor: "U2", TS: "111.000", ThreadTS: "110.000", Text: "1. reply\n2. reply"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventResolved, At: at(3*3600 + 5), Actor: "U2", Text: inc.Summary})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPageResolved, At: at(3*3600 + 6), Ref: "inc-42-1"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPageResolved, At: at(3*3600 + 6), Ref: "inc-42-2"})
	for i, a := range inc.Actions {
		add(incidentbot.TimelineEvent{Kind: incidentbot.EventAction, At: at(3*3600 + 10 + i), Actor: "U2", Ref: a.Key(), Text: a.Text})
	}
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionDone, At: at(3*3600 + 20), Actor: "U2", Ref: "A5"})
	// A1 was recorded without owner and due date and given both; A5 was
	// closed, reopened and closed again: the table shows the end, the log
	// the history.
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionOwner, At: at(3*3600 + 30), Actor: "U2", Ref: "A1", Text: "Alert on processor | error rate", To: "U404"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionOwner, At: at(3*3600 + 31), Actor: "U2", Ref: "A1", Text: "Alert on processor | error rate", From: "U404", To: "U3"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionDue, At: at(3*3600 + 31), Actor: "U2", Ref: "A1", Text: "Alert on processor | error rate", To: "2025-06-16"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionReopen, At: at(3*3600 + 40), Actor: "U3", Ref: "A5", Text: "Done already"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventActionDone, At: at(3*3600 + 60), Actor: "U2", Ref: "A5"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventPostmortem, At: at(3*3600 + 61), Actor: "U2"})
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventReview, At: at(3*3600 + 5 + 14*86400 + 3600), Text: "4 of 5 action items open"})
	// An edit whose event time is earlier than a later-committed message.
	add(incidentbot.TimelineEvent{Kind: incidentbot.EventMessage, At: at(135), Actor: "U4", TS: "105.500", Text: "committed late, shown in time order"})
	return Input{Incident: inc, Events: events, Users: users}
}

func render(t testing.TB, p *PostMortem, in Input) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Render(&buf, in); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./templates -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(run go test ./templates -update and review the diff)", path, i+1, g, w)
			}
		}
	}
}

// defaultHeadings are the only headings the default template has.
var defaultHeadings = []string{
	"## Times (UTC)", "## Roles", "## Summary", "## Impact", "## Root cause and contributing factors",
	"## Detection gap", "## What went well", "## What went poorly", "## Hypotheses", "## Key events",
	"## Action items", "## Follow-up review", "## Appendix: message log",
}

// unescapedPipes counts the table-cell separators in a line.
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && !escapedAt(line, i) {
			n++
		}
	}
	return n
}

// checkStructure checks, independently of the golden file, that user text
// did not change the document's structure.
func checkStructure(t *testing.T, doc string, d *Data) {
	t.Helper()
	lines := strings.Split(doc, "\n")
	var headings []string
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		switch {
		case strings.HasPrefix(l, "#"):
			headings = append(headings, l)
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			t.Errorf("line %d opens a code fence: %q", i+1, l)
		case strings.HasPrefix(trimmed, ">") && !strings.HasPrefix(l, "> **This is a blameless post-mortem.**"):
			t.Errorf("line %d is a block quote: %q", i+1, l)
		case strings.HasPrefix(trimmed, "<") && !strings.HasPrefix(trimmed, "<br>"):
			t.Errorf("line %d starts with HTML: %q", i+1, l)
		case strings.HasPrefix(l, "|"):
			if n := unescapedPipes(l); n != 3 && n != 4 && n != 6 {
				t.Errorf("table row %d has %d cell separators: %q", i+1, n, l)
			}
		case strings.HasPrefix(l, "    ") && !strings.HasPrefix(strings.TrimLeft(l, " "), "- "):
			// Continuation lines are indented at most 4 spaces past a list marker.
			if len(l)-len(trimmed) > 4 {
				t.Errorf("line %d is indented like code: %q", i+1, l)
			}
		}
	}
	wantHeadings := append([]string{"# " + d.ID + ": " + d.Title.String()}, defaultHeadings...)
	if !slices.Equal(headings, wantHeadings) {
		t.Errorf("headings = %q, want %q", headings, wantHeadings)
	}
	for _, bad := range []string{"<script", "<b>", "<!channel>", "<!--", "<@U"} {
		if strings.Contains(doc, bad) {
			t.Errorf("document contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`[^\\]\]\(javascript:`).FindString(doc); m != "" {
		t.Errorf("document links to javascript: %q", m)
	}
	// Every log entry is one list item, nested at most once, and nothing
	// else is in the log: no blank line, no line at the left margin.
	log := doc[strings.Index(doc, "## Appendix: message log"):]
	if len(d.Log) > 0 {
		body := strings.TrimSuffix(log[strings.Index(log, "\n- "):], "\n")
		for _, l := range strings.Split(body[1:], "\n") {
			if !strings.HasPrefix(l, "- ") && !strings.HasPrefix(l, "  ") {
				t.Errorf("message log line outside a list item: %q", l)
			}
		}
	}
	items := regexp.MustCompile(`(?m)^(  )?- \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ `).FindAllString(log, -1)
	if len(items) != len(d.Log) {
		t.Errorf("message log has %d list items, want %d", len(items), len(d.Log))
	}
}

func TestRenderRich(t *testing.T) {
	in := richInput()
	doc := render(t, Default(), in)
	golden(t, "rich.golden", doc)
	d, err := NewData(in)
	if err != nil {
		t.Fatal(err)
	}
	checkStructure(t, doc, d)
	for _, want := range []string{
		"# INC-42: \\## Payments down \\| &lt;script&gt;alert(1)&lt;/script&gt; \\`rm -rf\\` \\*now\\*",
		"- **Incident commander:** \\*Grace\\* \\| Hopper",
		"- **Communications lead:** unassigned",
		"- **Scribe:** U404",
		"| Time to detect | impact started → opened | 25m |",
		"| Time to acknowledge | opened → acknowledged | 1m 30s |",
		"| Time to mitigate | opened → mitigated | 40m |",
		"| Time to resolve | opened → resolved | 3h 5s |",
		"Rolled back @&lt;b&gt;Linus&lt;/b&gt;'s \\*config\\* change.\\\n\\## Not a heading\\\n\\| not \\| a \\| table \\|",
		"- **H1** ❌ **rejected**: DNS \\| again?\\\n  \\- surely not\\\n  proposed by Ada Lovelace at 2025-06-02 13:05:00Z; rejected by \\*Grace\\* \\| Hopper at 2025-06-02 13:15:00Z\\\n  note: resolves fine: \\`dig\\` shows &lt;b&gt;OK&lt;/b&gt;",
		"- **H2** ✅ **confirmed**",
		"- **H3** ❔ open",
		"| A2 | Runbook: \\`\\`\\`fail over\\`\\`\\` | Ada Lovelace | ⚠ no due date | open |",
		"| A3 | Review @channel paging | ⚠ no owner | 2025-06-30 | open |",
		"| A4 | Nobody, never<br>second line | ⚠ no owner | ⚠ no due date | open |",
		"| A5 | Done already | \\*Grace\\* \\| Hopper | 2025-06-03 | done (2025-06-02) |",
		"⚠ **3 of 5 action items lack an owner or a due date.**",
		"on **2025-06-16**, two weeks after resolution",
		"(edited 2025-06-02 13:02:50Z; originally: \\## heading\\\n  \\| a \\| b \\|\\\n  \\|---\\|---\\|\\\n  \\| 1 \\| 2 \\|)",
		"(edited 2025-06-02 13:02:55Z; previously: \\## heading (edited))",
		"  - 2025-06-02 13:01:50Z **&lt;b&gt;Linus&lt;/b&gt;**: &lt;script&gt;alert('x')&lt;/script&gt; &amp;amp; &lt;script&gt;raw&lt;/script&gt; &amp;#35; &amp;copy;",
		"**U9**: reply to a thread we never saw\\\n  (a thread reply; the thread's first message was not captured)",
		"files: [evil\\](javascript:alert(1)) &lt;b&gt;.png](https://files.example.com/a%20b%281%29.png?x=%3Cy%3E&amp;z=1), payload.html (link not shown: not http), file (no link)",
		"**&lt;b&gt;Linus&lt;/b&gt;**: (deleted 2025-06-02 13:21:50Z) oops, wrong channel @Ada Lovelace",
		"**&lt;b&gt;Linus&lt;/b&gt;**: (deleted 2025-06-02 13:22:00Z) deleted before we saw it",
		"**Ada Lovelace**: edit of an unseen message\\\n  (edited 2025-06-02 13:22:10Z; originally: unseen original)",
		"Message pinned by **Ada Lovelace** (the message was not captured)",
		"Incident header pinned",
		"**on_call_bot**: links that swallow escapes: <http://a.example/>\\*\\* \\*b\\* www\\.b.example/\\_c\\_ :-\\\n  \\:-",
		"&lt;!-- comment --&gt;",
		"@channel deploy @Ada Lovelace and @ghost see the dash (<https://example.com/d?a=1&b=2>) in \\#general",
		"— **Missed status update** (reminder sent): @\\*Grace\\* \\| Hopper no status update for 15m",
		"— Message from **Ada Lovelace** (2025-06-02 13:01:40Z) marked as a key event (:pushpin:) by **\\*Grace\\* \\| Hopper**: heading, third version",
		"— Message from **&lt;b&gt;Linus&lt;/b&gt;** (2025-06-02 13:02:40Z) pinned by **Ada Lovelace**: graphs",
		"— **Impact started** (recorded by **\\*Grace\\* \\| Hopper**)",
		"Action item **A1** owner changed by **\\*Grace\\* \\| Hopper**: no owner → **U404**: Alert on processor \\| error rate",
		"Action item **A1** owner changed by **\\*Grace\\* \\| Hopper**: **U404** → **&lt;b&gt;Linus&lt;/b&gt;**",
		"Action item **A1** due date changed by **\\*Grace\\* \\| Hopper**: no due date → **2025-06-16**",
		"Action item **A5** **reopened** by **&lt;b&gt;Linus&lt;/b&gt;**: Done already",
		"Follow-up review posted in the channel: 4 of 5 action items open",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	// A message marked twice is one key event, and the header pin none; the
	// log shows both marks.
	keys := doc[strings.Index(doc, "## Key events"):strings.Index(doc, "## Action items")]
	if n := strings.Count(keys, "marked as a key event"); n != 1 {
		t.Errorf("key events show %d marks of message 101.000, want 1", n)
	}
	if strings.Contains(keys, "header") {
		t.Error("key events show the pinned incident header")
	}
	if n := strings.Count(doc, "(marked as a key event :pushpin: by"); n != 2 {
		t.Errorf("message log shows %d marks, want 2", n)
	}
	// Key events are in time order, with the impact start first.
	var last time.Time
	for _, k := range d.KeyEvents {
		if k.At.Time().Before(last) {
			t.Errorf("key events out of order at %v", k.At)
		}
		last = k.At.Time()
	}
	if d.KeyEvents[0].Kind != string(incidentbot.EventImpactStarted) {
		t.Errorf("first key event is %s, want impact start", d.KeyEvents[0].Kind)
	}
}

func TestRenderMinimalOpen(t *testing.T) {
	t0 := time.Date(2025, 6, 3, 8, 30, 0, 0, time.UTC)
	in := Input{Incident: &incidentbot.Incident{
		ID: 7, Title: "Login slow", Severity: incidentbot.Sev3, Status: incidentbot.StatusInvestigating,
		Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0,
	}}
	doc := render(t, Default(), in)
	golden(t, "minimal.golden", doc)
	d, _ := NewData(in)
	checkStructure(t, doc, d)
	for _, want := range []string{
		"| Resolved | not yet |",
		"| Time to detect | impact started → opened | unknown |",
		"| Time to resolve | opened → resolved | unknown |",
		"- **Incident commander:** unassigned",
		"- **Ops lead:** unassigned",
		"_No hypotheses were recorded._",
		"_No key events were recorded._",
		"_No action items yet",
		"Set when resolved",
		"_Nothing was recorded._",
		"- **Declared by:** U1",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	in := richInput()
	first := render(t, Default(), in)
	for i := range 5 {
		// The same users in a new map (map order is random), and the events
		// shuffled: they are sorted by (At, Seq), not taken in slice order.
		users := make(map[string]incidentbot.User)
		keys := make([]string, 0, len(in.Users))
		for k := range in.Users {
			keys = append(keys, k)
		}
		r := rand.New(rand.NewPCG(uint64(i), 1))
		r.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
		for _, k := range keys {
			users[k] = in.Users[k]
		}
		events := slices.Clone(in.Events)
		r.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		inc := in.Incident.Clone()
		r.Shuffle(len(inc.Actions), func(a, b int) { inc.Actions[a], inc.Actions[b] = inc.Actions[b], inc.Actions[a] })
		if got := render(t, Default(), Input{Incident: inc, Events: events, Users: users}); got != first {
			t.Fatalf("render %d differs from the first", i)
		}
	}
}

func TestRenderLocalTimesAreUTC(t *testing.T) {
	in := richInput()
	loc := time.FixedZone("UTC+5", 5*3600)
	inc := in.Incident.Clone()
	inc.OpenedAt = inc.OpenedAt.In(loc)
	events := slices.Clone(in.Events)
	for i := range events {
		events[i].At = events[i].At.In(loc)
	}
	if got, want := render(t, Default(), Input{Incident: inc, Events: events, Users: in.Users}), render(t, Default(), in); got != want {
		t.Error("times in another zone render differently")
	}
}

func TestRenderErrors(t *testing.T) {
	if err := Default().Render(&bytes.Buffer{}, Input{}); err == nil {
		t.Error("Render without an incident succeeded")
	}
	if err := Default().Render(failingWriter{}, richInput()); err == nil || !strings.Contains(err.Error(), "INC-42") {
		t.Errorf("Render to a failing writer: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestFileName(t *testing.T) {
	if got := FileName(&incidentbot.Incident{ID: 12}); got != "INC-12-postmortem.md" {
		t.Errorf("FileName = %q", got)
	}
}

func TestDefaultParses(t *testing.T) {
	p := Default()
	for _, in := range sampleInputs() {
		d, _ := NewData(in)
		checkStructure(t, render(t, p, in), d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	p, err := Load("")
	if err != nil {
		t.Fatalf(`Load(""): %v`, err)
	}
	if got, want := render(t, p, richInput()), render(t, Default(), richInput()); got != want {
		t.Error(`Load("") is not the default template`)
	}

	custom := write("custom.tmpl", "{{.ID}} {{.Title}} {{upper .Severity}} {{len .Log}} {{md \"a|b\"}} {{mdLines 2 \"x\\ny\"}}\n")
	p, err = Load(custom)
	if err != nil {
		t.Fatalf("Load(custom): %v", err)
	}
	d, _ := NewData(richInput())
	want := fmt.Sprintf("INC-42 \\## Payments down \\| &lt;script&gt;alert(1)&lt;/script&gt; \\`rm -rf\\` \\*now\\* SEV1 %d a\\|b x\\\n  y\n", len(d.Log))
	if got := render(t, p, richInput()); got != want {
		t.Errorf("custom template rendered %q, want %q", got, want)
	}

	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"syntax.tmpl", "# {{.ID}}\n\n{{if .Resolved}}\nno end\n", []string{"syntax.tmpl:", "unexpected EOF"}},
		{"unclosed.tmpl", "# {{.ID}}\n{{.Title\n", []string{"unclosed.tmpl:2"}},
		{"field.tmpl", "# {{.ID}}\n\nline 3\n{{.NoSuchField}}\n", []string{"field.tmpl:4", "NoSuchField"}},
		{"nested.tmpl", "{{range .Hypotheses}}\n{{.Key}} {{.Verdict}}\n{{end}}", []string{"nested.tmpl:2", "Verdict"}},
		{"log.tmpl", "{{range .Log}}{{.Markdown}}{{end}}\n{{range .Actions}}{{.Owner.Name}}{{end}}", []string{"log.tmpl:2", "Name"}},
		{"open-branch.tmpl", "{{if .Resolved}}ok{{else}}\n{{.Unknown}}{{end}}", []string{"open-branch.tmpl:2", "Unknown"}},
		{"func.tmpl", "\n\n{{shout .Title}}", []string{"func.tmpl:3", `function "shout" not defined`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := write(tc.name, tc.src)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.tmpl")); err == nil || !strings.Contains(err.Error(), "missing.tmpl") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestREADMEExample loads the custom template shown in README.md, so that the
// documentation cannot drift from the code.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "<!-- example-template -->\n````gotemplate\n"
	i := bytes.Index(readme, []byte(start))
	if i < 0 {
		t.Fatal("README.md has no example template")
	}
	src := readme[i+len(start):]
	src = src[:bytes.Index(src, []byte("\n````\n"))+1]
	path := filepath.Join(t.TempDir(), "sre.md.tmpl")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	golden(t, "sre-example.golden", render(t, p, richInput()))
}

// FuzzRender puts arbitrary text everywhere user text goes and checks that
// the document keeps its structure.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"## h\n| a |\n|---|", "```\n<script>", "> q\n\n    code", "- a\n1. b\n===", "<@U1|x> <!here> &amp;lt;", "a_b_ *c* [d](e)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := nastyInput(s)
		var buf bytes.Buffer
		if err := Default().Render(&buf, in); err != nil {
			t.Fatal(err)
		}
		d, _ := NewData(in)
		checkStructure(t, buf.String(), d)
	})
}
