package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// TestOpenWithModal opens an incident through the form that /incident open
// without arguments shows; a blank title keeps the form open with an error.
func TestOpenWithModal(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	if r := w.cmd(w.carol, w.general, "open"); r != "" {
		t.Errorf("open without arguments replied %q, want the form only", r)
	}
	var view slackemu.View
	w.eventually("the modal", func() bool {
		vs := w.emu.Views()
		if len(vs) == 1 {
			view = vs[0]
		}
		return len(vs) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := w.emu.SubmitView(ctx, w.carol, view.ID, map[string]map[string]string{
		"title": {"title": "   "}, "severity": {"severity": "sev1"},
	})
	if err != nil || !strings.Contains(string(ack), `"response_action":"errors"`) || !strings.Contains(string(ack), "needs a title") {
		t.Fatalf("blank title: ack %s, %v", ack, err)
	}
	ack, err = w.emu.SubmitView(ctx, w.carol, view.ID, map[string]map[string]string{
		"title": {"title": "Login <!channel> broken"}, "severity": {"severity": "sev1"}, "description": {"description": "SSO fails for everyone"},
	})
	if err != nil || len(ack) != 0 {
		t.Fatalf("submit: ack %s, %v", ack, err)
	}
	var ch slackemu.Channel
	w.eventually("the channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-login-channel-broken")
		return ok && contains(ch.Members, w.carol) && len(ch.Pins) == 1
	})
	// The title is echoed, escaped: no broadcast.
	for _, m := range w.emu.Messages(w.announce) {
		if strings.Contains(m.Text, "<!channel>") {
			t.Errorf("announcement echoes a broadcast: %q", m.Text)
		}
	}
	bot.stop(t)
	inc, err := w.openDB().Incident(context.Background(), 1)
	if err != nil || inc.Severity != incidentbot.Sev1 || inc.Description != "SSO fails for everyone" || inc.Declarer != w.carol {
		t.Errorf("incident = %+v, %v", inc, err)
	}
}

// TestChannelNameTakenAndSlackFaults: a taken channel name gets a suffix;
// Slack answering 429 (Retry-After) and 500 to the calls after the ack is
// retried and every post arrives once.
func TestChannelNameTakenAndSlackFaults(t *testing.T) {
	w := newWorld(t, slackemu.Config{})
	w.emu.CreateChannel("inc-1-dns-outage")
	w.emu.CreateChannel("inc-1-dns-outage-2")
	bot := w.start(nil)
	w.emu.FailNext("chat.postMessage", 2, 429, time.Second)
	w.emu.FailNext("pins.add", 1, 500, 0)
	w.cmd(w.alice, w.general, "open DNS outage")
	var ch slackemu.Channel
	w.eventually("the channel with a suffix", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-dns-outage-3")
		return ok && len(ch.Pins) == 1
	})
	w.emu.FailNext("chat.postMessage", 1, 503, 0)
	w.cmd(w.alice, ch.ID, "status identified resolver pool misconfigured")
	w.waitText(ch.ID, "resolver pool misconfigured")
	w.waitText(w.announce, "resolver pool misconfigured")
	headers, updates := 0, 0
	for _, m := range w.emu.Messages(ch.ID) {
		if strings.Contains(m.Text, "*INC-1: DNS outage*") {
			headers++
		}
		if strings.Contains(m.Text, "resolver pool misconfigured") {
			updates++
		}
	}
	if headers != 1 || updates != 1 {
		t.Errorf("%d headers and %d status posts, want 1 each", headers, updates)
	}
	bot.stop(t)
}
