package bot

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSplitText: parts fit, are cut at line ends where possible, and
// together are the text.
func TestSplitText(t *testing.T) {
	long := strings.Repeat("é", 7000)
	lines := strings.Repeat(strings.Repeat("x", 99)+"\n", 70)
	for _, s := range []string{"", "short", long, lines, lines + long} {
		parts := splitText(s, maxSectionText)
		if strings.Join(parts, "") != s && strings.TrimSpace(s) != "" {
			t.Errorf("parts of a %d-byte text do not add up", len(s))
		}
		for _, p := range parts {
			if utf8.RuneCountInString(p) > maxSectionText {
				t.Errorf("a part has %d characters", utf8.RuneCountInString(p))
			}
		}
	}
	if parts := splitText(lines, maxSectionText); !strings.HasSuffix(parts[0], "\n") {
		t.Errorf("the first part is not cut at a line end")
	}
}
