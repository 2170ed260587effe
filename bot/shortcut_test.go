package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestShortcutMetaFits: the timeline form's private_metadata always fits
// Slack's 3000 characters, keeping the message whole when it fits and
// otherwise as much of its start as fits, marked "…", however much JSON
// escaping its text needs.
func TestShortcutMetaFits(t *testing.T) {
	base := shortcutMeta{Channel: "C0123456789", TS: "1700000000.000100", Author: "U0123456789",
		Permalink: "https://acme.slack.com/archives/C0123456789/p1700000000000100?thread_ts=1700000000.000050&cid=C0123456789"}
	tests := []struct {
		name, text string
		whole      bool
	}{
		{"short", "p99 doubled", true},
		{"empty", "", true},
		{"long", strings.Repeat("a", 40000), false},
		{"escapes", strings.Repeat("<&>\"\\\n", 3000), false},
		{"runes", strings.Repeat("日本語🔥", 2000), false},
		{"just over", strings.Repeat("b", 2900), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			m.Text = tt.text
			raw := m.encode()
			if len(raw) > privateMetadataMax {
				t.Fatalf("%d bytes, more than %d", len(raw), privateMetadataMax)
			}
			var got shortcutMeta
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatal(err)
			}
			if got.Channel != m.Channel || got.TS != m.TS || got.Author != m.Author || got.Permalink != m.Permalink {
				t.Errorf("decoded %+v", got)
			}
			switch {
			case tt.whole && got.Text != tt.text:
				t.Errorf("text cut to %q", got.Text)
			case !tt.whole && (!strings.HasSuffix(got.Text, "…") || !strings.HasPrefix(tt.text, strings.TrimSuffix(got.Text, "…")) || len(got.Text) < 1000):
				t.Errorf("text cut to %d bytes %q…", len(got.Text), got.Text[:min(len(got.Text), 40)])
			}
			if !utf8.ValidString(got.Text) {
				t.Error("text cut inside a rune")
			}
		})
	}
}
