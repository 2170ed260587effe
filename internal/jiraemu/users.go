package jiraemu

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// user is one Atlassian account.
type user struct {
	accountID string
	email     string
	name      string
}

// AddUser registers an Atlassian account with email and display name name,
// who can be assigned issues in every project, and returns its accountId (24
// hex digits, derived from the email so that it is the same in every run).
// Adding an email twice returns the first account, with its first name.
func (s *Server) AddUser(email, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(email, name)
}

func (s *Server) addUserLocked(email, name string) string {
	for _, u := range s.users {
		if strings.EqualFold(u.email, email) {
			return u.accountID
		}
	}
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	u := &user{accountID: hex.EncodeToString(sum[:12]), email: email, name: name}
	s.users = append(s.users, u)
	return u.accountID
}

func (s *Server) userLocked(accountID string) *user {
	for _, u := range s.users {
		if u.accountID == accountID {
			return u
		}
	}
	return nil
}

// userJSON is Jira's User object.
type userJSON struct {
	Self         string            `json:"self"`
	AccountID    string            `json:"accountId"`
	AccountType  string            `json:"accountType"`
	EmailAddress string            `json:"emailAddress,omitempty"`
	AvatarURLs   map[string]string `json:"avatarUrls"`
	DisplayName  string            `json:"displayName"`
	Active       bool              `json:"active"`
	TimeZone     string            `json:"timeZone"`
	Locale       string            `json:"locale"`
}

func (s *Server) userJSONLocked(u *user) *userJSON {
	if u == nil {
		return nil
	}
	return &userJSON{
		Self:         s.url + "/rest/api/3/user?accountId=" + url.QueryEscape(u.accountID),
		AccountID:    u.accountID,
		AccountType:  "atlassian",
		EmailAddress: u.email,
		AvatarURLs:   map[string]string{"48x48": s.url + "/avatar/" + u.accountID},
		DisplayName:  u.name,
		Active:       true,
		TimeZone:     s.loc.String(),
		Locale:       "en_US",
	}
}

// handleUserSearch serves "Find users": query matches the start of the
// display name, of any word of it, or of the email address, without regard
// to case; accountId matches exactly.
func (s *Server) handleUserSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query, accountID := strings.ToLower(strings.TrimSpace(q.Get("query"))), q.Get("accountId")
	if query == "" && accountID == "" {
		writeErrors(w, http.StatusBadRequest, nil, "The query parameter 'query', 'accountId' or 'property' is required.")
		return
	}
	startAt, _ := strconv.Atoi(q.Get("startAt"))
	maxResults, err := strconv.Atoi(q.Get("maxResults"))
	if err != nil || maxResults <= 0 {
		maxResults = 50
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*userJSON{}
	for _, u := range s.users {
		if accountID != "" && u.accountID != accountID {
			continue
		}
		if query != "" && !matchesUser(u, query) {
			continue
		}
		out = append(out, s.userJSONLocked(u))
	}
	startAt = min(max(startAt, 0), len(out))
	writeJSON(w, http.StatusOK, out[startAt:min(startAt+maxResults, len(out))])
}

func matchesUser(u *user, query string) bool {
	if strings.HasPrefix(strings.ToLower(u.email), query) || strings.HasPrefix(strings.ToLower(u.name), query) {
		return true
	}
	for _, word := range strings.Fields(strings.ToLower(u.name)) {
		if strings.HasPrefix(word, query) {
			return true
		}
	}
	return false
}

// handleMyself serves "Get current user", the usual check of credentials.
func (s *Server) handleMyself(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.userJSONLocked(s.userLocked(s.self)))
}
