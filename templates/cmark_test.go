package templates

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// nastyInput puts s everywhere user text goes.
func nastyInput(s string) Input {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	inc := &incidentbot.Incident{
		ID: 1, Title: s, Description: s, Severity: incidentbot.Sev2, Status: incidentbot.StatusResolved,
		ChannelName: "inc-1", Declarer: "U1", OpenedAt: t0, ResolvedAt: t0.Add(time.Hour), Summary: s,
		Roles:      map[incidentbot.Role]string{incidentbot.RoleCommander: "U1"},
		Hypotheses: []incidentbot.Hypothesis{{ID: 1, Text: s, Author: "U1", Outcome: incidentbot.OutcomeRejected, Note: s, DecidedBy: "U1"}},
		Actions:    []incidentbot.ActionItem{{ID: 1, Text: s, Owner: "U1", Due: s, Status: incidentbot.ActionOpen}},
	}
	events := []incidentbot.TimelineEvent{
		{Seq: 1, Kind: incidentbot.EventMessage, At: t0, Actor: "U1", Text: s, TS: "1.0"},
		{Seq: 2, Kind: incidentbot.EventMessage, At: t0, Actor: "U1", Text: s, TS: "2.0", ThreadTS: "1.0"},
		{Seq: 3, Kind: incidentbot.EventEdited, At: t0, Actor: "U1", Text: s, PrevText: s, TS: "2.0"},
		{Seq: 4, Kind: incidentbot.EventFileShared, At: t0, Actor: "U1", Text: s, TS: "3.0", Files: []incidentbot.File{{Name: s, URL: "https://x/" + s}}},
		{Seq: 5, Kind: incidentbot.EventStatus, At: t0, Actor: "U1", To: s, Text: s},
		{Seq: 6, Kind: incidentbot.EventRole, At: t0, Actor: "U1", Ref: s, To: "U1", From: s},
		{Seq: 7, Kind: incidentbot.EventKeyMarked, At: t0, Actor: "U1", TS: "2.0"},
		{Seq: 8, Kind: incidentbot.EventDeleted, At: t0, Actor: "U1", PrevText: s, TS: "1.0"},
		{Seq: 9, Kind: incidentbot.EventChannel, At: t0, Text: s},
		{Seq: 10, Kind: incidentbot.EventSeverity, At: t0, From: s, To: s},
	}
	return Input{Incident: inc, Events: events, Users: map[string]incidentbot.User{"U1": {ID: "U1", Name: s}}}
}

// TestRenderedByCmarkGFM renders post-mortems full of random markdown
// fragments with cmark-gfm, GitHub's own renderer, and checks that the HTML
// has exactly the elements of a post-mortem of plain text: user text added
// no heading, table, code, quote, emphasis, list item or HTML. It runs only
// where cmark-gfm is installed (Debian: apt-get install cmark-gfm).
func TestRenderedByCmarkGFM(t *testing.T) {
	cmark, err := exec.LookPath("cmark-gfm")
	if err != nil {
		t.Skip("cmark-gfm is not installed")
	}
	n := 300
	if testing.Short() {
		n = 30
	}
	tokens := []string{
		"#", "## ", "|", "-", "---", "===", ":-", ":--:", "|-|", "*", "**", "_", "`", "```", "~~~", "~", "$",
		"<", ">", "&", "&amp;", "&lt;", "&#35;", "&#x27;", "[", "]", "(", ")", "((", "!", "1.", "2)", "+",
		"\n", "\n\n", "\r", "    ", "\t", "\\", ":", ";", "'", "\"", ".", "?", "^", "©", " ", "x", "word",
		"<script>", "<b>", "<div>", "</div>", "<!--", "-->", "<br>", "<@U1>", "<!here>", "<http://a|b>",
		"http://e.com/a_b", "HTTP://A.COM/", "ftp://a", "www.x.com", "www.a.com", "mailto:x@y", "a@b.com",
		"_a@b_c.com_", "[^1]", "[x]: http://evil", "[!NOTE]",
	}
	tag := regexp.MustCompile(`<([a-z][a-z0-9]*)`)
	elements := func(md string) map[string]int {
		cmd := exec.Command(cmark, "--unsafe", "-e", "table", "-e", "strikethrough", "-e", "autolink", "-e", "tasklist")
		cmd.Stdin = strings.NewReader(md)
		html, err := cmd.Output()
		if err != nil {
			t.Fatalf("cmark-gfm: %v", err)
		}
		counts := make(map[string]int)
		for _, m := range tag.FindAllStringSubmatch(string(html), -1) {
			switch m[1] {
			case "a", "br", "p": // links from URLs, line breaks, loose items
			default:
				counts[m[1]]++
			}
		}
		return counts
	}
	renderMD := func(s string) string {
		var buf bytes.Buffer
		if err := Default().Render(&buf, nastyInput(s)); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	want := elements(renderMD("plain"))
	r := rand.New(rand.NewPCG(7, 11))
	for range n {
		var sb strings.Builder
		for range 1 + r.IntN(24) {
			sb.WriteString(tokens[r.IntN(len(tokens))])
		}
		s := sb.String()
		if EscapeMarkdown(slacktext.PlainText(s, slacktext.Names{})) == "" {
			continue // empty text legitimately changes the document
		}
		md := renderMD(s)
		got := elements(md)
		for _, k := range mapKeys(want, got) {
			if got[k] != want[k] {
				t.Fatalf("user text %q: %d <%s> elements, want %d; the markdown:\n%s", s, got[k], k, want[k], md)
			}
		}
	}
}

func mapKeys(ms ...map[string]int) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			keys = append(keys, k)
		}
	}
	return keys
}
