package jiraemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Issue is the state of one issue, as read back by tests.
type Issue struct {
	ID        string
	Key       string
	Project   string // key
	IssueType string
	Summary   string
	// Description is the description in Atlassian Document Format, as sent;
	// nil when there is none.
	Description json.RawMessage
	Labels      []string
	AssigneeID  string // "" when unassigned
	ReporterID  string
	DueDate     string // "2006-01-02", "" when none
	// Status is "To Do", "In Progress" or "Done".
	Status string
	// Resolution is "Done" while the issue is in Done, "" otherwise.
	Resolution     string
	Created        time.Time
	Updated        time.Time
	ResolutionDate time.Time // zero while unresolved
	// History is every change made after creation, oldest first.
	History []Change
}

// Change is one field change in an issue's history, as Jira's changelog
// records it.
type Change struct {
	AuthorID string // accountId of who made it
	At       time.Time
	Field    string // "status", "resolution", "assignee", "duedate", "summary", "labels", "description"
	// From and To are display values: status names, accountIds, dates.
	From, To string
}

// issue is the stored state of one issue.
type issue struct {
	Issue
	changeIDs []int // id of the history group of each History entry
}

// status is one workflow status.
type status struct {
	id, name string
	catID    int
	catKey   string
	catName  string
	catColor string
}

var (
	statusToDo       = status{"10000", "To Do", 2, "new", "To Do", "blue-gray"}
	statusInProgress = status{"3", "In Progress", 4, "indeterminate", "In Progress", "yellow"}
	statusDone       = status{"10001", "Done", 3, "done", "Done", "green"}
	statuses         = []status{statusToDo, statusInProgress, statusDone}
)

func statusNamed(name string) (status, bool) {
	for _, st := range statuses {
		if strings.EqualFold(st.name, name) || st.id == name {
			return st, true
		}
	}
	return status{}, false
}

// transition is one workflow transition.
type transition struct {
	id, name string
	from     string // status name
	to       status
}

// workflow is the emulator's one workflow, a classic Jira workflow: To Do →
// In Progress → Done, each step back, and Done → To Do ("Reopen").
var workflow = []transition{
	{"21", "Start Progress", "To Do", statusInProgress},
	{"31", "Done", "To Do", statusDone},
	{"11", "Stop Progress", "In Progress", statusToDo},
	{"31", "Done", "In Progress", statusDone},
	{"41", "Reopen", "Done", statusToDo},
}

func transitionsFrom(st string) []transition {
	var out []transition
	for _, t := range workflow {
		if t.from == st {
			out = append(out, t)
		}
	}
	return out
}

// TransitionAs moves issue key to the status named to ("To Do", "In
// Progress" or "Done") through the workflow, as the user accountID would in
// Jira: the change is in the issue's changelog with that author, and
// updated (and the resolution) change as they would. It fails when the
// issue or the user does not exist, or when the workflow has no transition
// from the current status to to.
func (s *Server) TransitionAs(key, to, accountID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.byKey[key]
	if is == nil {
		return fmt.Errorf("jiraemu: transition %s: no such issue", key)
	}
	if s.userLocked(accountID) == nil {
		return fmt.Errorf("jiraemu: transition %s: no user %q", key, accountID)
	}
	for _, t := range transitionsFrom(is.Status) {
		if strings.EqualFold(t.to.name, to) {
			s.applyTransitionLocked(is, t, accountID)
			return nil
		}
	}
	return fmt.Errorf("jiraemu: transition %s: no transition from %q to %q", key, is.Status, to)
}

// Issues returns a copy of every issue, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.issues))
	for i, is := range s.issues {
		out[i] = copyIssue(is.Issue)
	}
	return out
}

// Issue returns a copy of the issue with key (or id) key, and false when
// there is none.
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.byKey[key]
	if is == nil {
		return Issue{}, false
	}
	return copyIssue(is.Issue), true
}

func copyIssue(i Issue) Issue {
	i.Description = bytes.Clone(i.Description)
	i.Labels = slices.Clone(i.Labels)
	i.History = slices.Clone(i.History)
	return i
}

func (s *Server) nowMilli() time.Time { return s.now().Truncate(time.Millisecond) }

// recordLocked appends one history group (changes made together) by author.
func (s *Server) recordLocked(is *issue, author string, at time.Time, changes ...Change) {
	if len(changes) == 0 {
		return
	}
	s.nextChange++
	for _, c := range changes {
		c.AuthorID, c.At = author, at
		is.History = append(is.History, c)
		is.changeIDs = append(is.changeIDs, s.nextChange)
	}
	is.Updated = at
}

func (s *Server) applyTransitionLocked(is *issue, t transition, author string) {
	now := s.nowMilli()
	changes := []Change{{Field: "status", From: is.Status, To: t.to.name}}
	is.Status = t.to.name
	if t.to.catKey == "done" && is.Resolution == "" {
		changes = append(changes, Change{Field: "resolution", To: "Done"})
		is.Resolution, is.ResolutionDate = "Done", now
	} else if t.to.catKey != "done" && is.Resolution != "" {
		changes = append(changes, Change{Field: "resolution", From: is.Resolution})
		is.Resolution, is.ResolutionDate = "", time.Time{}
	}
	s.recordLocked(is, author, now, changes...)
}

// --- requests ----------------------------------------------------------------

// ref is {"key": …} / {"id": …} / {"name": …} / {"accountId": …}.
type ref struct {
	ID        string `json:"id"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	AccountID string `json:"accountId"`
}

// fieldValues are the fields of a create or edit request, each kept raw so
// that absent, null and wrong types can be told apart.
type fieldValues map[string]json.RawMessage

var settable = map[string]bool{"project": true, "summary": true, "issuetype": true, "description": true, "labels": true, "assignee": true, "duedate": true, "reporter": true}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// parsed is a validated set of field values.
type parsed struct {
	has         map[string]bool
	project     *project
	issueType   string
	summary     string
	description json.RawMessage
	labels      []string
	assignee    string
	duedate     string
}

// parseFieldsLocked validates fields as Jira does; the map is the "errors"
// of its 400 answer.
func (s *Server) parseFieldsLocked(fields fieldValues, create bool) (*parsed, map[string]string) {
	p := &parsed{has: map[string]bool{}}
	errs := map[string]string{}
	for name, raw := range fields {
		if !settable[name] || (!create && (name == "project" || name == "issuetype")) {
			errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
			continue
		}
		p.has[name] = true
		switch name {
		case "project":
			var r ref
			_ = json.Unmarshal(raw, &r)
			for _, pr := range s.projects {
				if (r.Key != "" && r.Key == pr.key) || (r.ID != "" && r.ID == pr.id) {
					p.project = pr
				}
			}
			if p.project == nil {
				errs["project"] = "valid project is required"
			}
		case "issuetype":
			var r ref
			_ = json.Unmarshal(raw, &r)
			for i, t := range s.issueTypes {
				if strings.EqualFold(r.Name, t) || r.ID == strconv.Itoa(10001+i) {
					p.issueType = t
				}
			}
			if p.issueType == "" {
				errs["issuetype"] = "Specify a valid issue type"
			}
		case "summary":
			if err := json.Unmarshal(raw, &p.summary); err != nil || strings.TrimSpace(p.summary) == "" {
				errs["summary"] = "You must specify a summary of the issue."
			} else if len([]rune(p.summary)) > 255 {
				errs["summary"] = "Summary must be less than 255 characters."
			}
		case "description":
			if isNull(raw) {
				break
			}
			var doc struct {
				Type    string            `json:"type"`
				Version int               `json:"version"`
				Content []json.RawMessage `json:"content"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil || doc.Type != "doc" || doc.Version != 1 || doc.Content == nil {
				errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
			} else {
				p.description = bytes.Clone(raw)
			}
		case "labels":
			if err := json.Unmarshal(raw, &p.labels); err != nil {
				errs["labels"] = "Operation value must be an array of strings"
			}
			for _, l := range p.labels {
				if strings.ContainsAny(l, " \t") || l == "" {
					errs["labels"] = fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
				}
			}
		case "assignee", "reporter":
			if isNull(raw) {
				if name == "reporter" {
					errs[name] = "Reporter is required."
				}
				break
			}
			var r ref
			if err := json.Unmarshal(raw, &r); err != nil || s.userLocked(r.AccountID) == nil {
				errs[name] = "Specified user does not exist or you do not have required permissions"
			} else if name == "assignee" {
				p.assignee = r.AccountID
			}
		case "duedate":
			if isNull(raw) {
				break
			}
			var d string
			if err := json.Unmarshal(raw, &d); err != nil {
				errs["duedate"] = "Operation value must be a string"
			} else if _, err := time.Parse("2006-01-02", d); err != nil {
				errs["duedate"] = "Error parsing date string: " + d
			} else {
				p.duedate = d
			}
		}
	}
	if create {
		if !p.has["project"] {
			errs["project"] = "Specify a valid project ID or key"
		}
		if !p.has["issuetype"] {
			errs["issuetype"] = "Specify an issue type"
		}
		if !p.has["summary"] {
			errs["summary"] = "You must specify a summary of the issue."
		}
	}
	return p, errs
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fields fieldValues `json:"fields"`
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, errs := s.parseFieldsLocked(req.Fields, true)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs)
		return
	}
	now := s.nowMilli()
	s.nextID++
	is := &issue{Issue: Issue{
		ID:          strconv.Itoa(s.nextID),
		Key:         fmt.Sprintf("%s-%d", p.project.key, p.project.next),
		Project:     p.project.key,
		IssueType:   p.issueType,
		Summary:     p.summary,
		Description: p.description,
		Labels:      p.labels,
		AssigneeID:  p.assignee,
		ReporterID:  s.self,
		DueDate:     p.duedate,
		Status:      statusToDo.name,
		Created:     now,
		Updated:     now,
	}}
	p.project.next++
	s.issues = append(s.issues, is)
	s.byKey[is.Key], s.byKey[is.ID] = is, is
	writeJSON(w, http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": s.url + "/rest/api/3/issue/" + is.ID})
}

// issueFromPathLocked finds the {key} path value (a key or an id), answering
// Jira's 404 when there is none.
func (s *Server) issueFromPathLocked(w http.ResponseWriter, r *http.Request) *issue {
	is := s.byKey[r.PathValue("key")]
	if is == nil {
		writeErrors(w, http.StatusNotFound, nil, "Issue does not exist or you do not have permission to see it.")
	}
	return is
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields := []string{"*all"}
	if v := q.Get("fields"); v != "" {
		fields = strings.Split(v, ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r)
	if is == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.issueJSONLocked(is, fields, strings.Contains(q.Get("expand"), "changelog")))
}

// editLocked applies validated field values as author and records them.
func (s *Server) editLocked(is *issue, p *parsed, author string) {
	var changes []Change
	if p.has["summary"] && p.summary != is.Summary {
		changes = append(changes, Change{Field: "summary", From: is.Summary, To: p.summary})
		is.Summary = p.summary
	}
	if p.has["description"] && !bytes.Equal(p.description, is.Description) {
		changes = append(changes, Change{Field: "description"})
		is.Description = p.description
	}
	if p.has["labels"] && !slices.Equal(p.labels, is.Labels) {
		changes = append(changes, Change{Field: "labels", From: strings.Join(is.Labels, " "), To: strings.Join(p.labels, " ")})
		is.Labels = p.labels
	}
	if p.has["assignee"] && p.assignee != is.AssigneeID {
		changes = append(changes, Change{Field: "assignee", From: is.AssigneeID, To: p.assignee})
		is.AssigneeID = p.assignee
	}
	if p.has["duedate"] && p.duedate != is.DueDate {
		changes = append(changes, Change{Field: "duedate", From: is.DueDate, To: p.duedate})
		is.DueDate = p.duedate
	}
	s.recordLocked(is, author, s.nowMilli(), changes...)
}

// handleEdit serves "Edit issue": "fields" sets summary, description,
// labels, assignee and duedate; "update" supports labels add/remove/set.
func (s *Server) handleEdit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fields fieldValues `json:"fields"`
		Update map[string][]map[string]json.RawMessage
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r)
	if is == nil {
		return
	}
	p, errs := s.parseFieldsLocked(req.Fields, false)
	for name, ops := range req.Update {
		if name != "labels" {
			errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
			continue
		}
		labels := slices.Clone(is.Labels)
		if p.has["labels"] {
			labels = p.labels
		}
		for _, op := range ops {
			for verb, raw := range op {
				var l string
				if verb == "set" {
					var set []string
					if json.Unmarshal(raw, &set) != nil {
						errs["labels"] = "Operation value must be an array of strings"
					}
					labels = set
					continue
				}
				if json.Unmarshal(raw, &l) != nil || strings.ContainsAny(l, " \t") {
					errs["labels"] = "Operation value must be a string without spaces"
					continue
				}
				switch verb {
				case "add":
					if !slices.Contains(labels, l) {
						labels = append(labels, l)
					}
				case "remove":
					labels = slices.DeleteFunc(labels, func(x string) bool { return x == l })
				default:
					errs["labels"] = fmt.Sprintf("Unsupported operation '%s'", verb)
				}
			}
		}
		p.has["labels"], p.labels = true, labels
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.editLocked(is, p, s.self)
	w.WriteHeader(http.StatusNoContent)
}

// handleAssign serves "Assign issue": {"accountId": id} or null to unassign.
func (s *Server) handleAssign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AccountID *string `json:"accountId"`
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r)
	if is == nil {
		return
	}
	p := &parsed{has: map[string]bool{"assignee": true}}
	if req.AccountID != nil {
		if s.userLocked(*req.AccountID) == nil {
			writeErrors(w, http.StatusBadRequest, map[string]string{"assignee": "Specified user does not exist or you do not have required permissions"})
			return
		}
		p.assignee = *req.AccountID
	}
	s.editLocked(is, p, s.self)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) transitionJSON(t transition) map[string]any {
	return map[string]any{
		"id": t.id, "name": t.name, "to": s.statusJSON(t.to),
		"hasScreen": false, "isGlobal": false, "isInitial": false, "isAvailable": true, "isConditional": false, "isLooped": false,
	}
}

func (s *Server) handleTransitions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r)
	if is == nil {
		return
	}
	out := []map[string]any{}
	for _, t := range transitionsFrom(is.Status) {
		if id := r.URL.Query().Get("transitionId"); id != "" && id != t.id {
			continue
		}
		out = append(out, s.transitionJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": out})
}

// handleTransition serves "Transition issue": {"transition": {"id": …}}. The
// emulator's transitions have no screen, so "fields" and "update" are
// refused as Jira refuses fields that are not on the transition's screen.
func (s *Server) handleTransition(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Transition *ref                       `json:"transition"`
		Fields     map[string]json.RawMessage `json:"fields"`
		Update     map[string]json.RawMessage `json:"update"`
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issueFromPathLocked(w, r)
	if is == nil {
		return
	}
	if req.Transition == nil || req.Transition.ID == "" {
		writeErrors(w, http.StatusBadRequest, nil, "Missing 'transition' identifier")
		return
	}
	errs := map[string]string{}
	for name := range req.Fields {
		errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
	}
	for name := range req.Update {
		errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs)
		return
	}
	for _, t := range transitionsFrom(is.Status) {
		if t.id == req.Transition.ID {
			s.applyTransitionLocked(is, t, s.self)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeErrors(w, http.StatusBadRequest, nil, fmt.Sprintf("Transition id '%s' is not valid for this issue.", req.Transition.ID))
}

// --- JSON shapes -------------------------------------------------------------

func (s *Server) fmtTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.In(s.loc).Format(timeLayout)
}

func (s *Server) statusJSON(st status) map[string]any {
	return map[string]any{
		"self": s.url + "/rest/api/3/status/" + st.id, "description": "", "iconUrl": s.url + "/images/icons/statuses/generic.png",
		"name": st.name, "id": st.id,
		"statusCategory": map[string]any{
			"self": s.url + "/rest/api/3/statuscategory/" + strconv.Itoa(st.catID),
			"id":   st.catID, "key": st.catKey, "colorName": st.catColor, "name": st.catName,
		},
	}
}

// allFieldsLocked renders every field of is.
func (s *Server) allFieldsLocked(is *issue) map[string]any {
	st, _ := statusNamed(is.Status)
	pr := s.projects[is.Project]
	typeID := 10001 + slices.Index(s.issueTypes, is.IssueType)
	f := map[string]any{
		"summary":     is.Summary,
		"description": nil,
		"labels":      append([]string{}, is.Labels...),
		"assignee":    nil,
		"reporter":    s.userJSONLocked(s.userLocked(is.ReporterID)),
		"creator":     s.userJSONLocked(s.userLocked(is.ReporterID)),
		"duedate":     nil,
		"status":      s.statusJSON(st),
		"resolution":  nil,
		"created":     s.fmtTime(is.Created),
		"updated":     s.fmtTime(is.Updated),
		"issuetype": map[string]any{
			"self": s.url + "/rest/api/3/issuetype/" + strconv.Itoa(typeID), "id": strconv.Itoa(typeID),
			"name": is.IssueType, "subtask": false,
		},
		"project": map[string]any{
			"self": s.url + "/rest/api/3/project/" + pr.id, "id": pr.id, "key": pr.key, "name": pr.key,
			"projectTypeKey": "software",
		},
		"resolutiondate": s.fmtTime(is.ResolutionDate),
	}
	if is.Description != nil {
		f["description"] = is.Description
	}
	if is.AssigneeID != "" {
		f["assignee"] = s.userJSONLocked(s.userLocked(is.AssigneeID))
	}
	if is.DueDate != "" {
		f["duedate"] = is.DueDate
	}
	if is.Resolution != "" {
		f["resolution"] = map[string]any{
			"self": s.url + "/rest/api/3/resolution/10000", "id": "10000", "name": is.Resolution,
			"description": "Work has been completed on this issue.",
		}
	}
	return f
}

// issueJSONLocked renders is with the fields asked for ("*all" and
// "*navigable" mean every field; "-name" leaves one out) and, with
// changelog, its history newest first.
func (s *Server) issueJSONLocked(is *issue, fields []string, changelog bool) map[string]any {
	all := s.allFieldsLocked(is)
	chosen := map[string]any{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		switch {
		case f == "*all" || f == "*navigable":
			for k, v := range all {
				chosen[k] = v
			}
		case strings.HasPrefix(f, "-"):
		default:
			if v, ok := all[f]; ok {
				chosen[f] = v
			}
		}
	}
	for _, f := range fields {
		if name, ok := strings.CutPrefix(strings.TrimSpace(f), "-"); ok {
			delete(chosen, name)
		}
	}
	out := map[string]any{
		"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
		"id":     is.ID, "self": s.url + "/rest/api/3/issue/" + is.ID, "key": is.Key,
		"fields": chosen,
	}
	if changelog {
		out["changelog"] = s.changelogLocked(is)
	}
	return out
}

// changelogLocked renders is.History as Jira's changelog: groups of items
// by author and time, newest first.
func (s *Server) changelogLocked(is *issue) map[string]any {
	var histories []map[string]any
	for i := len(is.History) - 1; i >= 0; {
		id := is.changeIDs[i]
		j := i
		for j >= 0 && is.changeIDs[j] == id {
			j--
		}
		var items []map[string]any
		for k := j + 1; k <= i; k++ {
			items = append(items, s.changeItem(is.History[k]))
		}
		c := is.History[i]
		histories = append(histories, map[string]any{
			"id":      strconv.Itoa(id),
			"author":  s.userJSONLocked(s.userLocked(c.AuthorID)),
			"created": s.fmtTime(c.At),
			"items":   items,
		})
		i = j
	}
	if histories == nil {
		histories = []map[string]any{}
	}
	return map[string]any{"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}
}

func (s *Server) changeItem(c Change) map[string]any {
	item := map[string]any{"field": c.Field, "fieldtype": "jira", "fieldId": c.Field, "from": nil, "fromString": nil, "to": nil, "toString": nil}
	str := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	switch c.Field {
	case "status":
		from, _ := statusNamed(c.From)
		to, _ := statusNamed(c.To)
		item["from"], item["fromString"], item["to"], item["toString"] = from.id, c.From, to.id, c.To
	case "resolution":
		if c.From != "" {
			item["from"], item["fromString"] = "10000", c.From
		}
		if c.To != "" {
			item["to"], item["toString"] = "10000", c.To
		}
	case "assignee":
		name := func(id string) any {
			if u := s.userLocked(id); u != nil {
				return u.name
			}
			return nil
		}
		item["from"], item["fromString"], item["to"], item["toString"] = str(c.From), name(c.From), str(c.To), name(c.To)
	default:
		item["fromString"], item["toString"] = str(c.From), str(c.To)
		if c.Field == "duedate" {
			item["from"], item["to"] = str(c.From), str(c.To)
		}
	}
	return item
}
