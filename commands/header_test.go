package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// TestHeaderMessageButtons: the header's buttons follow the incident's state.
func TestHeaderMessageButtons(t *testing.T) {
	tests := []struct {
		name string
		inc  incidentbot.Incident
		want []string
	}{
		{"open", incidentbot.Incident{ID: 7, Status: incidentbot.StatusIdentified},
			[]string{ButtonCommander, ButtonStatus, ButtonHypothesis, ButtonAction, ButtonResolve}},
		{"resolved", incidentbot.Incident{ID: 7, Status: incidentbot.StatusResolved, ResolvedAt: time.Unix(0, 0)},
			[]string{ButtonAction, ButtonHypothesis}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := HeaderMessage(&tt.inc)
			var got []string
			for _, b := range m.Buttons {
				got = append(got, b.ActionID)
				if id, err := IncidentID(b.Value); err != nil || id != 7 {
					t.Errorf("button %s carries %q", b.ActionID, b.Value)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("buttons %v, want %v", got, tt.want)
			}
			if m.Text != headerText(&tt.inc) {
				t.Errorf("the fallback text is not the header text")
			}
		})
	}
	for _, bad := range []string{"", "0", "-1", "INC-7", "7x"} {
		if _, err := IncidentID(bad); incidentbot.ErrorCode(err) != incidentbot.EInvalid {
			t.Errorf("IncidentID(%q) = %v, want EInvalid", bad, err)
		}
	}
}

// TestRoleText: every role's DM says what it does and names the channel.
func TestRoleText(t *testing.T) {
	inc := &incidentbot.Incident{ID: 3, Title: "DB <down>", ChannelID: "C9"}
	for _, r := range incidentbot.AllRoles() {
		txt := roleText(inc, r)
		for _, want := range []string{r.Title(), "INC-3", "<#C9>", "DB &lt;down&gt;", "What the role does", "/incident"} {
			if !strings.Contains(txt, want) {
				t.Errorf("%s DM lacks %q: %s", r, want, txt)
			}
		}
	}
}
