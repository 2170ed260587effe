package slackemu

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// View is a modal opened with views.open.
type View struct {
	ID              string
	TriggerID       string
	User            string // whose trigger opened it
	CallbackID      string
	PrivateMetadata string
	Open            bool            // false once submitted and closed
	Raw             json.RawMessage // the view object as views.open returned it (updated by response_action "update")
}

type view struct {
	id, triggerID, user string
	open                bool
	spec                obj // the view object as returned by views.open
}

func (v *view) export() View {
	raw, _ := json.Marshal(v.spec)
	cb, _ := v.spec["callback_id"].(string)
	pm, _ := v.spec["private_metadata"].(string)
	return View{
		ID:              v.id,
		TriggerID:       v.triggerID,
		User:            v.user,
		CallbackID:      cb,
		PrivateMetadata: pm,
		Open:            v.open,
		Raw:             raw,
	}
}

// trigger is a trigger_id handed to the app with a slash command or an
// interaction; it opens one view, within TriggerTTL.
type trigger struct {
	user, channel string
	created       time.Time
	used          bool
}

// newTriggerLocked makes a trigger id in Slack's format
// ("13345224609.738474920.8088930838d88f008e0").
func (s *Server) newTriggerLocked(user, channel string) string {
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", time.Now().UnixMilli(), 700000000+s.seq, randHex(16))
	s.triggers[id] = &trigger{user: user, channel: channel, created: time.Now()}
	return id
}

// Views returns the views opened with views.open, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, id := range s.viewOrder {
		out = append(out, s.views[id].export())
	}
	return out
}

// apiViewsOpen answers views.open: a trigger id works once, within
// TriggerTTL; the view must be a valid modal.
func (s *Server) apiViewsOpen(req *apiRequest) (obj, *apiError) {
	tid := req.params.Get("trigger_id")
	if tid == "" {
		return nil, errCode("invalid_arguments")
	}
	t, ok := s.triggers[tid]
	switch {
	case !ok || t.used:
		return nil, errCode("invalid_trigger_id")
	case s.cfg.TriggerTTL > 0 && time.Since(t.created) > s.cfg.TriggerTTL:
		return nil, errCode("expired_trigger_id")
	}
	var spec obj
	if err := json.Unmarshal([]byte(req.params.Get("view")), &spec); err != nil || spec == nil {
		return nil, errCode("invalid_arguments")
	}
	if msg := validateModal(spec); msg != "" {
		return nil, &apiError{code: "invalid_arguments", extra: obj{"response_metadata": obj{"messages": []string{msg}}}}
	}
	t.used = true
	v := &view{id: s.newIDLocked("V"), triggerID: tid, user: t.user, open: true}
	v.spec = s.viewObject(v.id, spec)
	s.views[v.id] = v
	s.viewOrder = append(s.viewOrder, v.id)
	title, _ := spec["title"].(map[string]any)
	text, _ := title["text"].(string)
	name := ""
	if c, ok := s.channels[t.channel]; ok {
		name = c.name
	}
	s.noteLocked(Activity{Kind: "view", Channel: t.channel, Name: name, User: s.botUser, To: t.user, Text: text})
	return obj{"view": v.spec}, nil
}

// viewObject is Slack's view object for a submitted view spec.
func (s *Server) viewObject(id string, spec obj) obj {
	out := maps.Clone(spec)
	def := func(k string, v any) {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	out["id"] = id
	out["team_id"] = s.cfg.TeamID
	out["state"] = obj{"values": obj{}}
	out["hash"] = fmt.Sprintf("%d.%s", time.Now().Unix(), randHex(4))
	out["root_view_id"] = id
	out["previous_view_id"] = nil
	out["app_id"] = s.cfg.AppID
	out["app_installed_team_id"] = s.cfg.TeamID
	out["bot_id"] = s.botID
	def("private_metadata", "")
	def("callback_id", "")
	def("external_id", "")
	def("clear_on_close", false)
	def("notify_on_close", false)
	def("close", nil)
	def("submit", nil)
	return out
}

// validateModal applies Slack's main checks on a modal view and returns
// Slack's error message, or "".
func validateModal(spec obj) string {
	if spec["type"] != "modal" {
		return "[ERROR] must be one of the following: modal [json-pointer:/view/type]"
	}
	title, _ := spec["title"].(map[string]any)
	if title == nil {
		return "[ERROR] missing required field: title [json-pointer:/view]"
	}
	if title["type"] != "plain_text" {
		return "[ERROR] failed to match all allowed schemas [json-pointer:/view/title/type]"
	}
	if t, _ := title["text"].(string); t == "" || utf8.RuneCountInString(t) > 24 {
		return "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
	}
	for _, k := range []string{"submit", "close"} {
		if b, ok := spec[k].(map[string]any); ok {
			if t, _ := b["text"].(string); b["type"] != "plain_text" || t == "" || utf8.RuneCountInString(t) > 24 {
				return "[ERROR] must be less than 25 characters [json-pointer:/view/" + k + "/text]"
			}
		}
	}
	if cb, _ := spec["callback_id"].(string); len(cb) > 255 {
		return "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]"
	}
	if pm, _ := spec["private_metadata"].(string); len(pm) > 3000 {
		return "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
	}
	blocks, ok := spec["blocks"].([]any)
	if !ok {
		return "[ERROR] missing required field: blocks [json-pointer:/view]"
	}
	raw, _ := json.Marshal(blocks)
	if msg := validateBlocks(raw, 100, "/view/blocks"); msg != "" {
		return msg
	}
	hasInput := false
	for _, b := range blocks {
		if bm, _ := b.(map[string]any); bm != nil && bm["type"] == "input" {
			hasInput = true
		}
	}
	if _, ok := spec["submit"].(map[string]any); hasInput && !ok {
		return "[ERROR] must provide a submit property when using input blocks [json-pointer:/view]"
	}
	return ""
}

// SubmitView submits view viewID as user, as clicking the modal's submit
// button does: it sends a view_submission interactive envelope whose
// view.state.values holds values (block_id → action_id → value: the text of a
// plain_text_input and similar inputs, the option value of a static_select,
// the user, channel, date or time of the matching pickers), waits for the
// acknowledgement and returns its payload (nil when the app acknowledged
// without one). The ack's response_action decides what happens to the view:
// "errors" keeps it open, "update" replaces it, anything else closes it.
//
// It fails without sending anything if the view is unknown, closed or not
// user's, if values names a block or action the view does not have, if an
// option value is not among the element's options, or if a required input is
// left empty (the Slack client would not submit); and it fails when ctx ends
// before the acknowledgement.
func (s *Server) SubmitView(ctx context.Context, user, viewID string, values map[string]map[string]string) (json.RawMessage, error) {
	s.mu.Lock()
	v, ok := s.views[viewID]
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, fmt.Errorf("slackemu: submit view %s: no such view", viewID)
	case !v.open:
		s.mu.Unlock()
		return nil, fmt.Errorf("slackemu: submit view %s: view is closed", viewID)
	case v.user != user:
		s.mu.Unlock()
		return nil, fmt.Errorf("slackemu: submit view %s: view belongs to %s, not %s", viewID, v.user, user)
	}
	u, ok := s.users[user]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("slackemu: submit view %s: unknown user %s", viewID, user)
	}
	state, err := viewState(v.spec, values)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("slackemu: submit view %s: %w", viewID, err)
	}
	submitted := maps.Clone(v.spec)
	submitted["state"] = obj{"values": state}
	payload, _ := json.Marshal(obj{
		"type":                  "view_submission",
		"team":                  obj{"id": s.cfg.TeamID, "domain": s.cfg.TeamDomain},
		"user":                  obj{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.cfg.TeamID},
		"api_app_id":            s.cfg.AppID,
		"token":                 verificationToken,
		"trigger_id":            s.newTriggerLocked(user, ""),
		"view":                  submitted,
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
	d := &delivery{kind: "interactive", payload: payload, accepts: true}
	d.onAck = func(e *envelope, ack json.RawMessage) { s.viewAckedLocked(v, e, ack) }
	e := s.newDeliveryLocked(d)
	s.mu.Unlock()

	if err := s.waitAck(ctx, d); err != nil {
		return nil, fmt.Errorf("slackemu: submit view %s (envelope %s): %w", viewID, e.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(d.ack), nil
}

// viewAckedLocked applies the response_action of a view_submission ack.
func (s *Server) viewAckedLocked(v *view, e *envelope, ack json.RawMessage) {
	if e.acked.Sub(e.sent) > slackAckDeadline {
		return // Slack shows the user an error and leaves the view open
	}
	var resp struct {
		ResponseAction string `json:"response_action"`
		View           obj    `json:"view"`
	}
	_ = json.Unmarshal(ack, &resp)
	switch resp.ResponseAction {
	case "errors":
	case "update", "push":
		if resp.View != nil {
			v.spec = s.viewObject(v.id, resp.View)
		}
	default:
		v.open = false
	}
}

// viewState builds view.state.values for the view's input blocks.
func viewState(spec obj, values map[string]map[string]string) (obj, error) {
	blocks, _ := spec["blocks"].([]any)
	state := obj{}
	used := map[string]bool{}
	for i, b := range blocks {
		bm, _ := b.(map[string]any)
		if bm == nil || bm["type"] != "input" {
			continue
		}
		blockID, _ := bm["block_id"].(string)
		if blockID == "" {
			blockID = "block" + strconv.Itoa(i)
		}
		el, _ := bm["element"].(map[string]any)
		actionID, _ := el["action_id"].(string)
		if actionID == "" {
			actionID = "action" + strconv.Itoa(i)
		}
		typ, _ := el["type"].(string)
		val, given := values[blockID][actionID]
		used[blockID+"\x00"+actionID] = given
		optional, _ := bm["optional"].(bool)
		if (!given || val == "") && !optional {
			return nil, fmt.Errorf("required input %s/%s is empty", blockID, actionID)
		}
		st, err := elementState(typ, el, val, given && val != "")
		if err != nil {
			return nil, fmt.Errorf("input %s/%s: %w", blockID, actionID, err)
		}
		state[blockID] = obj{actionID: st}
	}
	for blockID, actions := range values {
		for actionID := range actions {
			if _, ok := used[blockID+"\x00"+actionID]; !ok {
				return nil, fmt.Errorf("the view has no input %s/%s", blockID, actionID)
			}
		}
	}
	return state, nil
}

// elementState is the state of one input element.
func elementState(typ string, el map[string]any, val string, given bool) (obj, error) {
	st := obj{"type": typ}
	var v any
	if given {
		v = val
	}
	switch typ {
	case "static_select", "radio_buttons":
		if !given {
			st["selected_option"] = nil
			return st, nil
		}
		opt := findOption(el, val)
		if opt == nil {
			return nil, fmt.Errorf("%q is not one of its options", val)
		}
		st["selected_option"] = opt
	case "users_select":
		st["selected_user"] = v
	case "conversations_select":
		st["selected_conversation"] = v
	case "channels_select":
		st["selected_channel"] = v
	case "datepicker":
		st["selected_date"] = v
	case "timepicker":
		st["selected_time"] = v
	default: // plain_text_input, number_input, email_text_input, url_text_input
		st["value"] = v
	}
	return st, nil
}

// findOption returns the option (or option group member) with that value.
func findOption(el map[string]any, val string) map[string]any {
	var opts []any
	if o, ok := el["options"].([]any); ok {
		opts = append(opts, o...)
	}
	if groups, ok := el["option_groups"].([]any); ok {
		for _, g := range groups {
			if gm, ok := g.(map[string]any); ok {
				if o, ok := gm["options"].([]any); ok {
					opts = append(opts, o...)
				}
			}
		}
	}
	for _, o := range opts {
		if om, ok := o.(map[string]any); ok && om["value"] == val {
			return obj{"text": om["text"], "value": val}
		}
	}
	return nil
}
