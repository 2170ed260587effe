package commands

import (
	"strings"
	"testing"
	"time"
)

func TestChannelName(t *testing.T) {
	long := strings.Repeat("very long title ", 10)
	tests := []struct {
		prefix string
		id     int64
		title  string
		want   string
	}{
		{"inc", 1, "Checkout latency spike", "inc-1-checkout-latency-spike"},
		{"inc", 12, "  DB: 500s on /api/v2 (EU)!! ", "inc-12-db-500s-on-api-v2-eu"},
		{"INC", 3, "snake_case_ok", "inc-3-snake_case_ok"},
		{"inc", 4, "Ünïcödé only ☃", "inc-4-unicode-only"}, // diacritics removed (issue 11), no longer the letters
		{"inc", 7, "Ärger: <https://status.example.com/x|Statusseite> down", "inc-7-arger-statusseite-down"},
		{"inc", 8, "<https://status.example.com/x> down, <@U1|zoë> paged", "inc-8-status-example-com-down-zoe-paged"},
		{"inc", 9, "<@U1> paged about <#C1|général>", "inc-9-paged-about-general"},
		{"Störung", 10, "Straße gesperrt", "storung-10-strasse-gesperrt"},
		{"inc", 5, "☃☃☃", "inc-5"},
		{"inc", 6, long, strings.TrimRight(("inc-6-" + strings.Repeat("very-long-title-", 10))[:80], "-")},
	}
	for _, tt := range tests {
		got := ChannelName(tt.prefix, tt.id, tt.title)
		if got != tt.want {
			t.Errorf("ChannelName(%q, %d, %q) = %q, want %q", tt.prefix, tt.id, tt.title, got, tt.want)
		}
		if len(got) > 80 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("ChannelName(%q) = %q breaks Slack's rules", tt.title, got)
		}
	}
	if got := withSuffix(ChannelName("inc", 6, long), 12); len(got) > 80 || !strings.HasSuffix(got, "-12") {
		t.Errorf("withSuffix = %q", got)
	}
}

func TestParseDue(t *testing.T) {
	now := time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	tests := []struct {
		in      string
		loc     *time.Location
		want    string
		wantErr string
	}{
		{"due:2026-12-01", time.UTC, "2026-12-01", ""},
		{"DUE:2026-11-23", time.UTC, "2026-11-23", ""},
		{"due:+7d", time.UTC, "2026-11-30", ""},
		{"due:+0d", time.UTC, "2026-11-23", ""},
		{"due:+1d", berlin, "2026-11-25", ""}, // already the 24th in Berlin
		{"due:2026-11-22", time.UTC, "", "in the past"},
		{"due:tomorrow", time.UTC, "", "not a due date"},
		{"due:+7w", time.UTC, "", "not a due date"},
		{"due:2026-13-01", time.UTC, "", "not a due date"},
		{"due:", time.UTC, "", "not a due date"},
	}
	for _, tt := range tests {
		got, err := parseDue(tt.in, now, tt.loc)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseDue(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseImpactStart(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"10:05", time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC), false},
		{"11:00", time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC), false}, // latest not in the future
		{"11:00 UTC", time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC), false},
		{"2026-11-23T09:00:00+01:00", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), false},
		{"2026-11-24T09:00:00Z", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"25:00", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseImpactStart(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("parseImpactStart(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNamedIncident(t *testing.T) {
	tests := []struct {
		word string
		id   int64
		ok   bool
	}{
		{"INC-7", 7, true},
		{"inc-12", 12, true},
		{"Inc-3", 3, true},
		{"7", 0, false}, // a bare number stays text: "3 replicas down"
		{"INC-", 0, false},
		{"INC-0", 0, false},
		{"INC-x", 0, false},
		{"INC-7,", 0, false},
		{"INCIDENT-7", 0, false},
		{"investigating", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		id, ok := namedIncident(tt.word)
		if id != tt.id || ok != tt.ok {
			t.Errorf("namedIncident(%q) = %d, %v; want %d, %v", tt.word, id, ok, tt.id, tt.ok)
		}
	}
}

func TestParseActionChange(t *testing.T) {
	tests := []struct {
		args       string
		n          int
		owner, due string
		ok         bool
	}{
		{"A2 <@U1>", 2, "U1", "", true},
		{"a2 <@U1|bob>", 2, "U1", "", true},
		{"A2 due:+3d", 2, "", "due:+3d", true},
		{"A2 <@U1> due:2026-12-01", 2, "U1", "due:2026-12-01", true},
		{"A2 DUE:+1d <@U1>", 2, "U1", "DUE:+1d", true},
		{"A2 due:tomorrow", 2, "", "due:tomorrow", true}, // a change, refused for its date
		{"A2", 2, "", "", true},                          // a change that says nothing, refused
		{"A2 fix the A2 thing", 0, "", "", false},        // a new item
		{"A2 fix the A2 thing <@U1> due:+7d", 0, "", "", false},
		{"A2 <@U1> <@U2>", 0, "", "", false},
		{"A2 due:+1d due:+2d", 0, "", "", false},
		{"A2 me", 0, "", "", false},
		{"fix A2 <@U1>", 0, "", "", false},
		{"A0 <@U1>", 0, "", "", false},
		{"Alpha <@U1>", 0, "", "", false},
		{"<@U1> due:+1d", 0, "", "", false},
		{"", 0, "", "", false},
	}
	for _, tt := range tests {
		n, owner, due, ok := parseActionChange(tt.args)
		if n != tt.n || owner != tt.owner || due != tt.due || ok != tt.ok {
			t.Errorf("parseActionChange(%q) = %d, %q, %q, %v; want %d, %q, %q, %v", tt.args, n, owner, due, ok, tt.n, tt.owner, tt.due, tt.ok)
		}
	}
}
