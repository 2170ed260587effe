package slackemu

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call is one recorded request to the emulator: a Web API method, or one of
// the pseudo-methods "upload" (a POST to an upload_url) and "response_url"
// (a POST to a slash command's response_url).
type Call struct {
	Method string
	// Params holds the arguments, from the query, a form body or the top
	// level of a JSON body (non-string JSON values keep their JSON text).
	// The token argument is never recorded.
	Params url.Values
	// Body is the request body: the JSON as sent, or for form requests the
	// encoded Params (without the token).
	Body []byte
	// TokenType is "bot", "app", "unknown" (a token the emulator does not
	// know) or "" (no token).
	TokenType string
	Status    int    // HTTP status of the response
	Error     string // Slack error code ("" when ok)
	Time      time.Time
}

// fault is one injected failure (FailNext).
type fault struct {
	status     int
	retryAfter time.Duration
}

// apiRequest is a parsed Web API request.
type apiRequest struct {
	method    string
	params    url.Values
	body      []byte
	isJSON    bool
	charset   bool
	token     string
	tokenType string
}

// apiError is an error answer: {"ok":false,"error":code, ...extra}.
type apiError struct {
	code  string
	extra obj
}

func errCode(code string) *apiError { return &apiError{code: code} }

// apiHandler handles one method with s.mu held.
type apiHandler func(req *apiRequest) (obj, *apiError)

// route returns the handler of a Web API method and the token type it needs.
func (s *Server) route(method string) (apiHandler, string, bool) {
	switch method {
	case "auth.test":
		return s.apiAuthTest, "bot", true
	case "apps.connections.open":
		return s.apiConnectionsOpen, "app", true
	case "conversations.create":
		return s.apiConversationsCreate, "bot", true
	case "conversations.invite":
		return s.apiConversationsInvite, "bot", true
	case "conversations.join":
		return s.apiConversationsJoin, "bot", true
	case "conversations.info":
		return s.apiConversationsInfo, "bot", true
	case "conversations.members":
		return s.apiConversationsMembers, "bot", true
	case "conversations.list":
		return s.apiConversationsList, "bot", true
	case "conversations.open":
		return s.apiConversationsOpen, "bot", true
	case "conversations.history":
		return s.apiConversationsHistory, "bot", true
	case "conversations.replies":
		return s.apiConversationsReplies, "bot", true
	case "users.info":
		return s.apiUsersInfo, "bot", true
	case "users.lookupByEmail":
		return s.apiUsersLookupByEmail, "bot", true
	case "chat.postMessage":
		return s.apiChatPostMessage, "bot", true
	case "chat.postEphemeral":
		return s.apiChatPostEphemeral, "bot", true
	case "chat.update":
		return s.apiChatUpdate, "bot", true
	case "chat.delete":
		return s.apiChatDelete, "bot", true
	case "chat.getPermalink":
		return s.apiChatGetPermalink, "bot", true
	case "pins.add":
		return s.apiPinsAdd, "bot", true
	case "pins.remove":
		return s.apiPinsRemove, "bot", true
	case "pins.list":
		return s.apiPinsList, "bot", true
	case "reactions.add":
		return s.apiReactionsAdd, "bot", true
	case "views.open":
		return s.apiViewsOpen, "bot", true
	case "views.push":
		return s.apiViewsPush, "bot", true
	case "views.update":
		return s.apiViewsUpdate, "bot", true
	case "views.publish":
		return s.apiViewsPublish, "bot", true
	case "files.getUploadURLExternal":
		return s.apiFilesGetUploadURLExternal, "bot", true
	case "files.completeUploadExternal":
		return s.apiFilesCompleteUploadExternal, "bot", true
	}
	return nil, "", false
}

// serveAPI answers https://slack.com/api/METHOD requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	req, perr := s.parseAPIRequest(r, method)
	if perr != nil {
		s.writeAPI(w, req, http.StatusOK, nil, perr)
		return
	}
	s.mu.Lock()
	s.pending[req] = time.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, req)
		s.mu.Unlock()
	}()
	if !s.wait(method) {
		return
	}
	if f, ok := s.takeFault(method); ok {
		s.writeFault(w, req, f)
		return
	}
	if f, ok := s.takeChannelFault(req); ok {
		s.writeFault(w, req, f)
		return
	}
	h, need, ok := s.route(method)
	if !ok {
		s.writeAPI(w, req, http.StatusOK, nil, &apiError{code: "unknown_method", extra: obj{"req_method": method}})
		return
	}
	switch {
	case req.token == "":
		s.writeAPI(w, req, http.StatusOK, nil, errCode("not_authed"))
		return
	case req.tokenType == "unknown":
		s.writeAPI(w, req, http.StatusOK, nil, errCode("invalid_auth"))
		return
	case req.tokenType != need:
		s.writeAPI(w, req, http.StatusOK, nil, errCode("not_allowed_token_type"))
		return
	}
	if code := s.tokenError(req.tokenType); code != "" {
		s.writeAPI(w, req, http.StatusOK, nil, errCode(code))
		return
	}
	if wait, limited := s.takeLimit(method); limited {
		s.writeFault(w, req, fault{status: http.StatusTooManyRequests, retryAfter: wait})
		return
	}
	s.mu.Lock()
	resp, aerr := h(req)
	s.mu.Unlock()
	s.writeAPI(w, req, http.StatusOK, resp, aerr)
}

// parseAPIRequest reads the arguments and the token the way Slack does: GET
// query strings and form bodies (urlencoded or multipart) with the token as an
// argument or a Bearer header, and JSON bodies with the token only in the
// Authorization header.
func (s *Server) parseAPIRequest(r *http.Request, method string) (*apiRequest, *apiError) {
	req := &apiRequest{method: method, params: url.Values{}}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		req.token = strings.TrimSpace(auth)
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	_, req.charset = ctParams["charset"]
	var perr *apiError
	switch {
	case r.Method == http.MethodGet:
		req.params = r.URL.Query()
	case ct == "application/json":
		req.isJSON = true
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			perr = errCode("invalid_json")
			break
		}
		req.body = body
		if len(bytes.TrimSpace(body)) == 0 {
			break // apps.connections.open is posted with an empty JSON body
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			perr = errCode("invalid_json")
			break
		}
		for k, v := range top {
			if val, ok := flattenJSON(v); ok {
				req.params.Set(k, val)
			}
		}
		if _, ok := top["token"]; ok {
			// Slack ignores a token in a JSON body; keep it out of the record.
			delete(top, "token")
			req.body, _ = json.Marshal(top)
			req.params.Del("token")
		}
	case ct == "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			perr = errCode("invalid_form_data")
			break
		}
		req.params = url.Values(r.MultipartForm.Value)
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			perr = errCode("invalid_form_data")
			break
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			perr = errCode("invalid_form_data")
			break
		}
		req.params = v
	}
	if r.Method != http.MethodGet {
		for k, v := range r.URL.Query() {
			if k != "token" && !req.params.Has(k) {
				req.params[k] = v
			}
		}
	}
	if req.token == "" && !req.isJSON && r.Method != http.MethodGet {
		req.token = req.params.Get("token")
	}
	req.params.Del("token")
	if !req.isJSON {
		req.body = []byte(req.params.Encode())
	}
	switch req.token {
	case "":
	case s.cfg.BotToken:
		req.tokenType = "bot"
	case s.cfg.AppToken:
		req.tokenType = "app"
	default:
		req.tokenType = "unknown"
	}
	return req, perr
}

// flattenJSON turns a top-level JSON argument into the string Slack would
// have received as a form field: strings as they are, anything else as its
// JSON text. null is treated as absent.
func flattenJSON(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return "", false
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str, true
	}
	return string(raw), true
}

// wait applies SetLatency; it reports false if the server closed first. A
// client that goes away meanwhile (it timed out, or its process died) does
// not stop the request: Slack carries out a request it received whether or
// not anyone reads the answer, so a post is made all the same.
func (s *Server) wait(method string) bool {
	s.mu.Lock()
	d, ok := s.latency[method]
	if !ok {
		d = s.latency["*"]
	}
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// takeFault pops the next injected failure for method (or for "*").
func (s *Server) takeFault(method string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{method, "*"} {
		if fs := s.faults[key]; len(fs) > 0 {
			s.faults[key] = fs[1:]
			return fs[0], true
		}
	}
	return fault{}, false
}

// writeFault answers with an injected failure: 429 with Retry-After and
// {"ok":false,"error":"ratelimited"} as Slack does, 5xx with an HTML body.
func (s *Server) writeFault(w http.ResponseWriter, req *apiRequest, f fault) {
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(f.status), " ", "_"))
	switch {
	case f.status == http.StatusTooManyRequests:
		secs := int(math.Ceil(f.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		code = "ratelimited"
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
	case f.status >= 500:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, "<html><body><h1>"+strconv.Itoa(f.status)+" "+http.StatusText(f.status)+"</h1></body></html>")
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.status)
		b, _ := json.Marshal(obj{"ok": false, "error": code})
		_, _ = w.Write(b)
	}
	s.record(req, f.status, code)
}

// writeAPI writes a Web API answer and records the call.
func (s *Server) writeAPI(w http.ResponseWriter, req *apiRequest, status int, resp obj, aerr *apiError) {
	out := obj{}
	if aerr != nil {
		out["ok"] = false
		out["error"] = aerr.code
		for k, v := range aerr.extra {
			out[k] = v
		}
	} else {
		for k, v := range resp {
			out[k] = v
		}
		out["ok"] = true
	}
	if req.isJSON && !req.charset {
		// Slack answers JSON posted without a charset with a warning.
		if w, _ := out["warning"].(string); w != "" {
			out["warning"] = w + ",missing_charset"
		} else {
			out["warning"] = "missing_charset"
		}
		md, _ := out["response_metadata"].(obj)
		if md == nil {
			md = obj{}
		}
		ws, _ := md["warnings"].([]string)
		md["warnings"] = append(ws, "missing_charset")
		out["response_metadata"] = md
	}
	b, err := json.Marshal(out)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"ok":false,"error":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	code := ""
	if aerr != nil {
		code = aerr.code
	}
	s.record(req, status, code)
}

// record appends a Call and logs it (method, status and error code only).
func (s *Server) record(req *apiRequest, status int, code string) {
	c := Call{
		Method:    req.method,
		Params:    req.params,
		Body:      req.body,
		TokenType: req.tokenType,
		Status:    status,
		Error:     code,
		Time:      time.Now(),
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if code != "" {
		s.logf("%s -> %d %s", req.method, status, code)
	} else {
		s.logf("%s -> %d ok", req.method, status)
	}
}

// Pending returns the Web API calls of a method ("" for any) that the
// emulator has received and not answered yet, oldest first: those held by
// SetLatency, typically. Time is when each was received; Status is 0.
func (s *Server) Pending(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for req, at := range s.pending {
		if method == "" || req.method == method {
			out = append(out, Call{Method: req.method, Params: cloneValues(req.params), Body: slices.Clone(req.body),
				TokenType: req.tokenType, Time: at})
		}
	}
	slices.SortFunc(out, func(a, b Call) int { return a.Time.Compare(b.Time) })
	return out
}

// Calls returns the recorded calls of a method, oldest first; "" returns
// every call.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = cloneValues(c.Params)
			c.Body = slices.Clone(c.Body)
			out = append(out, c)
		}
	}
	return out
}

// FailNext makes the next n calls of method ("*" for any method, or the
// pseudo-methods "upload" and "response_url") fail with the HTTP status
// instead of being handled: 429 carries a Retry-After header of retryAfter
// rounded up to whole seconds and {"ok":false,"error":"ratelimited"}, 5xx an
// HTML body as Slack's edge sends. Failures for a method are used before "*"
// failures.
func (s *Server) FailNext(method string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], fault{status: status, retryAfter: retryAfter})
	}
}

// SetLatency delays every later call of method ("*" for any method without a
// latency of its own) by d before it is handled. d <= 0 removes the delay.
// A call is handled after its delay even when its client has gone away
// meanwhile (timed out, or killed), as Slack handles a request it received;
// Pending lists the calls waiting out their delay.
func (s *Server) SetLatency(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, method)
		return
	}
	s.latency[method] = d
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// boolParam reads a boolean argument ("true", "1").
func boolParam(v url.Values, key string) bool {
	switch strings.ToLower(v.Get(key)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// apiAuthTest answers auth.test.
func (s *Server) apiAuthTest(*apiRequest) (obj, *apiError) {
	return obj{
		"url":                   "https://" + s.cfg.TeamDomain + ".slack.com/",
		"team":                  s.cfg.TeamDomain,
		"user":                  s.cfg.BotName,
		"team_id":               s.cfg.TeamID,
		"user_id":               s.botUser,
		"bot_id":                s.botID,
		"is_enterprise_install": false,
	}, nil
}
