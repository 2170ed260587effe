package slacktext

import (
	"slices"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"&lt;script&gt;", "<script>"},
		{"R&amp;D", "R&D"},
		{"&amp;lt; stays typed", "&lt; stays typed"}, // one pass
		{"&copy; &#35; & &amp", "&copy; &#35; & &amp"},
		{"<@U1|a&amp;b>", "<@U1|a&b>"}, // markup is left alone
	}
	for _, tt := range tests {
		if got := Decode(tt.in); got != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMention(t *testing.T) {
	tests := map[string]string{
		"<@U123ABC>":       "U123ABC",
		"<@U123ABC|alice>": "U123ABC",
		"<@W99>":           "W99",
		"  <@U7>\t":        "U7",
		"@alice":           "",
		"<#C123>":          "",
		"<@U1> extra":      "",
		"x <@U1>":          "",
		"<@u1>":            "",
		"<@U1|a>b>":        "",
		"<!channel>":       "",
		"":                 "",
	}
	for in, want := range tests {
		got, ok := ParseMention(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseMention(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestMentions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"role ops me", nil},
		{"role ops <@U2|bob>", []string{"U2"}},
		{"<@U1> and <@W2> and <@U1|again>", []string{"U1", "W2", "U1"}},
		{"<#C1> <!here> &lt;@U3&gt; <@u4>", nil},
	}
	for _, tt := range tests {
		if got := Mentions(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Mentions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMentionAndChannelLink(t *testing.T) {
	if got := Mention("U123"); got != "<@U123>" {
		t.Errorf("Mention = %q", got)
	}
	if got := ChannelLink("C9"); got != "<#C9>" {
		t.Errorf("ChannelLink = %q", got)
	}
	if id, ok := ParseMention(Mention("W42")); !ok || id != "W42" {
		t.Errorf("ParseMention(Mention(W42)) = %q, %v", id, ok)
	}
}

func TestEscape(t *testing.T) {
	tests := map[string]string{
		"plain":                          "plain",
		"<!channel> wake up":             "&lt;!channel&gt; wake up",
		"<!here|here> and <!subteam^S1>": "&lt;!here|here&gt; and &lt;!subteam^S1&gt;",
		"@channel @Here @everyone":       "@\u200dchannel @\u200dHere @\u200deveryone",
		"ask <@U123|bob> in <#C9|ops>":   "ask <@U123|bob> in <#C9|ops>",
		"see <https://x.io/a|docs>":      "see <https://x.io/a|docs>",
		"a < b && c > d":                 "a &lt; b &amp;&amp; c &gt; d",
		"<javascript:alert(1)|click>":    "&lt;javascript:alert(1)|click&gt;",
		"<@U1|<!channel>>":               "&lt;@U1|&lt;!channel&gt;&gt;",
		"R&amp;D &lt;b&gt;":              "R&amp;D &lt;b&gt;",      // as Slack sends typed text
		"&lt;!channel&gt; typed":         "&lt;!channel&gt; typed", // stays text
		"a &amp;lt; b":                   "a &amp;lt; b",           // a typed entity stays typed
		"&lt;@U1&gt;":                    "<@U1>",                  // a typed mention becomes one: harmless
	}
	for in, want := range tests {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlainText(t *testing.T) {
	users := map[string]string{"U1": "Ada Lovelace", "U2": "  "}
	names := Names{User: func(id string) string { return users[id] }}
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"<@U1> look", "@Ada Lovelace look"},
		{"<@U1|ada> look", "@Ada Lovelace look"},
		{"<@U9|ghost>", "@ghost"},
		{"<@U9>", "@U9"},
		{"<@U2>", "@U2"},
		{"<!channel> <!here> <!everyone>", "@channel @here @everyone"},
		{"<!subteam^S1|@sre>", "@sre"},
		{"<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"},
		{"<#C1|general>", "#general"},
		{"<#C1>", "#C1"},
		{"<https://example.com|the dash>", "the dash (https://example.com)"},
		{"<https://example.com>", "https://example.com"},
		{"<https://example.com?a=1&amp;b=2|x>", "x (https://example.com?a=1&b=2)"},
		{"<mailto:a@b.c|a@b.c>", "a@b.c (mailto:a@b.c)"},
		{"&lt;script&gt; &amp;lt;", "<script> &lt;"},
		{"<script>", "<script>"},
		{"a < b > c & d", "a < b > c & d"},
		{"<@U1\n>", "<@U1\n>"},
		{"<<@U1>>", "<@Ada Lovelace>"},
		{"<>", "<>"},
		{"<!-- comment -->", "<!-- comment -->"},
		{"<@U1 x>", "<@U1 x>"},
	}
	for _, tc := range tests {
		if got := PlainText(tc.in, names); got != tc.want {
			t.Errorf("PlainText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlainTextNames(t *testing.T) {
	channels := map[string]string{"C1": "inc-1-db", "C2": "#ops"}
	tests := []struct {
		in    string
		names Names
		want  string
	}{
		{"<@U1> in <#C1>", Names{}, "@U1 in #C1"},
		{"<@U1|ada> in <#C1|old-name>", Names{}, "@ada in #old-name"},
		{"<#C1> <#C1|old-name> <#C2> <#C3>", Names{Channel: func(id string) string { return channels[id] }}, "#inc-1-db #inc-1-db #ops #C3"},
		{"<@U1|ada>", Names{User: func(string) string { return "" }}, "@ada"},
	}
	for _, tc := range tests {
		if got := PlainText(tc.in, tc.names); got != tc.want {
			t.Errorf("PlainText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSlugText(t *testing.T) {
	names := Names{
		User:    func(id string) string { return map[string]string{"U1": "Zoë Ünal"}[id] },
		Channel: func(id string) string { return map[string]string{"C9": "payments-eu"}[id] },
	}
	tests := []struct{ in, want string }{
		{"Checkout down", "checkout-down"},
		{"see <https://status.example.com/incidents/42|status page>", "see-status-page"},
		{"see <https://status.example.com/incidents/42>", "see-status-example-com"},
		{"<https://x.example/a?b=1&amp;c=2>", "x-example"},
		{"<mailto:ops@example.com>", "ops-example-com"},
		{"paged <@U1> about it", "paged-zoe-unal-about-it"}, // name from the store
		{"paged <@U1|someone-else> about it", "paged-zoe-unal-about-it"},
		{"paged <@U2|bob> about it", "paged-bob-about-it"}, // the label
		{"paged <@U2> about it", "paged-about-it"},         // unknown: left out
		{"errors in <#C9>", "errors-in-payments-eu"},
		{"errors in <#C8|général>", "errors-in-general"},
		{"errors in <#C8>", "errors-in"},
		{"<!here> DB &lt;primary&gt; R&amp;D", "here-db-primary-r-d"},
		{"a <b> c", "a-b-c"},
		{"Ärger <https://ärger.example|Ärger-Seite>", "arger-arger-seite"},
	}
	for _, tt := range tests {
		if got := SlugText(tt.in, names); got != tt.want {
			t.Errorf("SlugText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Checkout latency spike", "checkout-latency-spike"},
		{"  DB: 500s on /api/v2 (EU)!! ", "db-500s-on-api-v2-eu"},
		{"snake_case_ok", "snake_case_ok"},
		{"Ünïcödé only ☃", "unicode-only"}, // diacritics are removed, not the letters
		{"Ärger mit der Straße", "arger-mit-der-strasse"},
		{"Ｆｕｌｌ ｗｉｄｔｈ ﬁx", "full-width-fix"},
		{"Crème brûlée façade naïve", "creme-brulee-facade-naive"},
		{"Łódź Ørsted", "odz-rsted"}, // no decomposition: the letter goes
		{"Сбой оплаты", ""},
		{"☃☃☃", ""},
		{"R&amp;D", "r-amp-d"}, // entities are not decoded here
		{"-_-", "_"},
	}
	for _, tt := range tests {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
