package slackemu

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func txt(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject("plain_text", s, false, false)
}

func opt(v string) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(v, txt(strings.ToUpper(v)), nil)
}

// headerBlocks is an incident header with buttons, as the bot posts it.
func headerBlocks() slack.MsgOption {
	return slack.MsgOptionBlocks(
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*INC-1* db down", false, false), nil,
			slack.NewAccessory(slack.NewButtonBlockElement("commander", "1", txt("I'm the commander")))),
		slack.NewActionBlock("inc_actions",
			slack.NewButtonBlockElement("update", "1", txt("Post update")),
			slack.NewButtonBlockElement("resolve", "1", txt("Resolve")).WithStyle(slack.StyleDanger)),
	)
}

// formModal has one input of every value shape SubmitForm supports.
func formModal() slack.ModalViewRequest {
	check := slack.NewCheckboxGroupsBlockElement("private_check", opt("private"), opt("quiet"))
	people := slack.NewOptionsMultiSelectBlockElement("multi_users_select", txt("People"), "people_pick")
	input := func(id string, el slack.BlockElement, optional bool) *slack.InputBlock {
		b := slack.NewInputBlock(id, txt(id), nil, el)
		b.Optional = optional
		return b
	}
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		Title:      txt("Action item"),
		Submit:     txt("Add"),
		CallbackID: "action_item",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			input("what", slack.NewPlainTextInputBlockElement(nil, "what_input"), false),
			input("status", slack.NewOptionsSelectBlockElement("static_select", txt("Status"), "status_select", opt("investigating"), opt("monitoring")), false),
			input("owner", slack.NewOptionsSelectBlockElement("users_select", txt("Owner"), "owner_select"), false),
			input("due", slack.NewDatePickerBlockElement("due_date"), true),
			input("flags", check, true),
			input("people", people, true),
		}},
	}
}

func TestClickButton(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	bob := s.AddUser(User{Name: "bob"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)
	secret := s.CreatePrivateChannel("secret", alice, s.BotUserID())
	api := botAPI(s)
	_, ts, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("INC-1 db down", false), headerBlocks())
	if err != nil {
		t.Fatal(err)
	}
	_, secretTS, err := api.PostMessageContext(ctx, secret, slack.MsgOptionText("INC-2", false), headerBlocks())
	if err != nil {
		t.Fatal(err)
	}
	userTS := s.PostMessage(alice, ch, "hello")

	clicks := make(chan slack.InteractionCallback, 4)
	opened := make(chan error, 4)
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			clicks <- cb
			_, err := api.OpenViewContext(ctx, cb.TriggerID, formModal())
			opened <- err
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)

	res, err := s.ClickButton(ctx, bob, ch, ts, "resolve", "")
	if err != nil || res.TimedOut || res.TriggerID == "" || res.ResponseURL == "" || res.EnvelopeID == "" {
		t.Fatalf("ClickButton = %+v, %v", res, err)
	}
	cb := <-clicks
	if err := <-opened; err != nil {
		t.Errorf("views.open with the click's trigger: %v", err)
	}
	acts := cb.ActionCallback.BlockActions
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != bob || cb.Channel.ID != ch || cb.Channel.Name != "inc-1" ||
		cb.Container.Type != "message" || cb.Container.MessageTs != ts || cb.Container.ChannelID != ch ||
		cb.Message.Timestamp != ts || cb.Message.BotID != s.BotID() || cb.TriggerID != res.TriggerID || cb.ResponseURL != res.ResponseURL ||
		cb.Team.ID != s.Config().TeamID || cb.APIAppID != s.Config().AppID || len(acts) != 1 {
		t.Fatalf("block_actions = %+v", cb)
	}
	if a := acts[0]; a.ActionID != "resolve" || a.BlockID != "inc_actions" || a.Value != "1" || a.Type != "button" || a.Text.Text != "Resolve" || a.ActionTs == "" {
		t.Errorf("action = %+v", a)
	}
	if cb.BlockActionState == nil {
		t.Error("no state")
	}

	// A section accessory is clickable too; its block_id is generated.
	if _, err := s.ClickButton(ctx, alice, ch, ts, "commander", "1"); err != nil {
		t.Fatal(err)
	}
	if cb := <-clicks; cb.ActionCallback.BlockActions[0].ActionID != "commander" || cb.ActionCallback.BlockActions[0].BlockID == "" {
		t.Errorf("accessory click = %+v", cb.ActionCallback.BlockActions[0])
	}
	<-opened

	// replace_original on the response_url edits the clicked message.
	if err := slack.PostWebhookContext(ctx, res.ResponseURL, &slack.WebhookMessage{Text: "INC-1 resolved", ReplaceOriginal: true}); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(ch)[0]; m.TS != ts || m.Text != "INC-1 resolved" || !m.Edited {
		t.Errorf("after replace_original: %+v", m)
	}

	// Clicks Slack would never send.
	for name, f := range map[string]func() error{
		"unknown action":   func() error { _, err := s.ClickButton(ctx, bob, ch, ts, "nope", ""); return err },
		"wrong value":      func() error { _, err := s.ClickButton(ctx, bob, ch, ts, "resolve", "2"); return err },
		"user message":     func() error { _, err := s.ClickButton(ctx, alice, ch, userTS, "resolve", ""); return err },
		"no message":       func() error { _, err := s.ClickButton(ctx, alice, ch, "1.000001", "resolve", ""); return err },
		"private, no seat": func() error { _, err := s.ClickButton(ctx, bob, secret, secretTS, "resolve", ""); return err },
		"unknown user":     func() error { _, err := s.ClickButton(ctx, "U404", ch, ts, "resolve", ""); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: ClickButton succeeded", name)
		}
	}
	if _, err := s.ClickButton(ctx, alice, secret, secretTS, "update", ""); err != nil {
		t.Errorf("member click in a private channel: %v", err)
	}
}

// formDriver answers slash commands with formModal and view submissions
// with the next queued ack payload, forwarding what it got.
type formDriver struct {
	acks  chan any
	subs  chan slack.InteractionCallback
	after func(api *slack.Client, cb slack.InteractionCallback) // runs before the ack
}

func startForm(t *testing.T, s *Server) (*formDriver, *socketClient) {
	ctx := ctxT(t)
	f := &formDriver{acks: make(chan any, 8), subs: make(chan slack.InteractionCallback, 8)}
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		switch d := evt.Data.(type) {
		case slack.SlashCommand:
			if _, err := api.OpenViewContext(ctx, d.TriggerID, formModal()); err != nil {
				t.Errorf("views.open: %v", err)
			}
		case slack.InteractionCallback:
			if f.after != nil {
				f.after(api, d)
			}
			f.subs <- d
			select {
			case a := <-f.acks:
				return true, a
			default:
			}
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)
	return f, sc
}

func openForm(t *testing.T, s *Server, user, ch string) View {
	t.Helper()
	n := len(s.Views())
	if _, err := s.SlashCommand(ctxT(t), user, ch, "action"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the form", func() bool { return len(s.Views()) > n })
	return s.Views()[n]
}

func TestSubmitFormValueShapes(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	bob := s.AddUser(User{Name: "bob"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)
	f, _ := startForm(t, s)
	v := openForm(t, s, alice, ch)
	if v.Type != "modal" || v.RootViewID != v.ID || v.PreviousViewID != "" || v.Hash == "" {
		t.Fatalf("view = %+v", v)
	}

	good := func() map[string]map[string]string {
		return map[string]map[string]string{
			"what":   {"what_input": "rotate keys"},
			"status": {"status_select": "monitoring"},
			"owner":  {"owner_select": bob},
			"due":    {"due_date": "2025-07-01"},
			"flags":  {"private_check": "private,quiet"},
			"people": {"people_pick": alice + "," + bob},
		}
	}
	for name, mod := range map[string]func(m map[string]map[string]string){
		"bad date":       func(m map[string]map[string]string) { m["due"]["due_date"] = "1 July" },
		"unknown user":   func(m map[string]map[string]string) { m["owner"]["owner_select"] = "U404" },
		"unknown option": func(m map[string]map[string]string) { m["flags"]["private_check"] = "private,loud" },
		"unknown person": func(m map[string]map[string]string) { m["people"]["people_pick"] = "U404" },
		"missing owner":  func(m map[string]map[string]string) { delete(m, "owner") },
		"unknown input":  func(m map[string]map[string]string) { m["x"] = map[string]string{"y": "z"} },
	} {
		vals := good()
		mod(vals)
		if _, err := s.SubmitForm(ctx, alice, v.ID, vals); err == nil {
			t.Errorf("%s: SubmitForm succeeded", name)
		}
	}
	if _, err := s.SubmitForm(ctx, bob, v.ID, good()); err == nil {
		t.Error("bob submitted alice's view")
	}

	res, err := s.SubmitForm(ctx, alice, v.ID, good())
	if err != nil || res.TimedOut || res.ResponseAction != "" || res.Shown != nil {
		t.Fatalf("SubmitForm = %+v, %v", res, err)
	}
	sub := <-f.subs
	vals := sub.View.State.Values
	if sub.Type != slack.InteractionTypeViewSubmission || sub.View.ID != v.ID || sub.View.CallbackID != "action_item" ||
		vals["what"]["what_input"].Value != "rotate keys" ||
		vals["status"]["status_select"].SelectedOption.Value != "monitoring" ||
		vals["owner"]["owner_select"].SelectedUser != bob ||
		vals["due"]["due_date"].SelectedDate != "2025-07-01" ||
		len(vals["flags"]["private_check"].SelectedOptions) != 2 || vals["flags"]["private_check"].SelectedOptions[1].Value != "quiet" ||
		strings.Join(vals["people"]["people_pick"].SelectedUsers, ",") != alice+","+bob {
		t.Errorf("state = %+v", vals)
	}
	if got, _ := s.View(v.ID); got.Open {
		t.Error("view still open after a plain ack")
	}

	// Optional inputs left empty have Slack's empty shapes.
	v2 := openForm(t, s, alice, ch)
	vals2 := good()
	delete(vals2, "due")
	delete(vals2, "flags")
	delete(vals2, "people")
	if _, err := s.SubmitForm(ctx, alice, v2.ID, vals2); err != nil {
		t.Fatal(err)
	}
	sub = <-f.subs
	raw, _ := json.Marshal(sub.View.State.Values)
	if sub.View.State.Values["due"]["due_date"].SelectedDate != "" || len(sub.View.State.Values["flags"]["private_check"].SelectedOptions) != 0 {
		t.Errorf("empty optional inputs = %s", raw)
	}
}

func TestSubmitFormResponseActions(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)
	f, _ := startForm(t, s)
	v := openForm(t, s, alice, ch)
	vals := map[string]map[string]string{"what": {"what_input": "x"}, "status": {"status_select": "investigating"}, "owner": {"owner_select": alice}}
	submit := func(id string, ack any) (InteractionResult, error) {
		t.Helper()
		f.acks <- ack
		res, err := s.SubmitForm(ctx, alice, id, vals)
		<-f.subs
		return res, err
	}

	// errors: the view stays open and the caller gets the errors.
	res, err := submit(v.ID, slack.NewErrorsViewSubmissionResponse(map[string]string{"what": "Say what"}))
	if err != nil || res.ResponseAction != "errors" || res.Errors["what"] != "Say what" || res.Shown == nil || res.Shown.ID != v.ID {
		t.Fatalf("errors: %+v, %v", res, err)
	}
	// errors naming a block that is no input: Slack would reject it.
	if res, err := submit(v.ID, slack.NewErrorsViewSubmissionResponse(map[string]string{"title": "no"})); err == nil || res.Shown == nil {
		t.Errorf("errors on an unknown block: %+v, %v", res, err)
	}

	// update: same view, new hash and content.
	updated := formModal()
	updated.Title = txt("Action item (2)")
	res, err = submit(v.ID, slack.NewUpdateViewSubmissionResponse(&updated))
	if err != nil || res.Shown == nil || res.Shown.ID != v.ID || res.Shown.Hash == v.Hash || !strings.Contains(string(res.Shown.Raw), "Action item (2)") {
		t.Fatalf("update: %+v, %v", res, err)
	}
	bad := formModal()
	bad.Title = txt("a title that is far too long for Slack")
	if _, err := submit(v.ID, slack.NewUpdateViewSubmissionResponse(&bad)); err == nil {
		t.Error("update with an invalid view accepted")
	}

	// push: a second and third view; a fourth is over Slack's limit.
	res, err = submit(v.ID, slack.NewPushViewSubmissionResponse(&updated))
	if err != nil || res.Shown == nil || res.Shown.ID == v.ID || res.Shown.PreviousViewID != v.ID || res.Shown.RootViewID != v.ID {
		t.Fatalf("push: %+v, %v", res, err)
	}
	second := res.Shown.ID
	if _, err := s.SubmitForm(ctx, alice, v.ID, vals); err == nil {
		t.Error("submitted a view under a pushed one")
	}
	res, err = submit(second, slack.NewPushViewSubmissionResponse(&updated))
	if err != nil || res.Shown.PreviousViewID != second {
		t.Fatalf("second push: %+v, %v", res, err)
	}
	third := res.Shown.ID
	if _, err := submit(third, slack.NewPushViewSubmissionResponse(&updated)); err == nil || !strings.Contains(err.Error(), "push_limit_reached") {
		t.Errorf("fourth view: %v", err)
	}
	// A plain ack closes the top view and shows the one under it.
	res, err = submit(third, nil)
	if err != nil || res.Shown == nil || res.Shown.ID != second {
		t.Fatalf("close top: %+v, %v", res, err)
	}
	// clear closes the whole modal.
	res, err = submit(second, slack.NewClearViewSubmissionResponse())
	if err != nil || res.Shown != nil {
		t.Fatalf("clear: %+v, %v", res, err)
	}
	for _, w := range s.Views() {
		if w.Open {
			t.Errorf("view %s still open after clear", w.ID)
		}
	}
	if _, err := s.SubmitForm(ctx, alice, v.ID, vals); err == nil {
		t.Error("submitted a closed view")
	}
	// An unknown response_action is reported.
	w := openForm(t, s, alice, ch)
	if _, err := submit(w.ID, map[string]any{"response_action": "explode"}); err == nil {
		t.Error("unknown response_action accepted")
	}
}

func TestViewsPushUpdatePublish(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)
	api := botAPI(s)
	f, _ := startForm(t, s)
	pushed := make(chan string, 2)
	f.after = func(api *slack.Client, cb slack.InteractionCallback) {
		m := formModal()
		m.ExternalID = "details-1"
		resp, err := api.PushViewContext(ctx, cb.TriggerID, m)
		if err != nil {
			pushed <- "error: " + slackErr(err)
			return
		}
		if _, err := api.PushViewContext(ctx, cb.TriggerID, m); slackErr(err) != "exchanged_trigger_id" {
			pushed <- "reuse: " + slackErr(err)
			return
		}
		pushed <- resp.ID
	}
	v := openForm(t, s, alice, ch)
	f.acks <- slack.NewErrorsViewSubmissionResponse(map[string]string{"what": "more"})
	if _, err := s.SubmitForm(ctx, alice, v.ID, map[string]map[string]string{"what": {"what_input": "x"}, "status": {"status_select": "investigating"}, "owner": {"owner_select": alice}}); err != nil {
		t.Fatal(err)
	}
	<-f.subs
	pid := <-pushed
	p, ok := s.View(pid)
	if !ok || p.PreviousViewID != v.ID || p.ExternalID != "details-1" || !p.Open {
		t.Fatalf("views.push: %q %+v", pid, p)
	}

	// views.update by view_id, then by external_id with the current hash.
	m := formModal()
	m.Title = txt("Renamed")
	resp, err := api.UpdateViewContext(ctx, m, "", "", v.ID)
	if err != nil || resp.ID != v.ID || resp.Title.Text != "Renamed" || resp.RootViewID != v.ID {
		t.Fatalf("views.update: %+v, %v", resp, err)
	}
	if _, err := api.UpdateViewContext(ctx, m, "", "123.stale", v.ID); slackErr(err) != "hash_conflict" {
		t.Errorf("stale hash: %v", err)
	}
	cur, _ := s.View(pid)
	m2 := formModal()
	m2.ExternalID = "details-1"
	if resp, err := api.UpdateViewContext(ctx, m2, "details-1", cur.Hash, ""); err != nil || resp.ID != pid {
		t.Errorf("update by external_id: %+v, %v", resp, err)
	}
	if _, err := api.UpdateViewContext(ctx, m, "", "", "V404"); slackErr(err) != "not_found" {
		t.Errorf("unknown view: %v", err)
	}
	dup := formModal()
	dup.ExternalID = "details-1"
	if _, err := api.UpdateViewContext(ctx, dup, "", "", v.ID); slackErr(err) != "duplicate_external_id" {
		t.Errorf("duplicate external_id: %v", err)
	}
	// A bad input block is invalid_arguments with Slack's messages.
	for name, body := range map[string]string{
		"input element type":     `{"type":"modal","title":{"type":"plain_text","text":"T"},"submit":{"type":"plain_text","text":"S"},"blocks":[{"type":"input","label":{"type":"plain_text","text":"L"},"element":{"type":"button","text":{"type":"plain_text","text":"B"},"action_id":"b"}}]}`,
		"long action_id":         `{"type":"modal","title":{"type":"plain_text","text":"T"},"submit":{"type":"plain_text","text":"S"},"blocks":[{"type":"input","label":{"type":"plain_text","text":"L"},"element":{"type":"plain_text_input","action_id":"` + strings.Repeat("a", 256) + `"}}]}`,
		"select without options": `{"type":"modal","title":{"type":"plain_text","text":"T"},"submit":{"type":"plain_text","text":"S"},"blocks":[{"type":"input","label":{"type":"plain_text","text":"L"},"element":{"type":"static_select","action_id":"s"}}]}`,
		"long block_id":          `{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[{"type":"section","block_id":"` + strings.Repeat("b", 256) + `","text":{"type":"mrkdwn","text":"x"}}]}`,
		"no submit":              `{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[{"type":"input","label":{"type":"plain_text","text":"L"},"element":{"type":"plain_text_input","action_id":"a"}}]}`,
		"home for a modal":       `{"type":"home","blocks":[]}`,
	} {
		out := rawPost(t, s, "views.update", "application/json; charset=utf-8", `{"view_id":"`+v.ID+`","view":`+body+`}`, s.Config().BotToken)
		md, _ := out["response_metadata"].(map[string]any)
		if out["error"] != "invalid_arguments" || md == nil || len(md["messages"].([]any)) != 1 {
			t.Errorf("%s: %v", name, out)
		}
	}

	// views.publish: the Home tab of a user, same id across publications.
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, CallbackID: "home", Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*Your incidents*", false, false), nil, nil),
	}}}
	r1, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: alice, View: home})
	if err != nil || r1.Type != slack.VTHomeTab || r1.CallbackID != "home" {
		t.Fatalf("views.publish: %+v, %v", r1, err)
	}
	stale := "1.stale"
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: alice, View: home, Hash: &stale}); slackErr(err) != "hash_conflict" {
		t.Errorf("publish with a stale hash: %v", err)
	}
	r2, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: alice, View: home, Hash: &r1.Hash})
	if err != nil || r2.ID != r1.ID || r2.Hash == r1.Hash {
		t.Errorf("republish: %+v, %v", r2, err)
	}
	if hv, ok := s.HomeView(alice); !ok || hv.ID != r1.ID || hv.Type != "home" || !strings.Contains(string(hv.Raw), "Your incidents") {
		t.Errorf("HomeView = %+v, %v", hv, ok)
	}
	if _, ok := s.HomeView(s.BotUserID()); ok {
		t.Error("the bot has a Home tab")
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U404", View: home}); slackErr(err) != "invalid_arguments" {
		t.Errorf("unknown user: %v", err)
	}
	out := rawPost(t, s, "views.publish", "application/json; charset=utf-8", `{"user_id":"`+alice+`","view":{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[]}}`, s.Config().BotToken)
	if out["error"] != "invalid_arguments" {
		t.Errorf("modal published as home: %v", out)
	}
	for _, w := range s.Views() {
		if w.Type != "modal" {
			t.Errorf("Views lists %+v", w)
		}
	}
	// A trigger from outside a modal cannot push.
	s.mu.Lock()
	trig := s.newTriggerLocked(alice, ch)
	s.mu.Unlock()
	if _, err := api.PushViewContext(ctx, trig, formModal()); slackErr(err) != "not_found" {
		t.Errorf("push without a modal: %v", err)
	}
}

func TestMessageShortcut(t *testing.T) {
	s := newServer(t, Config{MessageShortcuts: []string{"add_to_timeline"}})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	bob := s.AddUser(User{Name: "bob"}).ID
	random := s.CreateChannel("random", alice) // the bot is not a member
	secret := s.CreatePrivateChannel("secret", alice)
	ts := s.PostMessage(alice, random, "the deploy at 14:02 broke login")
	secretTS := s.PostMessage(alice, secret, "psst")

	got := make(chan slack.InteractionCallback, 2)
	opened := make(chan error, 2)
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			got <- cb
			_, err := api.OpenViewContext(ctx, cb.TriggerID, formModal())
			opened <- err
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)

	res, err := s.MessageShortcut(ctx, bob, random, ts, "add_to_timeline")
	if err != nil || res.TimedOut || res.ResponseURL == "" {
		t.Fatalf("MessageShortcut = %+v, %v", res, err)
	}
	cb := <-got
	if err := <-opened; err != nil {
		t.Errorf("views.open with the shortcut's trigger: %v", err)
	}
	if cb.Type != slack.InteractionTypeMessageAction || cb.CallbackID != "add_to_timeline" || cb.User.ID != bob ||
		cb.Channel.ID != random || cb.Channel.Name != "random" || cb.MessageTs != ts || cb.Message.Timestamp != ts ||
		cb.Message.User != alice || cb.Message.Text != "the deploy at 14:02 broke login" || cb.TriggerID != res.TriggerID ||
		cb.ResponseURL != res.ResponseURL || cb.ActionTs == "" || cb.Team.ID != s.Config().TeamID {
		t.Fatalf("message_action = %+v", cb)
	}
	if err := slack.PostWebhookContext(ctx, res.ResponseURL, &slack.WebhookMessage{Text: "Added to INC-1"}); err != nil {
		t.Fatal(err)
	}
	if e := s.Ephemerals(random, bob); len(e) != 1 || e[0] != "Added to INC-1" {
		t.Errorf("ephemerals = %q", e)
	}
	if _, err := s.MessageShortcut(ctx, bob, random, ts, "undeclared"); err == nil {
		t.Error("undeclared shortcut sent")
	}
	if _, err := s.MessageShortcut(ctx, bob, secret, secretTS, "add_to_timeline"); err == nil {
		t.Error("shortcut in a private channel the user is not in")
	}
	if _, err := s.MessageShortcut(ctx, alice, secret, secretTS, "add_to_timeline"); err != nil {
		t.Errorf("member's shortcut in a private channel: %v", err)
	}
	<-got
	<-opened
}

func TestOpenAppHome(t *testing.T) {
	s := newServer(t, Config{})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	events := make(chan *slackevents.AppHomeOpenedEvent, 2)
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		if e, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			if ho, ok := e.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); ok {
				_, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: ho.User, View: slack.HomeTabViewRequest{
					Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(txt("No open incidents"), nil, nil)}},
				}})
				if err != nil {
					t.Errorf("views.publish: %v", err)
				}
				events <- ho
			}
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)

	id, err := s.OpenAppHome(ctx, alice)
	if err != nil || id == "" {
		t.Fatalf("OpenAppHome = %q, %v", id, err)
	}
	ev := <-events
	dm, _ := s.Channel(ev.Channel)
	if ev.Type != "app_home_opened" || ev.User != alice || ev.Tab != "home" || !dm.IsIM || dm.User != alice || ev.View != nil || ev.EventTimeStamp == "" {
		t.Errorf("app_home_opened = %+v", ev)
	}
	hv, ok := s.HomeView(alice)
	if !ok || !strings.Contains(string(hv.Raw), "No open incidents") {
		t.Fatalf("HomeView = %+v, %v", hv, ok)
	}
	// Once published, the event carries the tab's current view.
	if _, err := s.OpenAppHome(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.View == nil || ev.View.ID != hv.ID || ev.View.Type != slack.VTHomeTab {
		t.Errorf("second app_home_opened view = %+v", ev.View)
	}
	if _, err := s.OpenAppHome(ctx, s.BotUserID()); err == nil {
		t.Error("the bot opened its own home")
	}
}

func TestPrivateChannelMembership(t *testing.T) {
	s := newServer(t, Config{MemberJoinedEvents: true})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	bob := s.AddUser(User{Name: "bob"}).ID
	api := botAPI(s)
	sc := startSocket(t, s, ackAll)
	sc.next(t, socketmode.EventTypeHello)

	ch, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-7-payroll", IsPrivate: true})
	if err != nil || !ch.IsPrivate || !ch.IsChannel || ch.IsGroup {
		t.Fatalf("conversations.create is_private: %+v, %v", ch, err)
	}
	if _, err := api.InviteUsersToConversationContext(ctx, ch.ID, alice); err != nil {
		t.Fatal(err)
	}
	e, _ := sc.nextEvent(t)
	if j, ok := e.InnerEvent.Data.(*slackevents.MemberJoinedChannelEvent); !ok || j.User != alice || j.Channel != ch.ID || j.ChannelType != "G" || j.Inviter != s.BotUserID() {
		t.Errorf("member_joined_channel = %#v", e.InnerEvent.Data)
	}
	s.InviteUser(alice, bob, ch.ID)
	e, _ = sc.nextEvent(t)
	if j, ok := e.InnerEvent.Data.(*slackevents.MemberJoinedChannelEvent); !ok || j.User != bob || j.Inviter != alice || j.ChannelType != "G" {
		t.Errorf("member_joined_channel = %#v", e.InnerEvent.Data)
	}
	s.PostMessage(bob, ch.ID, "payroll job failed")
	e, _ = sc.nextEvent(t)
	if m, ok := e.InnerEvent.Data.(*slackevents.MessageEvent); !ok || m.ChannelType != "group" || m.Channel != ch.ID || m.User != bob {
		t.Errorf("message in a private channel = %#v", e.InnerEvent.Data)
	}
	s.LeaveChannel(bob, ch.ID)
	e, _ = sc.nextEvent(t)
	if l, ok := e.InnerEvent.Data.(*slackevents.MemberLeftChannelEvent); !ok || l.User != bob || l.Channel != ch.ID || l.ChannelType != "G" || l.Team != s.Config().TeamID {
		t.Errorf("member_left_channel = %#v", e.InnerEvent.Data)
	}
	members, _, err := api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: ch.ID})
	if err != nil || strings.Join(members, ",") != s.BotUserID()+","+alice {
		t.Errorf("members = %v, %v", members, err)
	}

	// A private channel without the bot does not exist for it; nothing of
	// it is delivered.
	hidden := s.CreatePrivateChannel("hr-case", alice, bob)
	s.PostMessage(alice, hidden, "confidential")
	s.LeaveChannel(bob, hidden)
	sc.quiet(t, 200*time.Millisecond)
	if _, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: hidden}); slackErr(err) != "channel_not_found" {
		t.Errorf("conversations.info: %v", err)
	}
	if _, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: hidden}); slackErr(err) != "channel_not_found" {
		t.Errorf("conversations.history: %v", err)
	}
	if _, _, err := api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: hidden}); slackErr(err) != "channel_not_found" {
		t.Errorf("conversations.members: %v", err)
	}
	list, _, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{Types: []string{"private_channel"}})
	if err != nil || len(list) != 1 || list[0].ID != ch.ID {
		t.Errorf("conversations.list private_channel = %+v, %v", list, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("JoinChannel joined a private channel")
		}
	}()
	s.JoinChannel(bob, hidden)
}

// TestInteractionAckDeadline: an interaction acknowledged after Slack's 3 s
// is reported as timed out, and a late view_submission ack does nothing.
func TestInteractionAckDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s")
	}
	s := newServer(t, Config{MessageShortcuts: []string{"add_to_timeline"}})
	ctx := ctxT(t)
	alice := s.AddUser(User{Name: "alice"}).ID
	ch := s.CreateChannel("inc-1", s.BotUserID(), alice)
	_, ts, err := botAPI(s).PostMessageContext(ctx, ch, slack.MsgOptionText("INC-1", false), headerBlocks())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	slow := false
	sc := startSocket(t, s, func(api *slack.Client, evt socketmode.Event) (bool, any) {
		switch d := evt.Data.(type) {
		case slack.SlashCommand:
			if _, err := api.OpenViewContext(ctx, d.TriggerID, formModal()); err != nil {
				t.Errorf("views.open: %v", err)
			}
		case slack.InteractionCallback:
			if slow {
				once.Do(func() { time.Sleep(slackAckDeadline + 200*time.Millisecond) })
			}
		}
		return true, nil
	})
	sc.next(t, socketmode.EventTypeHello)
	v := openForm(t, s, alice, ch)
	slow = true

	var wg sync.WaitGroup
	var click, short, sub InteractionResult
	var errs [3]error
	wg.Go(func() { click, errs[0] = s.ClickButton(ctx, alice, ch, ts, "resolve", "") })
	wg.Go(func() { short, errs[1] = s.MessageShortcut(ctx, alice, ch, ts, "add_to_timeline") })
	wg.Go(func() {
		sub, errs[2] = s.SubmitForm(ctx, alice, v.ID, map[string]map[string]string{
			"what": {"what_input": "x"}, "status": {"status_select": "investigating"}, "owner": {"owner_select": alice},
		})
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("interaction %d: %v", i, err)
		}
	}
	if !click.TimedOut || !short.TimedOut || !sub.TimedOut || click.Latency <= slackAckDeadline {
		t.Errorf("timed out: click %v (%v), shortcut %v, submit %v", click.TimedOut, click.Latency, short.TimedOut, sub.TimedOut)
	}
	if got, _ := s.View(v.ID); !got.Open || sub.Shown == nil {
		t.Error("a late acknowledgement closed the view")
	}
}
