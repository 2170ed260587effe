package main

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pagerdutyemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

const routingKey = "R0UT1NGKEY0123456789ABCDEFGHIJKL"

// withPD starts a PagerDuty emulator whose escalation policy EP1 has Carol
// (in Slack) and Dave (not in Slack) on call, and returns the env for it.
func withPD(t *testing.T) (*pagerdutyemu.Server, map[string]string) {
	pd, err := pagerdutyemu.New(pagerdutyemu.Config{RoutingKeys: []string{routingKey}, Token: "pd-token-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pd.Close)
	pd.SetOnCall("EP1",
		pagerdutyemu.User{ID: "PU1", Name: "Carol Clark", Email: "carol@example.com", Level: 1},
		pagerdutyemu.User{ID: "PU2", Name: "Dave Dunn", Email: "dave@elsewhere.example", Level: 1},
		pagerdutyemu.User{ID: "PU3", Name: "Erin Ellis", Email: "erin@example.com", Level: 2})
	return pd, map[string]string{
		"PAGERDUTY_ROUTING_KEY":            routingKey,
		"PAGERDUTY_TOKEN":                  "pd-token-1",
		"PAGERDUTY_ESCALATION_POLICY":      "EP1",
		"INCIDENTBOT_PAGERDUTY_API_URL":    pd.URL(),
		"INCIDENTBOT_PAGERDUTY_EVENTS_URL": pd.URL(),
	}
}

func pdEvents(pd *pagerdutyemu.Server, action, key string) []pagerdutyemu.Event {
	var out []pagerdutyemu.Event
	for _, e := range pd.Events() {
		if e.Action == action && e.DedupKey == key {
			out = append(out, e)
		}
	}
	return out
}

// TestPagerDuty: trigger on open at sev2 with the on-call brought in and made
// commander; no page at sev3 until raised to sev1; /incident page with a
// note raises its own alert and proposes the on-call; resolve resolves every
// alert with the same dedup keys; all in the timeline.
func TestPagerDuty(t *testing.T) {
	pd, env := withPD(t)
	w := newWorld(t, slackemu.Config{})
	bot := w.start(env)

	c1 := w.openIncident(w.alice, "sev2 Checkout down", "inc-1-checkout-down")
	key1 := "incidentbot-T0001-INC-1"
	w.eventually("the trigger", func() bool { return len(pdEvents(pd, "trigger", key1)) == 1 })
	ev := pdEvents(pd, "trigger", key1)[0]
	if ev.Severity != "error" || !strings.Contains(ev.Summary, "INC-1 [sev2] Checkout down") ||
		ev.Details["channel"] != "#inc-1-checkout-down" || ev.Details["declarer"] != w.alice || len(ev.Links) != 1 {
		t.Errorf("trigger = %+v", ev)
	}
	w.eventually("carol invited and made commander", func() bool {
		ch, _ := w.emu.Channel(c1)
		return contains(ch.Members, w.carol) && strings.Contains(strings.Join(w.channelTexts(c1), "\n"), "they are now the *Incident commander*")
	})
	w.waitText(c1, "*Dave Dunn* (dave@elsewhere.example) is on call, but no Slack account has that email")
	w.waitText(c1, ":pager: Paged PagerDuty (sev2")

	c2 := w.openIncident(w.bob, "sev3 Slow search", "inc-2-slow-search")
	time.Sleep(500 * time.Millisecond)
	key2 := "incidentbot-T0001-INC-2"
	if n := len(pdEvents(pd, "trigger", key2)); n != 0 {
		t.Fatalf("sev3 paged (%d)", n)
	}
	w.cmd(w.bob, c2, "severity sev1")
	w.eventually("the page on raise", func() bool { return len(pdEvents(pd, "trigger", key2)) == 1 })
	if e := pdEvents(pd, "trigger", key2)[0]; e.Severity != "critical" {
		t.Errorf("raised page severity = %q", e.Severity)
	}

	c3 := w.openIncident(w.alice, "sev4 Typo on the status page", "inc-3-typo-on-the-status-page")
	w.cmd(w.alice, c3, "role commander me")
	if r := w.cmd(w.alice, c3, "page need a second pair of eyes"); !strings.Contains(r, "Paging PagerDuty") {
		t.Fatalf("page reply = %q", r)
	}
	key3 := "incidentbot-T0001-INC-3-page-1"
	w.eventually("the manual page", func() bool { return len(pdEvents(pd, "trigger", key3)) == 1 })
	if e := pdEvents(pd, "trigger", key3)[0]; !strings.Contains(e.Summary, "need a second pair of eyes") || e.Severity != "info" {
		t.Errorf("manual page = %+v", e)
	}
	w.waitText(c3, "to take command type `/incident role commander me`")
	w.cmd(w.alice, c3, "page")
	w.eventually("a second manual page", func() bool { return len(pdEvents(pd, "trigger", key3[:len(key3)-1]+"2")) == 1 })

	w.cmd(w.alice, c1, "resolve")
	w.cmd(w.alice, c3, "resolve")
	w.eventually("the resolves", func() bool {
		return len(pdEvents(pd, "resolve", key1)) == 1 && len(pdEvents(pd, "resolve", key3)) == 1 &&
			len(pdEvents(pd, "resolve", key3[:len(key3)-1]+"2")) == 1
	})
	if a := pd.Alerts()[key1]; a.Status != pagerdutyemu.AlertStatus("resolved") {
		t.Errorf("alert %s = %+v", key1, a)
	}
	bot.stop(t)
	db := w.openDB()
	evs := timeline(t, db, 1)
	if countKind(evs, incidentbot.EventPage) != 1 || countKind(evs, incidentbot.EventPageResolved) != 1 || countKind(evs, incidentbot.EventOnCall) != 2 {
		t.Errorf("INC-1 timeline: %d pages, %d resolves, %d on-call", countKind(evs, incidentbot.EventPage), countKind(evs, incidentbot.EventPageResolved), countKind(evs, incidentbot.EventOnCall))
	}
	inc, _ := db.Incident(t.Context(), 1)
	if inc.Roles[incidentbot.RoleCommander] != w.carol {
		t.Errorf("commander = %q, want the on-call", inc.Roles[incidentbot.RoleCommander])
	}
	inc3, _ := db.Incident(t.Context(), 3)
	if inc3.Roles[incidentbot.RoleCommander] != w.alice {
		t.Errorf("INC-3 commander = %q, the on-call must only be proposed", inc3.Roles[incidentbot.RoleCommander])
	}
}

// TestPagerDutyFailures: PagerDuty answering 500 then 202 delivers the page
// once and the channel is told it was pending; PagerDuty down across a bot
// restart delivers it after the restart, once.
func TestPagerDutyFailures(t *testing.T) {
	pd, env := withPD(t)
	w := newWorld(t, slackemu.Config{})
	first := w.start(env)

	pd.FailNext("/v2/enqueue", 2, 500) // the adapter's inner retry absorbs one
	c1 := w.openIncident(w.alice, "sev1 API errors", "inc-1-api-errors")
	w.waitText(c1, "PagerDuty is not answering")
	w.waitText(c1, "the page is pending and will be retried")
	key1 := "incidentbot-T0001-INC-1"
	w.eventually("the page delivered", func() bool { return len(pdEvents(pd, "trigger", key1)) == 1 })
	w.waitText(c1, "delivered after 2 attempts")

	pd.SetDown(true)
	c2 := w.openIncident(w.bob, "sev2 Queue stuck", "inc-2-queue-stuck")
	w.waitText(c2, "PagerDuty is not answering")
	first.stop(t)
	key2 := "incidentbot-T0001-INC-2"
	second := w.start(env)
	time.Sleep(1500 * time.Millisecond)
	pd.SetDown(false)
	w.eventuallyFor(30*time.Second, "the page delivered after the restart", func() bool { return len(pdEvents(pd, "trigger", key2)) == 1 })
	time.Sleep(time.Second)
	if n := len(pdEvents(pd, "trigger", key1)); n != 1 {
		t.Errorf("INC-1 paged %d times", n)
	}
	if n := len(pdEvents(pd, "trigger", key2)); n != 1 {
		t.Errorf("INC-2 paged %d times", n)
	}
	second.stop(t)
}

// TestPageWithoutPagerDuty: without configuration the bot works as before
// and /incident page says how to configure it.
func TestPageWithoutPagerDuty(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c := w.openIncident(w.alice, "sev1 Everything is down", "inc-1-everything-is-down")
	r := w.cmd(w.alice, c, "page now please")
	if !strings.Contains(r, "PagerDuty is not configured") || !strings.Contains(r, "PAGERDUTY_ROUTING_KEY") {
		t.Errorf("page reply = %q", r)
	}
	bot.stop(t)
	if n := countKind(timeline(t, w.openDB(), 1), incidentbot.EventPage); n != 0 {
		t.Errorf("%d pages recorded without PagerDuty", n)
	}
}
