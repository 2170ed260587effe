package templates

import (
	"time"

	"github.com/incidentbot/incidentbot"
)

// sampleInputs returns the incidents Load tries a template on: a resolved one
// that has something in every field and list, and a minimal open one, where
// lists are empty and times unknown, so that both branches of most
// conditions are executed.
func sampleInputs() []Input {
	return []Input{sampleResolved(), sampleOpen()}
}

// sampleOpen is an incident just opened: nothing but the declaration.
func sampleOpen() Input {
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	inc := &incidentbot.Incident{
		ID: 2, Title: "Search latency", Severity: incidentbot.Sev3, Status: incidentbot.StatusInvestigating,
		Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0,
	}
	return Input{Incident: inc, Events: []incidentbot.TimelineEvent{
		{IncidentID: 2, Seq: 1, Kind: incidentbot.EventOpened, At: t0, Actor: "U1", Text: inc.Title},
	}}
}

// sampleResolved is a short, complete, resolved incident.
func sampleResolved() Input {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	inc := &incidentbot.Incident{
		ID: 1, Title: "Checkout errors", Description: "5xx on /checkout", Severity: incidentbot.Sev2,
		Status: incidentbot.StatusResolved, ChannelID: "C1", ChannelName: "inc-1-checkout-errors", Declarer: "U1",
		Roles: map[incidentbot.Role]string{
			incidentbot.RoleCommander: "U1", incidentbot.RoleComms: "U2", incidentbot.RoleScribe: "U3", incidentbot.RoleOps: "U4",
		},
		HeaderTS: "1.000", OpenedAt: at(0), ImpactStartedAt: at(-12), AcknowledgedAt: at(2), MitigatedAt: at(30),
		ResolvedAt: at(45), Summary: "Rolled back the payment client.", LastUpdateAt: at(30),
		Hypotheses: []incidentbot.Hypothesis{
			{ID: 1, Text: "Database overload", Author: "U2", CreatedAt: at(5), Outcome: incidentbot.OutcomeRejected, Note: "CPU at 20%", DecidedBy: "U1", DecidedAt: at(10)},
			{ID: 2, Text: "Payment client timeout", Author: "U4", CreatedAt: at(12), Outcome: incidentbot.OutcomeConfirmed, DecidedBy: "U1", DecidedAt: at(20)},
			{ID: 3, Text: "Cache eviction", Author: "U3", CreatedAt: at(14), Outcome: incidentbot.OutcomeOpen},
		},
		Actions: []incidentbot.ActionItem{
			{ID: 1, Text: "Alert on checkout 5xx", Owner: "U4", Due: "2025-03-28", Status: incidentbot.ActionOpen, CreatedBy: "U1", CreatedAt: at(40)},
			{ID: 2, Text: "Add a timeout test", Status: incidentbot.ActionDone, CreatedBy: "U1", CreatedAt: at(41), DoneBy: "U4", DoneAt: at(44)},
		},
	}
	ev := func(seq uint64, min int, kind incidentbot.EventKind, actor, text string) incidentbot.TimelineEvent {
		return incidentbot.TimelineEvent{IncidentID: 1, Seq: seq, Kind: kind, At: at(min), Actor: actor, Text: text}
	}
	events := []incidentbot.TimelineEvent{
		ev(1, 0, incidentbot.EventOpened, "U1", inc.Title),
		{IncidentID: 1, Seq: 2, Kind: incidentbot.EventChannel, At: at(0), Ref: "C1", Text: inc.ChannelName},
		{IncidentID: 1, Seq: 3, Kind: incidentbot.EventPinned, At: at(0), TS: "1.000"},
		{IncidentID: 1, Seq: 4, Kind: incidentbot.EventPage, At: at(0), Actor: "U1", Ref: "k1", Text: "checkout down"},
		{IncidentID: 1, Seq: 5, Kind: incidentbot.EventOnCall, At: at(1), To: "U4"},
		{IncidentID: 1, Seq: 6, Kind: incidentbot.EventRole, At: at(2), Actor: "U1", Ref: "commander", To: "U1"},
		{IncidentID: 1, Seq: 7, Kind: incidentbot.EventMessage, At: at(3), Actor: "U2", Text: "500s since 09:48 <@U4>", TS: "2.000"},
		{IncidentID: 1, Seq: 8, Kind: incidentbot.EventMessage, At: at(4), Actor: "U4", Text: "looking", TS: "3.000", ThreadTS: "2.000"},
		{IncidentID: 1, Seq: 9, Kind: incidentbot.EventFileShared, At: at(5), Actor: "U3", Text: "graph", TS: "4.000",
			Files: []incidentbot.File{{ID: "F1", Name: "latency.png", URL: "https://files.example/latency.png"}}},
		{IncidentID: 1, Seq: 10, Kind: incidentbot.EventEdited, At: at(6), Actor: "U2", Text: "500s since 09:48", PrevText: "500s since 09:48 <@U4>", TS: "2.000"},
		{IncidentID: 1, Seq: 11, Kind: incidentbot.EventKeyMarked, At: at(7), Actor: "U1", TS: "2.000"},
		{IncidentID: 1, Seq: 12, Kind: incidentbot.EventHypothesis, At: at(5), Actor: "U2", Ref: "H1", Text: "Database overload"},
		{IncidentID: 1, Seq: 13, Kind: incidentbot.EventHypRejected, At: at(10), Actor: "U1", Ref: "H1", Text: "CPU at 20%"},
		{IncidentID: 1, Seq: 14, Kind: incidentbot.EventSeverity, At: at(11), Actor: "U1", From: "sev3", To: "sev2"},
		{IncidentID: 1, Seq: 15, Kind: incidentbot.EventImpactStarted, At: at(12), Actor: "U1", To: at(-12).Format(time.RFC3339)},
		{IncidentID: 1, Seq: 16, Kind: incidentbot.EventReminder, At: at(15), Text: "No status update for 15m"},
		{IncidentID: 1, Seq: 17, Kind: incidentbot.EventStatus, At: at(20), Actor: "U1", To: "identified", Text: "payment client timeouts"},
		{IncidentID: 1, Seq: 18, Kind: incidentbot.EventMessage, At: at(21), Actor: "U3", Text: "wrong channel", TS: "5.000"},
		{IncidentID: 1, Seq: 19, Kind: incidentbot.EventDeleted, At: at(22), Actor: "U3", PrevText: "wrong channel", TS: "5.000"},
		{IncidentID: 1, Seq: 20, Kind: incidentbot.EventStatus, At: at(30), Actor: "U1", To: "monitoring", Text: "rolled back"},
		{IncidentID: 1, Seq: 21, Kind: incidentbot.EventPinned, At: at(31), Actor: "U2", TS: "4.000"},
		{IncidentID: 1, Seq: 22, Kind: incidentbot.EventAction, At: at(40), Actor: "U1", Ref: "A1", Text: "Alert on checkout 5xx"},
		{IncidentID: 1, Seq: 23, Kind: incidentbot.EventActionDone, At: at(44), Actor: "U4", Ref: "A2"},
		{IncidentID: 1, Seq: 24, Kind: incidentbot.EventResolved, At: at(45), Actor: "U1", Text: inc.Summary},
		{IncidentID: 1, Seq: 25, Kind: incidentbot.EventPageResolved, At: at(45), Ref: "k1"},
		{IncidentID: 1, Seq: 26, Kind: incidentbot.EventPostmortem, At: at(45)},
	}
	users := map[string]incidentbot.User{
		"U1": {ID: "U1", Name: "Ada"}, "U2": {ID: "U2", Name: "Grace"}, "U3": {ID: "U3", Name: "Linus"},
	}
	return Input{Incident: inc, Events: events, Users: users}
}
