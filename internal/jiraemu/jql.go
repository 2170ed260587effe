package jiraemu

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// query is a parsed JQL query in the subset the emulator supports: clauses
// joined by AND, then an optional ORDER BY.
type query struct {
	clauses []clause
	order   []orderBy
}

// clause is "field op value" or "field [NOT] IN (values)".
type clause struct {
	field  string
	op     string // "=", "!=", ">", ">=", "<", "<=", "in", "not in", "is", "is not"
	values []string
}

type orderBy struct {
	field string
	desc  bool
}

// jqlToken is one lexical token: a word, a quoted string, or punctuation.
type jqlToken struct {
	text   string
	quoted bool
}

var jqlLex = regexp.MustCompile(`\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(!=|>=|<=|[=<>(),~])|([^\s"'=<>!(),~]+))`)

func lexJQL(s string) ([]jqlToken, error) {
	var out []jqlToken
	rest := strings.TrimSpace(s)
	for rest != "" {
		m := jqlLex.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("Error in the JQL Query: the character '%c' is a reserved JQL character.", rest[0])
		}
		switch {
		case m[2] >= 0:
			out = append(out, jqlToken{text: strings.ReplaceAll(rest[m[2]:m[3]], `\"`, `"`), quoted: true})
		case m[4] >= 0:
			out = append(out, jqlToken{text: strings.ReplaceAll(rest[m[4]:m[5]], `\'`, `'`), quoted: true})
		case m[6] >= 0:
			out = append(out, jqlToken{text: rest[m[6]:m[7]]})
		default:
			out = append(out, jqlToken{text: rest[m[8]:m[9]]})
		}
		rest = strings.TrimSpace(rest[m[1]:])
	}
	return out, nil
}

// jqlFields maps the field names (and aliases) the emulator understands to
// their canonical names.
var jqlFields = map[string]string{
	"project": "project", "labels": "labels", "label": "labels",
	"updated": "updated", "updateddate": "updated", "created": "created", "createddate": "created",
	"resolutiondate": "resolutiondate", "resolved": "resolutiondate",
	"status": "status", "statuscategory": "statuscategory",
	"key": "key", "issuekey": "key", "id": "key",
	"assignee": "assignee", "duedate": "duedate", "due": "duedate",
}

// parseJQL parses q; its errors are the errorMessages of Jira's 400.
func parseJQL(q string) (*query, error) {
	toks, err := lexJQL(q)
	if err != nil {
		return nil, err
	}
	out := &query{}
	i := 0
	word := func(w string) bool {
		return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].text, w)
	}
	for i < len(toks) && !word("order") {
		if len(out.clauses) > 0 {
			if !word("and") {
				if word("or") || word("not") || toks[i].text == "(" {
					return nil, fmt.Errorf("Error in the JQL Query: the emulator supports only clauses joined by AND (found '%s').", toks[i].text)
				}
				return nil, fmt.Errorf("Error in the JQL Query: Expecting either 'OR' or 'AND' but got '%s'.", toks[i].text)
			}
			i++
		}
		if i >= len(toks) {
			return nil, errors.New("Error in the JQL Query: Expecting a field name at the end of the query.")
		}
		name := strings.ToLower(toks[i].text)
		field, ok := jqlFields[name]
		if !ok {
			return nil, fmt.Errorf("Field '%s' does not exist or you do not have permission to view it.", toks[i].text)
		}
		i++
		c := clause{field: field}
		switch {
		case word("not") && i+1 < len(toks) && strings.EqualFold(toks[i+1].text, "in"):
			c.op, i = "not in", i+2
		case word("in"):
			c.op, i = "in", i+1
		case word("is") && i+1 < len(toks) && strings.EqualFold(toks[i+1].text, "not"):
			c.op, i = "is not", i+2
		case word("is"):
			c.op, i = "is", i+1
		case i < len(toks) && !toks[i].quoted && slices.Contains([]string{"=", "!=", ">", ">=", "<", "<="}, toks[i].text):
			c.op, i = toks[i].text, i+1
		default:
			return nil, fmt.Errorf("Error in the JQL Query: the emulator does not support the operator after '%s'.", name)
		}
		switch c.op {
		case "in", "not in":
			if i >= len(toks) || toks[i].text != "(" {
				return nil, errors.New("Error in the JQL Query: Expecting '(' after IN.")
			}
			i++
			for i < len(toks) && toks[i].text != ")" {
				if toks[i].text != "," {
					c.values = append(c.values, toks[i].text)
				}
				i++
			}
			if i >= len(toks) {
				return nil, errors.New("Error in the JQL Query: Expecting ')' to close the IN list.")
			}
			i++
		case "is", "is not":
			if !word("empty") && !word("null") {
				return nil, errors.New("Error in the JQL Query: Expecting EMPTY or NULL after IS.")
			}
			i++
		default:
			if i >= len(toks) {
				return nil, fmt.Errorf("Error in the JQL Query: Expecting either a value, list or function but got end of query.")
			}
			c.values = []string{toks[i].text}
			i++
		}
		out.clauses = append(out.clauses, c)
	}
	if word("order") {
		i++
		if !word("by") {
			return nil, errors.New("Error in the JQL Query: Expecting 'by' after 'order'.")
		}
		i++
		for i < len(toks) {
			if toks[i].text == "," {
				i++
				continue
			}
			field, ok := jqlFields[strings.ToLower(toks[i].text)]
			if !ok {
				return nil, fmt.Errorf("Not able to sort using field '%s'.", toks[i].text)
			}
			i++
			ob := orderBy{field: field}
			if word("desc") {
				ob.desc, i = true, i+1
			} else if word("asc") {
				i++
			}
			out.order = append(out.order, ob)
		}
	}
	return out, nil
}

// jqlPeriod is a relative JQL date such as "-15m".
var jqlPeriod = regexp.MustCompile(`^([-+]?)(\d+)([mhdw])$`)

// jqlTime reads a JQL date: "2026/03/02 09:00", "2026-03-02 09:00",
// "2026/03/02", "2026-03-02" in loc, or a relative "-15m", "-2h", "-1d",
// "-1w" from now.
func jqlTime(v string, now time.Time, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	if m := jqlPeriod.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[2])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[3]]
		d := time.Duration(n) * unit
		if m[1] == "-" {
			d = -d
		}
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("Date value '%s' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.", v)
}

// validateLocked checks the values that must name something that exists.
func (s *Server) validateLocked(q *query) error {
	for _, c := range q.clauses {
		for _, v := range c.values {
			switch c.field {
			case "project":
				if s.projects[strings.ToUpper(v)] == nil {
					return fmt.Errorf("The value '%s' does not exist for the field 'project'.", v)
				}
			case "status":
				if _, ok := statusNamed(v); !ok {
					return fmt.Errorf("The value '%s' does not exist for the field 'status'.", v)
				}
			case "updated", "created", "resolutiondate", "duedate":
				if _, err := jqlTime(v, s.now(), s.loc); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// matchLocked reports whether is satisfies every clause of q.
func (s *Server) matchLocked(q *query, is *issue) bool {
	for _, c := range q.clauses {
		if !s.matchClauseLocked(c, is) {
			return false
		}
	}
	return true
}

func (s *Server) matchClauseLocked(c clause, is *issue) bool {
	// The issue's values for the field, compared without regard to case.
	var have []string
	var at time.Time
	isTime := false
	switch c.field {
	case "project":
		have = []string{is.Project}
	case "labels":
		have = is.Labels
	case "status":
		st, _ := statusNamed(is.Status)
		have = []string{st.name, st.id}
	case "statuscategory":
		st, _ := statusNamed(is.Status)
		have = []string{st.catName, st.catKey, strconv.Itoa(st.catID)}
	case "key":
		have = []string{is.Key, is.ID}
	case "assignee":
		if is.AssigneeID != "" {
			have = []string{is.AssigneeID}
		}
	case "updated":
		at, isTime = is.Updated, true
	case "created":
		at, isTime = is.Created, true
	case "resolutiondate":
		at, isTime = is.ResolutionDate, true
	case "duedate":
		if is.DueDate != "" {
			t, _ := time.ParseInLocation("2006-01-02", is.DueDate, s.loc)
			at = t
		}
		isTime = true
	}
	contains := func(v string) bool {
		return slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, v) })
	}
	if isTime && !at.IsZero() {
		have = []string{"set"}
	}
	switch c.op {
	case "is":
		return len(have) == 0
	case "is not":
		return len(have) > 0
	case "in", "not in":
		found := slices.ContainsFunc(c.values, contains)
		return found == (c.op == "in")
	}
	if isTime {
		if at.IsZero() {
			return false
		}
		t, err := jqlTime(c.values[0], s.now(), s.loc)
		if err != nil {
			return false
		}
		switch c.op {
		case "=":
			return at.Equal(t)
		case "!=":
			return !at.Equal(t)
		case ">":
			return at.After(t)
		case ">=":
			return !at.Before(t)
		case "<":
			return at.Before(t)
		case "<=":
			return !at.After(t)
		}
		return false
	}
	switch c.op {
	case "=":
		return contains(c.values[0])
	case "!=":
		return !contains(c.values[0])
	}
	return false // ordering operators on text fields
}

// sortLocked orders issues by q's ORDER BY, by key descending without one.
func sortLocked(issues []*issue, order []orderBy) {
	if len(order) == 0 {
		order = []orderBy{{field: "key", desc: true}}
	}
	less := func(a, b *issue, field string) int {
		switch field {
		case "updated":
			return a.Updated.Compare(b.Updated)
		case "created":
			return a.Created.Compare(b.Created)
		case "resolutiondate":
			return a.ResolutionDate.Compare(b.ResolutionDate)
		case "duedate":
			return strings.Compare(a.DueDate, b.DueDate)
		case "status":
			return strings.Compare(a.Status, b.Status)
		default: // key, id: numeric id order
			ai, _ := strconv.Atoi(a.ID)
			bi, _ := strconv.Atoi(b.ID)
			return ai - bi
		}
	}
	sort.SliceStable(issues, func(i, j int) bool {
		for _, o := range order {
			c := less(issues[i], issues[j], o.field)
			if c != 0 {
				return (c < 0) != o.desc
			}
		}
		return false
	})
}

// searchRequest is the body of POST /rest/api/3/search/jql (and the query
// of its GET).
type searchRequest struct {
	JQL           string   `json:"jql"`
	NextPageToken string   `json:"nextPageToken"`
	MaxResults    int      `json:"maxResults"`
	Fields        []string `json:"fields"`
	Expand        string   `json:"expand"`
}

func (s *Server) handleSearchGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := searchRequest{JQL: q.Get("jql"), NextPageToken: q.Get("nextPageToken"), Expand: q.Get("expand")}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeErrors(w, http.StatusBadRequest, nil, "The value '"+v+"' for parameter 'maxResults' is invalid.")
			return
		}
		req.MaxResults = n
	}
	for _, f := range q["fields"] {
		req.Fields = append(req.Fields, strings.Split(f, ",")...)
	}
	s.search(w, req)
}

func (s *Server) handleSearchPost(w http.ResponseWriter, r *http.Request) {
	var req searchRequest
	if !decode(w, r, &req) {
		return
	}
	s.search(w, req)
}

// search serves "Search for issues using JQL (enhanced search)": issues
// carry only "id" unless fields are asked for; pages are chained with an
// opaque nextPageToken and the last is marked isLast.
func (s *Server) search(w http.ResponseWriter, req searchRequest) {
	if strings.TrimSpace(req.JQL) == "" {
		writeErrors(w, http.StatusBadRequest, nil, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
		return
	}
	q, err := parseJQL(req.JQL)
	if err == nil && len(q.clauses) == 0 {
		err = errors.New("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
	}
	if err != nil {
		writeErrors(w, http.StatusBadRequest, nil, err.Error())
		return
	}
	offset := 0
	if req.NextPageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.NextPageToken)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "emu:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "emu:") || n < 0 {
			writeErrors(w, http.StatusBadRequest, nil, "The provided next page token is invalid or expired.")
			return
		}
		offset = n
	}
	onlyIDs := len(req.Fields) == 0
	for _, f := range req.Fields {
		if f != "id" && f != "key" {
			onlyIDs = false
		}
	}
	limit := 100
	if onlyIDs {
		limit = 5000
	}
	maxResults := req.MaxResults
	if maxResults <= 0 {
		maxResults = 50
	}
	maxResults = min(maxResults, limit)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.validateLocked(q); err != nil {
		writeErrors(w, http.StatusBadRequest, nil, err.Error())
		return
	}
	var matched []*issue
	for _, is := range s.issues {
		if s.matchLocked(q, is) {
			matched = append(matched, is)
		}
	}
	sortLocked(matched, q.order)
	offset = min(offset, len(matched))
	end := min(offset+maxResults, len(matched))
	items := []map[string]any{}
	changelog := strings.Contains(req.Expand, "changelog")
	for _, is := range matched[offset:end] {
		if len(req.Fields) == 0 {
			item := map[string]any{"id": is.ID}
			if changelog {
				item["changelog"] = s.changelogLocked(is)
			}
			items = append(items, item)
			continue
		}
		items = append(items, s.issueJSONLocked(is, req.Fields, changelog))
	}
	out := map[string]any{"issues": items, "isLast": end >= len(matched)}
	if end < len(matched) {
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("emu:" + strconv.Itoa(end)))
	}
	writeJSON(w, http.StatusOK, out)
}
