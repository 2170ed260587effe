package commands_test

import (
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

func TestReminderDue(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	iv := 15 * time.Minute
	tests := []struct {
		name string
		inc  incidentbot.Incident
		want time.Time
		ok   bool
	}{
		{"fresh", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0}, t0.Add(iv), true},
		{"after a reminder", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, LastReminderAt: t0.Add(iv)}, t0.Add(2 * iv), true},
		{"update after reminder", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0.Add(20 * time.Minute), LastReminderAt: t0.Add(iv)}, t0.Add(35 * time.Minute), true},
		{"snoozed past due", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, SnoozedUntil: t0.Add(time.Hour)}, t0.Add(time.Hour), true},
		{"snooze ended before due", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, SnoozedUntil: t0.Add(time.Minute)}, t0.Add(iv), true},
		{"resolved", incidentbot.Incident{ChannelID: "C1", LastUpdateAt: t0, Status: incidentbot.StatusResolved}, time.Time{}, false},
		{"no channel yet", incidentbot.Incident{LastUpdateAt: t0}, time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := commands.ReminderDue(&tt.inc, iv)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: ReminderDue = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
