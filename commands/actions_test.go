package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

// TestActionChangeOrNew runs /incident action commands in order on a real
// store and checks, after each, what the items are: a first word that is an
// item id followed only by an owner and/or a due date changes that item;
// anything else records a new one.
func TestActionChangeOrNew(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if _, _, err := db.CreateIncident(ctx, &incidentbot.Incident{Title: "Search down", Severity: incidentbot.Sev2, Status: incidentbot.StatusInvestigating,
		ChannelID: "C1", Declarer: "U1", OpenedAt: now, LastUpdateAt: now}, ""); err != nil {
		t.Fatal(err)
	}
	svc := newService(db, now, commands.Config{})

	// item is "<text>|<owner>|<due>|<status>".
	tests := []struct {
		text  string
		reply string // in the reply or the error
		items []string
	}{
		{"action Fix the A2 alert", "Recorded A1. It has no owner and no due date yet", []string{"Fix the A2 alert|||open"}},
		{"action Add a runbook <@U2>", "`/incident action A2 @owner due:+7d`", []string{"Fix the A2 alert|||open", "Add a runbook|U2||open"}},
		{"action A2 fix the A2 thing", "Recorded A3", []string{"Fix the A2 alert|||open", "Add a runbook|U2||open", "A2 fix the A2 thing|||open"}},
		{"action A1 <@U3>", "A1 changed: owner <@U3>, *no due date*. It still has no due date", []string{"Fix the A2 alert|U3||open", "Add a runbook|U2||open", "A2 fix the A2 thing|||open"}},
		{"action a2 due:+7d <@U4>", "A2 changed: owner <@U4>, due 2026-11-30.", []string{"Fix the A2 alert|U3||open", "Add a runbook|U4|2026-11-30|open", "A2 fix the A2 thing|||open"}},
		{"action A2 due:2026-11-30", "nothing changed", nil},
		{"action A9 <@U3>", "has no action item A9", nil},
		{"action A2", "Say the new owner and/or due date of A2", nil},
		{"action A2 due:yesterday", "not a due date", nil},
		{"action reopen A2", "A2 is open, not done", nil},
		{"action done A2", "A2 closed", []string{"Fix the A2 alert|U3||open", "Add a runbook|U4|2026-11-30|done", "A2 fix the A2 thing|||open"}},
		{"action done A2", "already done. To reopen it: `/incident action reopen A2`", nil},
		{"action A2 <@U5>", "A2 is done", nil},
		{"action reopen A2", "A2 reopened", []string{"Fix the A2 alert|U3||open", "Add a runbook|U4|2026-11-30|open", "A2 fix the A2 thing|||open"}},
		{"action reopen", "Say which action item to reopen", nil},
		{"action reopen A2 now", "is not an action item id", nil},
		{"action reopen the firewall port", "Recorded A4", []string{"Fix the A2 alert|U3||open", "Add a runbook|U4|2026-11-30|open", "A2 fix the A2 thing|||open", "reopen the firewall port|||open"}},
	}
	for i, tt := range tests {
		res, err := svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: "C1", UserID: "U1", Text: tt.text, DedupKey: "trigger-" + string(rune('a'+i))})
		got := res.Reply
		if err != nil {
			got = incidentbot.ErrorMessage(err)
		}
		if !strings.Contains(got, tt.reply) {
			t.Errorf("/incident %s: reply %q, want it to contain %q", tt.text, got, tt.reply)
		}
		if (err != nil) != (tt.items == nil) {
			t.Errorf("/incident %s: error %v", tt.text, err)
		}
		inc, err := db.Incident(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tt.items == nil {
			continue
		}
		var items []string
		for _, a := range inc.Actions {
			items = append(items, strings.Join([]string{a.Text, a.Owner, a.Due, string(a.Status)}, "|"))
		}
		if strings.Join(items, "; ") != strings.Join(tt.items, "; ") {
			t.Errorf("/incident %s: items\n  %q\nwant\n  %q", tt.text, items, tt.items)
		}
	}
}
