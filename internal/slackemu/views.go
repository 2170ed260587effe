package slackemu

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxViewStack is how many views a modal may hold: the root and two pushed
// views, as Slack allows.
const maxViewStack = 3

// View is a modal view (opened with views.open or views.push, or pushed by
// a response_action) or a Home tab (published with views.publish).
type View struct {
	ID              string
	Type            string // "modal" or "home"
	TriggerID       string // the trigger that opened or pushed it; "" for a Home tab
	User            string // whose trigger opened it; the user whose Home tab it is
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string // changes on every update
	RootViewID      string // the first view of its modal (itself for a root or a Home tab)
	PreviousViewID  string // the view under it in its modal's stack; "" for a root
	Open            bool   // false once submitted and closed (always true for a Home tab)
	// Raw is the view object as Slack last returned it (views.open,
	// views.push, views.update, views.publish, or response_action
	// "update"/"push").
	Raw json.RawMessage
}

type view struct {
	id, triggerID, user string
	kind                string // "modal" or "home"
	root, prev          string
	open                bool
	spec                obj // the view object as Slack returns it
}

func (v *view) export() View {
	raw, _ := json.Marshal(v.spec)
	str := func(k string) string { s, _ := v.spec[k].(string); return s }
	return View{
		ID:              v.id,
		Type:            v.kind,
		TriggerID:       v.triggerID,
		User:            v.user,
		CallbackID:      str("callback_id"),
		PrivateMetadata: str("private_metadata"),
		ExternalID:      str("external_id"),
		Hash:            str("hash"),
		RootViewID:      v.root,
		PreviousViewID:  v.prev,
		Open:            v.open,
		Raw:             raw,
	}
}

// trigger is a trigger_id handed to the app with a slash command or an
// interaction; it opens (or pushes) one view, within TriggerTTL.
type trigger struct {
	user, channel string
	view          string // the modal view the interaction came from, if any
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

// Views returns the modal views (opened with views.open or views.push, or
// pushed by a response_action), oldest first. Home tabs are read with
// HomeView.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, id := range s.viewOrder {
		out = append(out, s.views[id].export())
	}
	return out
}

// View returns the view (modal or Home tab) with that id.
func (s *Server) View(id string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.viewLocked(id); v != nil {
		return v.export(), true
	}
	return View{}, false
}

// HomeView returns the Home tab the app last published for user with
// views.publish, and false when it has published none.
func (s *Server) HomeView(user string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.homes[user]; ok {
		return v.export(), true
	}
	return View{}, false
}

// viewLocked finds a modal view or a Home tab by id.
func (s *Server) viewLocked(id string) *view {
	if v, ok := s.views[id]; ok {
		return v
	}
	for _, v := range s.homes {
		if v.id == id {
			return v
		}
	}
	return nil
}

// stackLocked returns the open views of the modal whose root is root,
// bottom first.
func (s *Server) stackLocked(root string) []*view {
	var out []*view
	for _, id := range s.viewOrder {
		if v := s.views[id]; v.root == root && v.open {
			out = append(out, v)
		}
	}
	return out
}

// topLocked returns the view the user sees in the modal whose root is
// root, or nil when the modal is closed.
func (s *Server) topLocked(root string) *view {
	st := s.stackLocked(root)
	if len(st) == 0 {
		return nil
	}
	return st[len(st)-1]
}

// invalidArgs is Slack's invalid_arguments answer with its messages.
func invalidArgs(msg string) *apiError {
	return &apiError{code: "invalid_arguments", extra: obj{"response_metadata": obj{"messages": []string{msg}}}}
}

// triggerLocked checks a trigger_id argument: it works once, within
// TriggerTTL.
func (s *Server) triggerLocked(tid string) (*trigger, *apiError) {
	if tid == "" {
		return nil, invalidArgs("[ERROR] missing required field: trigger_id")
	}
	t, ok := s.triggers[tid]
	switch {
	case !ok:
		return nil, errCode("invalid_trigger_id")
	case t.used:
		return nil, errCode("exchanged_trigger_id")
	case s.cfg.TriggerTTL > 0 && time.Since(t.created) > s.cfg.TriggerTTL:
		return nil, errCode("expired_trigger_id")
	}
	return t, nil
}

// viewParam reads and checks the view argument of a views.* method.
func viewParam(req *apiRequest, kind string) (obj, *apiError) {
	var spec obj
	if err := json.Unmarshal([]byte(req.params.Get("view")), &spec); err != nil || spec == nil {
		return nil, invalidArgs("[ERROR] missing required field: view")
	}
	if msg := validateView(spec, kind); msg != "" {
		return nil, invalidArgs(msg)
	}
	return spec, nil
}

// checkExternalIDLocked answers duplicate_external_id when spec's
// external_id belongs to a view other than self.
func (s *Server) checkExternalIDLocked(spec obj, self string) *apiError {
	ext, _ := spec["external_id"].(string)
	if ext == "" {
		return nil
	}
	if id, ok := s.externalIDs[ext]; ok && id != self {
		return errCode("duplicate_external_id")
	}
	return nil
}

// setSpecLocked stores a new view object for v and indexes its external_id.
func (s *Server) setSpecLocked(v *view, spec obj) {
	if old, _ := v.spec["external_id"].(string); old != "" {
		delete(s.externalIDs, old)
	}
	v.spec = s.viewObject(v, spec)
	if ext, _ := spec["external_id"].(string); ext != "" {
		s.externalIDs[ext] = v.id
	}
}

// addModalLocked stores a new modal view (a root when parent is nil).
func (s *Server) addModalLocked(spec obj, triggerID, user string, parent *view) *view {
	v := &view{id: s.newIDLocked("V"), triggerID: triggerID, user: user, kind: "modal", open: true}
	v.root = v.id
	if parent != nil {
		v.root, v.prev = parent.root, parent.id
	}
	s.setSpecLocked(v, spec)
	s.views[v.id] = v
	s.viewOrder = append(s.viewOrder, v.id)
	return v
}

// noteViewLocked logs a view shown to its user.
func (s *Server) noteViewLocked(v *view, channel string) {
	title, _ := v.spec["title"].(map[string]any)
	text, _ := title["text"].(string)
	name := ""
	if c, ok := s.channels[channel]; ok {
		name = c.name
	}
	s.noteLocked(Activity{Kind: "view", Channel: channel, Name: name, User: s.botUser, To: v.user, Text: text})
}

// apiViewsOpen answers views.open: a trigger id works once, within
// TriggerTTL; the view must be a valid modal.
func (s *Server) apiViewsOpen(req *apiRequest) (obj, *apiError) {
	t, aerr := s.triggerLocked(req.params.Get("trigger_id"))
	if aerr != nil {
		if aerr.code == "exchanged_trigger_id" {
			aerr = errCode("invalid_trigger_id") // what views.open answers for a used trigger
		}
		return nil, aerr
	}
	spec, aerr := viewParam(req, "modal")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkExternalIDLocked(spec, ""); aerr != nil {
		return nil, aerr
	}
	t.used = true
	v := s.addModalLocked(spec, req.params.Get("trigger_id"), t.user, nil)
	s.noteViewLocked(v, t.channel)
	return obj{"view": v.spec}, nil
}

// apiViewsPush answers views.push: the trigger must come from an
// interaction within an open modal (a view_submission), works once within
// TriggerTTL, and a modal holds at most 3 views (push_limit_reached).
func (s *Server) apiViewsPush(req *apiRequest) (obj, *apiError) {
	tid := req.params.Get("trigger_id")
	if tid == "" {
		tid = req.params.Get("interactivity_pointer")
	}
	t, aerr := s.triggerLocked(tid)
	if aerr != nil {
		return nil, aerr
	}
	spec, aerr := viewParam(req, "modal")
	if aerr != nil {
		return nil, aerr
	}
	parent, ok := s.views[t.view]
	if !ok || !parent.open {
		return nil, errCode("not_found")
	}
	if len(s.stackLocked(parent.root)) >= maxViewStack {
		return nil, errCode("push_limit_reached")
	}
	if aerr := s.checkExternalIDLocked(spec, ""); aerr != nil {
		return nil, aerr
	}
	t.used = true
	v := s.addModalLocked(spec, tid, t.user, s.topLocked(parent.root))
	s.noteViewLocked(v, t.channel)
	return obj{"view": v.spec}, nil
}

// apiViewsUpdate answers views.update: exactly one of view_id and
// external_id names an open view (not_found otherwise); a hash that is not
// the view's current one answers hash_conflict; the new view must be valid
// and of the same type.
func (s *Server) apiViewsUpdate(req *apiRequest) (obj, *apiError) {
	id, ext := req.params.Get("view_id"), req.params.Get("external_id")
	if (id == "") == (ext == "") {
		return nil, invalidArgs("[ERROR] exactly one of view_id and external_id is required")
	}
	if ext != "" {
		var ok bool
		if id, ok = s.externalIDs[ext]; !ok {
			return nil, errCode("not_found")
		}
	}
	v := s.viewLocked(id)
	if v == nil || !v.open {
		return nil, errCode("not_found")
	}
	if h := req.params.Get("hash"); h != "" && h != v.spec["hash"] {
		return nil, errCode("hash_conflict")
	}
	spec, aerr := viewParam(req, v.kind)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkExternalIDLocked(spec, v.id); aerr != nil {
		return nil, aerr
	}
	s.setSpecLocked(v, spec)
	return obj{"view": v.spec}, nil
}

// apiViewsPublish answers views.publish: the Home tab of user_id (an
// existing human user) becomes the view, which must be a valid home view;
// a hash that is not the current tab's answers hash_conflict. The tab keeps
// its view id across publications.
func (s *Server) apiViewsPublish(req *apiRequest) (obj, *apiError) {
	uid := req.params.Get("user_id")
	if u, ok := s.users[uid]; !ok || u.ID == s.botUser {
		return nil, invalidArgs("invalid `user_id`")
	}
	spec, aerr := viewParam(req, "home")
	if aerr != nil {
		return nil, aerr
	}
	v, ok := s.homes[uid]
	if h := req.params.Get("hash"); h != "" && (!ok || h != v.spec["hash"]) {
		return nil, errCode("hash_conflict")
	}
	self := ""
	if ok {
		self = v.id
	}
	if aerr := s.checkExternalIDLocked(spec, self); aerr != nil {
		return nil, aerr
	}
	if !ok {
		v = &view{id: s.newIDLocked("V"), user: uid, kind: "home", open: true}
		v.root = v.id
		s.homes[uid] = v
	}
	s.setSpecLocked(v, spec)
	return obj{"view": v.spec}, nil
}

// viewObject is Slack's view object for a view spec stored as v.
func (s *Server) viewObject(v *view, spec obj) obj {
	out := maps.Clone(spec)
	def := func(k string, val any) {
		if _, ok := out[k]; !ok {
			out[k] = val
		}
	}
	out["id"] = v.id
	out["team_id"] = s.cfg.TeamID
	out["state"] = obj{"values": obj{}}
	s.seq++
	out["hash"] = fmt.Sprintf("%d.%s%04x", time.Now().Unix(), randHex(4), s.seq&0xffff)
	out["root_view_id"] = v.root
	if v.prev != "" {
		out["previous_view_id"] = v.prev
	} else {
		out["previous_view_id"] = nil
	}
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

// validateView applies Slack's main checks on a view of the given type
// ("modal" or "home") and returns Slack's error message, or "".
func validateView(spec obj, kind string) string {
	if spec["type"] != kind {
		return "[ERROR] must be one of the following: " + kind + " [json-pointer:/view/type]"
	}
	if kind == "modal" {
		return validateModal(spec)
	}
	return validateCommon(spec)
}

// validateCommon applies the checks every view type shares.
func validateCommon(spec obj) string {
	if cb, _ := spec["callback_id"].(string); len(cb) > 255 {
		return "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]"
	}
	if ext, _ := spec["external_id"].(string); len(ext) > 255 {
		return "[ERROR] must be less than 256 characters [json-pointer:/view/external_id]"
	}
	if pm, _ := spec["private_metadata"].(string); len(pm) > 3000 {
		return "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
	}
	blocks, ok := spec["blocks"].([]any)
	if !ok {
		return "[ERROR] missing required field: blocks [json-pointer:/view]"
	}
	raw, _ := json.Marshal(blocks)
	return validateBlocks(raw, 100, "/view/blocks")
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
	if msg := validateCommon(spec); msg != "" {
		return msg
	}
	hasInput := false
	for _, b := range spec["blocks"].([]any) {
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
// button does, and returns the acknowledgement's payload (nil when the app
// acknowledged without one). It is SubmitForm without the details; see
// SubmitForm for the values, what the acknowledgement does and how it fails.
func (s *Server) SubmitView(ctx context.Context, user, viewID string, values map[string]map[string]string) (json.RawMessage, error) {
	res, err := s.SubmitForm(ctx, user, viewID, values)
	return res.Ack, err
}

// SubmitForm submits view viewID as user, as clicking the modal's submit
// button does: it sends a view_submission interactive envelope whose
// view.state.values holds values (block_id → action_id → value), waits for
// the acknowledgement and returns what happened. Each value is what the
// user entered or picked, in the shape of its element:
//
//   - plain_text_input, number_input, email_text_input, url_text_input: the
//     text ("value"; min_length and max_length apply);
//   - static_select, radio_buttons: an option's value ("selected_option");
//   - users_select: a user id ("selected_user"); conversations_select,
//     channels_select: a conversation id;
//   - datepicker: "YYYY-MM-DD" ("selected_date"); timepicker: "HH:MM";
//   - checkboxes, multi_static_select: option values separated by commas
//     ("selected_options"); multi_users_select: user ids separated by commas
//     ("selected_users").
//
// An input left out (or "") is empty. The acknowledgement's
// response_action applies as in Slack: "errors" keeps the view open and
// the result carries the errors by block_id; "update" replaces the view;
// "push" stacks a new view on it (at most 3 views in a modal); "clear"
// closes the whole modal; no response_action closes this view, showing
// the one under it, if any. An acknowledgement later than Slack's 3 s is
// discarded (TimedOut; the view stays open, as Slack shows the user an
// error).
//
// It fails without sending anything if the view is unknown, closed, not
// user's or not the top of its modal, if values names a block or action
// the view does not have, if a value does not fit its element (not an
// option, an unknown user, a malformed date), or if a required input is
// empty (the Slack client would not submit); it fails when ctx ends or the
// server closes before the acknowledgement; and it fails, with the result
// filled in, when Slack would reject the acknowledgement (errors naming no
// input block, an invalid view to update or push, a full stack, an unknown
// response_action).
func (s *Server) SubmitForm(ctx context.Context, user, viewID string, values map[string]map[string]string) (InteractionResult, error) {
	s.mu.Lock()
	v, ok := s.views[viewID]
	fail := func(format string, args ...any) (InteractionResult, error) {
		s.mu.Unlock()
		return InteractionResult{}, fmt.Errorf("slackemu: submit view %s: "+format, append([]any{viewID}, args...)...)
	}
	switch {
	case !ok:
		return fail("no such view")
	case !v.open:
		return fail("view is closed")
	case v.user != user:
		return fail("view belongs to %s, not %s", v.user, user)
	case s.topLocked(v.root) != v:
		return fail("view is not the top of its modal")
	}
	u, ok := s.users[user]
	if !ok {
		return fail("unknown user %s", user)
	}
	state, err := s.viewStateLocked(v.spec, values)
	if err != nil {
		return fail("%w", err)
	}
	submitted := maps.Clone(v.spec)
	submitted["state"] = obj{"values": state}
	res := InteractionResult{TriggerID: s.newTriggerLocked(user, "")}
	s.triggers[res.TriggerID].view = v.id
	payload, _ := json.Marshal(obj{
		"type":                  "view_submission",
		"team":                  obj{"id": s.cfg.TeamID, "domain": s.cfg.TeamDomain},
		"user":                  s.interactionUser(u),
		"api_app_id":            s.cfg.AppID,
		"token":                 verificationToken,
		"trigger_id":            res.TriggerID,
		"view":                  submitted,
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
	out := &viewOutcome{}
	d := &delivery{kind: "interactive", payload: payload, accepts: true}
	d.onAck = func(e *envelope, ack json.RawMessage) { s.viewAckedLocked(v, e, ack, out) }
	e := s.newDeliveryLocked(d)
	res.EnvelopeID = e.id
	s.mu.Unlock()

	if err := s.waitAck(ctx, d); err != nil {
		return res, fmt.Errorf("slackemu: submit view %s (envelope %s): %w", viewID, e.id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fillAckLocked(&res, d)
	res.ResponseAction, res.Errors = out.action, out.errors
	if top := s.topLocked(v.root); top != nil {
		shown := top.export()
		res.Shown = &shown
	}
	if out.problem != "" {
		return res, fmt.Errorf("slackemu: submit view %s: Slack would reject the acknowledgement: %s", viewID, out.problem)
	}
	return res, nil
}

// viewOutcome is what a view_submission acknowledgement did.
type viewOutcome struct {
	action  string
	errors  map[string]string
	problem string // why Slack would reject the acknowledgement, or ""
}

// viewAckedLocked applies the response_action of a view_submission ack.
func (s *Server) viewAckedLocked(v *view, e *envelope, ack json.RawMessage, out *viewOutcome) {
	if e.acked.Sub(e.sent) > slackAckDeadline {
		return // Slack shows the user an error and leaves the view open
	}
	var resp struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
		View           obj               `json:"view"`
	}
	if len(ack) > 0 && json.Unmarshal(ack, &resp) != nil {
		out.problem = "the payload is not a JSON object"
		return
	}
	out.action, out.errors = resp.ResponseAction, resp.Errors
	switch resp.ResponseAction {
	case "":
		v.open = false
	case "errors":
		if len(resp.Errors) == 0 {
			out.problem = `response_action "errors" without errors`
		}
		inputs := inputBlockIDs(v.spec)
		for id := range resp.Errors {
			if !slices.Contains(inputs, id) {
				out.problem = fmt.Sprintf("errors names %q, which is not an input block of the view (it has %s)", id, strings.Join(inputs, ", "))
			}
		}
	case "update", "push":
		if resp.View == nil {
			out.problem = `response_action "` + resp.ResponseAction + `" without a view`
			return
		}
		if msg := validateModal(resp.View); msg != "" {
			out.problem = "invalid view: " + msg
			return
		}
		self := ""
		if resp.ResponseAction == "update" {
			self = v.id
		}
		if s.checkExternalIDLocked(resp.View, self) != nil {
			out.problem = "duplicate_external_id"
			return
		}
		if resp.ResponseAction == "update" {
			s.setSpecLocked(v, resp.View)
			return
		}
		if len(s.stackLocked(v.root)) >= maxViewStack {
			out.problem = "push_limit_reached"
			return
		}
		s.noteViewLocked(s.addModalLocked(resp.View, "", v.user, v), "")
	case "clear":
		for _, w := range s.stackLocked(v.root) {
			w.open = false
		}
	default:
		out.problem = fmt.Sprintf("unknown response_action %q", resp.ResponseAction)
	}
}

// inputBlockIDs returns the block ids of a view's input blocks.
func inputBlockIDs(spec obj) []string {
	var ids []string
	blocks, _ := spec["blocks"].([]any)
	for i, b := range blocks {
		if bm, _ := b.(map[string]any); bm != nil && bm["type"] == "input" {
			ids = append(ids, blockIDOf(bm, i))
		}
	}
	return ids
}

// blockIDOf is a block's block_id, or the one the emulator gives a block
// without one.
func blockIDOf(b map[string]any, i int) string {
	if id, _ := b["block_id"].(string); id != "" {
		return id
	}
	return "block" + strconv.Itoa(i)
}

// viewStateLocked builds view.state.values for the view's input blocks.
func (s *Server) viewStateLocked(spec obj, values map[string]map[string]string) (obj, error) {
	blocks, _ := spec["blocks"].([]any)
	state := obj{}
	used := map[string]bool{}
	for i, b := range blocks {
		bm, _ := b.(map[string]any)
		if bm == nil || bm["type"] != "input" {
			continue
		}
		blockID := blockIDOf(bm, i)
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
		st, err := s.elementStateLocked(typ, el, val)
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

// elementStateLocked is the state of one input element holding val ("" for
// empty).
func (s *Server) elementStateLocked(typ string, el map[string]any, val string) (obj, error) {
	st := obj{"type": typ}
	var v any
	if val != "" {
		v = val
	}
	var list []string
	if val != "" {
		list = strings.Split(val, ",")
	}
	switch typ {
	case "static_select", "radio_buttons":
		if val == "" {
			st["selected_option"] = nil
			return st, nil
		}
		opt := findOption(el, val)
		if opt == nil {
			return nil, fmt.Errorf("%q is not one of its options", val)
		}
		st["selected_option"] = opt
	case "checkboxes", "multi_static_select":
		opts := []obj{}
		for _, x := range list {
			opt := findOption(el, x)
			if opt == nil {
				return nil, fmt.Errorf("%q is not one of its options", x)
			}
			opts = append(opts, opt)
		}
		st["selected_options"] = opts
	case "users_select":
		if val != "" && s.users[val] == nil {
			return nil, fmt.Errorf("no user %q", val)
		}
		st["selected_user"] = v
	case "multi_users_select":
		for _, x := range list {
			if s.users[x] == nil {
				return nil, fmt.Errorf("no user %q", x)
			}
		}
		st["selected_users"] = append([]string{}, list...)
	case "conversations_select", "channels_select":
		if c, ok := s.channels[val]; val != "" && (!ok || c.deleted) {
			return nil, fmt.Errorf("no conversation %q", val)
		}
		k := map[string]string{"conversations_select": "selected_conversation", "channels_select": "selected_channel"}[typ]
		st[k] = v
	case "datepicker":
		if _, err := time.Parse("2006-01-02", val); val != "" && err != nil {
			return nil, fmt.Errorf("%q is not a date (YYYY-MM-DD)", val)
		}
		st["selected_date"] = v
	case "timepicker":
		if _, err := time.Parse("15:04", val); val != "" && err != nil {
			return nil, fmt.Errorf("%q is not a time (HH:MM)", val)
		}
		st["selected_time"] = v
	default: // plain_text_input, number_input, email_text_input, url_text_input
		n := utf8.RuneCountInString(val)
		if maxLen, ok := el["max_length"].(float64); ok && n > int(maxLen) {
			return nil, fmt.Errorf("%d characters, more than max_length %d", n, int(maxLen))
		}
		if minLen, ok := el["min_length"].(float64); ok && val != "" && n < int(minLen) {
			return nil, fmt.Errorf("%d characters, fewer than min_length %d", n, int(minLen))
		}
		st["value"] = v
	}
	return st, nil
}

// findOption returns the option (or option group member) with that value.
func findOption(el map[string]any, val string) obj {
	for _, om := range elementOptions(el) {
		if om["value"] == val {
			return obj{"text": om["text"], "value": val}
		}
	}
	return nil
}

// elementOptions returns an element's options, those in option groups
// included.
func elementOptions(el map[string]any) []map[string]any {
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
	var out []map[string]any
	for _, o := range opts {
		if om, ok := o.(map[string]any); ok {
			out = append(out, om)
		}
	}
	return out
}
