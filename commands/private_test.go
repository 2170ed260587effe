package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

// TestOpenPrivateFlag: --private may come before or after the severity,
// in any case (and as Slack's smart punctuation writes it), but only before
// the title; the incident is recorded as private.
func TestOpenPrivateFlag(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	svc := newService(db, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), commands.Config{})
	tests := []struct {
		text    string
		private bool
		sev     incidentbot.Severity
		title   string
		wantErr string
	}{
		{"open --private sev1 Payroll leak", true, incidentbot.Sev1, "Payroll leak", ""},
		{"open sev2 --private Payroll leak", true, incidentbot.Sev2, "Payroll leak", ""},
		{"open --PRIVATE Payroll leak", true, incidentbot.Sev3, "Payroll leak", ""},
		{"open —private Payroll leak", true, incidentbot.Sev3, "Payroll leak", ""},
		{"open Payroll leak --private", false, incidentbot.Sev3, "Payroll leak --private", ""},
		{"open sev4 Disk full", false, incidentbot.Sev4, "Disk full", ""},
		{"open --private", false, 0, "", "needs a title"},
		{"open --private sev1", false, 0, "", "needs a title"},
		{"open --private sev9 x", false, 0, "", "not a severity"},
	}
	var id int64
	for _, tt := range tests {
		res, err := svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: "CGEN", UserID: "U1", Text: tt.text})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(incidentbot.ErrorMessage(err), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.text, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		id++
		inc, err := db.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Private != tt.private || inc.Severity != tt.sev || inc.Title != tt.title {
			t.Errorf("%q: private %v, %s, %q; want %v, %s, %q", tt.text, inc.Private, inc.Severity, inc.Title, tt.private, tt.sev, tt.title)
		}
		if tt.private != strings.Contains(res.Reply, "private channel") {
			t.Errorf("%q: reply %q", tt.text, res.Reply)
		}
	}
}
