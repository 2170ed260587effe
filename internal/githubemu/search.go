package githubemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// searchQuery is a parsed q of /search/issues, in the subset the emulator
// supports (see the package documentation).
type searchQuery struct {
	repos   []string
	labels  []string
	state   string // "", "open", "closed"
	noMatch bool   // is:pr and the like: nothing here matches
	dates   []dateFilter
	words   []string
}

// dateFilter is one "updated:>=2026-01-02"-style qualifier.
type dateFilter struct {
	field   string // "updated", "created", "closed"
	op      string // ">=", ">", "<=", "<", "="
	t       time.Time
	dayOnly bool
}

// splitQuery splits q at spaces outside double quotes, dropping the quotes.
func splitQuery(q string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range q {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
			}
			cur.Reset()
			have = false
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// parseSearch parses q; the error is the message of GitHub's 422.
func parseSearch(q string) (*searchQuery, error) {
	sq := &searchQuery{}
	for _, tok := range splitQuery(q) {
		key, val, ok := strings.Cut(tok, ":")
		if ok && strings.HasPrefix(key, "-") {
			return nil, fmt.Errorf("the emulator does not support the negated qualifier %q", tok)
		}
		if !ok || key == "" {
			sq.words = append(sq.words, strings.ToLower(tok))
			continue
		}
		switch strings.ToLower(key) {
		case "repo":
			sq.repos = append(sq.repos, val)
		case "label":
			for _, l := range strings.Split(val, ",") {
				sq.labels = append(sq.labels, l)
			}
		case "is", "type", "state":
			switch strings.ToLower(val) {
			case "issue":
			case "pr", "pull-request":
				sq.noMatch = true
			case "open", "closed":
				sq.state = strings.ToLower(val)
			default:
				return nil, fmt.Errorf("the emulator does not support %q", tok)
			}
		case "updated", "created", "closed":
			df, err := parseDateFilter(strings.ToLower(key), val)
			if err != nil {
				return nil, err
			}
			sq.dates = append(sq.dates, df)
		default:
			return nil, fmt.Errorf("the emulator does not support the qualifier %q", key+":")
		}
	}
	return sq, nil
}

// parseDateFilter parses ">=2026-01-02", "<2026-01-02T15:04:05Z" and the like.
func parseDateFilter(field, v string) (dateFilter, error) {
	df := dateFilter{field: field, op: "="}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(v, op); ok {
			df.op, v = op, rest
			break
		}
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		df.t, df.dayOnly = t, true
		return df, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, v); err == nil {
			df.t = t.UTC()
			return df, nil
		}
	}
	return df, fmt.Errorf("the date %q in %s: is not YYYY-MM-DD or ISO 8601", v, field)
}

func (df dateFilter) match(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	a, b := t.UTC(), df.t
	if df.dayOnly {
		a = time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	}
	switch df.op {
	case ">=":
		return !a.Before(b)
	case ">":
		return a.After(b)
	case "<=":
		return !a.After(b)
	case "<":
		return a.Before(b)
	default:
		return a.Equal(b)
	}
}

func (s *Server) matchSearchLocked(sq *searchQuery, is *issue) bool {
	if sq.noMatch {
		return false
	}
	if sq.state != "" && is.State != sq.state {
		return false
	}
	if !hasAllLabels(is.Labels, sq.labels) {
		return false
	}
	for _, df := range sq.dates {
		var t time.Time
		switch df.field {
		case "updated":
			t = is.UpdatedAt
		case "created":
			t = is.CreatedAt
		case "closed":
			t = is.ClosedAt
		}
		if !df.match(t) {
			return false
		}
	}
	text := strings.ToLower(is.Title + "\n" + is.Body)
	for _, w := range sq.words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if strings.TrimSpace(q.Get("q")) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docSearchIssues, fieldError{Resource: "Search", Field: "q", Code: "missing"})
		return
	}
	sq, err := parseSearch(q.Get("q"))
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docSearchIssues, fieldError{Resource: "Search", Field: "q", Code: "invalid", Message: err.Error()})
		return
	}
	for _, repo := range sq.repos {
		if !strings.EqualFold(repo, s.owner+"/"+s.name) {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docSearchIssues, fieldError{
				Resource: "Search", Field: "q", Code: "invalid",
				Message: "The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them.",
			})
			return
		}
	}
	sortBy, order := q.Get("sort"), q.Get("order")
	if sortBy == "" {
		sortBy = "created" // "best match": every issue scores the same here
	}

	s.mu.Lock()
	var matched []*issue
	for _, is := range s.issues {
		if s.matchSearchLocked(sq, is) {
			matched = append(matched, is)
		}
	}
	sortIssues(matched, sortBy, order)
	page, ok := s.paginate(w, r, len(matched))
	if !ok {
		s.mu.Unlock()
		return
	}
	items := make([]issueJSON, 0, page.hi-page.lo)
	for _, is := range matched[page.lo:page.hi] {
		j := s.issueJSONLocked(is, false)
		score := 1.0
		j.Score = &score
		items = append(items, j)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		TotalCount        int         `json:"total_count"`
		IncompleteResults bool        `json:"incomplete_results"`
		Items             []issueJSON `json:"items"`
	}{len(matched), false, items})
}
