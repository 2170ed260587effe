package incidentbot

import "testing"

// TestDedupKeys pins the exact bytes of every dedup key: databases written
// by earlier versions hold them, and a redelivery after an upgrade must
// meet the same key. Never change a want here.
func TestDedupKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"message", MessageKey("1700000000.000100"), "msg:1700000000.000100"},
		{"edit", EditKey("1700000000.000100", "1700000060.000200"), "edit:1700000000.000100:1700000060.000200"},
		{"delete", DeleteKey("1700000000.000100"), "del:1700000000.000100"},
		{"reaction", ReactionKey("1700000000.000100", "U123"), "react:1700000000.000100:U123"},
		{"pin", PinKey("1700000000.000100"), "pin:1700000000.000100"},
		{"command", CommandKey("13345224609.738474920.8088930838d88f008e0"), "cmd:13345224609.738474920.8088930838d88f008e0"},
		{"command without trigger", CommandKey(""), ""},
		{"open by command", OpenKey("13345224609.738474920.8088930838d88f008e0"), "open:13345224609.738474920.8088930838d88f008e0"},
		{"open by form", OpenKey("V0123ABC"), "open:V0123ABC"},
		{"open without id", OpenKey(""), ""},
		{"file reaction", FileReactionKey("F0123ABC", "U123"), "react:file:F0123ABC:U123"},
		{"event", EventKey("Ev0123ABC"), "event:Ev0123ABC"},
		{"added to a timeline", TimelineAddKey("C0123ABC", "1700000000.000100"), "added:C0123ABC:1700000000.000100"},
		{"added without channel", TimelineAddKey("", "1700000000.000100"), ""},
		{"added without ts", TimelineAddKey("C0123ABC", ""), ""},
		// Without a ts (or id) there is no key: never one shared by all.
		{"message without ts", MessageKey(""), ""},
		{"edit without ts", EditKey("", "1700000060.000200"), ""},
		{"delete without ts", DeleteKey(""), ""},
		{"reaction without ts", ReactionKey("", "U123"), ""},
		{"file reaction without file", FileReactionKey("", "U123"), ""},
		{"pin without ts", PinKey(""), ""},
		{"event without id", EventKey(""), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s key = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
