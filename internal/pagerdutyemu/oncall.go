package pagerdutyemu

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Classic pagination limits of PagerDuty's REST API.
const (
	defaultLimit = 25
	maxLimit     = 100
	maxRecords   = 10000
	// rotation is how long an emulated schedule keeps a user on call.
	rotation = 7 * 24 * time.Hour
)

// User is a PagerDuty user, on call for an escalation policy at Level.
type User struct {
	ID    string
	Name  string
	Email string
	// Level is the escalation level, 1 the first to be notified; 0 means 1.
	Level uint
	// ScheduleID is the schedule that puts the user on call. Empty means the
	// user is a direct target of the escalation rule and, as in PagerDuty, is
	// always on call: the on-call's schedule, start and end are null.
	// Scheduled on-calls run for a week from the SetOnCall call.
	ScheduleID string
}

// onCall is one on-call entry of a policy.
type onCall struct {
	user  User
	start time.Time
}

// SetOnCall replaces who is on call for the escalation policy policyID with
// users, in the given order; no users leaves nobody on call. The users also
// become known to GET /users/{id}.
func (s *Server) SetOnCall(policyID string, users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Second)
	entries := make([]onCall, 0, len(users))
	for _, u := range users {
		if u.Level == 0 {
			u.Level = 1
		}
		entries = append(entries, onCall{user: u, start: now})
		known := u
		known.Level, known.ScheduleID = 0, ""
		s.users[u.ID] = known
	}
	if _, ok := s.policies[policyID]; !ok {
		s.policyOrder = append(s.policyOrder, policyID)
	}
	s.policies[policyID] = entries
}

// reference is a PagerDuty resource reference.
type reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	Self    string `json:"self"`
	HTMLURL string `json:"html_url"`
}

// userObject is a full PagerDuty user.
type userObject struct {
	reference
	Name              string     `json:"name"`
	Email             string     `json:"email"`
	TimeZone          string     `json:"time_zone"`
	Color             string     `json:"color"`
	Role              string     `json:"role"`
	AvatarURL         string     `json:"avatar_url"`
	Description       *string    `json:"description"`
	InvitationSent    bool       `json:"invitation_sent"`
	JobTitle          *string    `json:"job_title"`
	Teams             []struct{} `json:"teams"`
	ContactMethods    []struct{} `json:"contact_methods"`
	NotificationRules []struct{} `json:"notification_rules"`
}

// onCallObject is one entry of GET /oncalls.
type onCallObject struct {
	EscalationPolicy reference  `json:"escalation_policy"`
	EscalationLevel  uint       `json:"escalation_level"`
	Schedule         *reference `json:"schedule"`
	User             any        `json:"user"`
	Start            *string    `json:"start"`
	End              *string    `json:"end"`
}

func (s *Server) ref(kind, path, id, summary string) reference {
	return reference{
		ID:      id,
		Type:    kind,
		Summary: summary,
		Self:    s.url + path + url.PathEscape(id),
		HTMLURL: s.url + "/web" + path + url.PathEscape(id),
	}
}

func (s *Server) userObject(u User) userObject {
	return userObject{
		reference:         s.ref("user", "/users/", u.ID, u.Name),
		Name:              u.Name,
		Email:             u.Email,
		TimeZone:          "Etc/UTC",
		Color:             "green",
		Role:              "user",
		AvatarURL:         "https://secure.gravatar.com/avatar/" + u.ID,
		Teams:             []struct{}{},
		ContactMethods:    []struct{}{},
		NotificationRules: []struct{}{},
	}
}

// handleOnCalls serves GET /oncalls.
func (s *Server) handleOnCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := defaultLimit, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			writeRESTError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "'limit' must be a positive integer")
			return
		}
		limit = min(limit, maxLimit)
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			writeRESTError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "'offset' must be a non-negative integer")
			return
		}
	}
	if offset+limit > maxRecords {
		writeRESTError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Offset plus limit must not exceed 10000")
		return
	}
	now := s.now().UTC()
	since, until := now, time.Time{}
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			writeRESTError(w, http.StatusBadRequest, 2004, "Invalid time values in 'since' and/or 'until' parameters")
			return
		}
	}
	until = since
	if v := q.Get("until"); v != "" {
		if until, err = time.Parse(time.RFC3339, v); err != nil || until.Before(since) {
			writeRESTError(w, http.StatusBadRequest, 2004, "Invalid time values in 'since' and/or 'until' parameters")
			return
		}
	}
	policyIDs, userIDs, scheduleIDs := q["escalation_policy_ids[]"], q["user_ids[]"], q["schedule_ids[]"]
	withUsers := slices.Contains(q["include[]"], "users") && !s.cfg.IgnoreIncludes
	earliest := q.Get("earliest") == "true"

	s.mu.Lock()
	var all []onCallObject
	seen := make(map[string]bool)
	for _, pid := range s.policyOrder {
		if len(policyIDs) > 0 && !slices.Contains(policyIDs, pid) {
			continue
		}
		for _, e := range s.policies[pid] {
			u := e.user
			if len(userIDs) > 0 && !slices.Contains(userIDs, u.ID) {
				continue
			}
			if len(scheduleIDs) > 0 && !slices.Contains(scheduleIDs, u.ScheduleID) {
				continue
			}
			o := onCallObject{
				EscalationPolicy: s.ref("escalation_policy_reference", "/escalation_policies/", pid, pid),
				EscalationLevel:  u.Level,
			}
			if u.ScheduleID != "" {
				end := e.start.Add(rotation)
				if e.start.After(until) || !end.After(since) {
					continue
				}
				sched := s.ref("schedule_reference", "/schedules/", u.ScheduleID, u.ScheduleID)
				o.Schedule = &sched
				st, en := e.start.Format(time.RFC3339), end.Format(time.RFC3339)
				o.Start, o.End = &st, &en
			}
			if earliest {
				k := pid + "\x00" + strconv.FormatUint(uint64(u.Level), 10) + "\x00" + u.ID
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			if withUsers {
				o.User = s.userObject(u)
			} else {
				o.User = s.ref("user_reference", "/users/", u.ID, u.Name)
			}
			all = append(all, o)
		}
	}
	s.mu.Unlock()

	page := []onCallObject{}
	if offset < len(all) {
		page = all[offset:min(offset+limit, len(all))]
	}
	var total *int
	if q.Get("total") == "true" {
		n := len(all)
		total = &n
	}
	writeJSON(w, http.StatusOK, struct {
		OnCalls []onCallObject `json:"oncalls"`
		Limit   int            `json:"limit"`
		Offset  int            `json:"offset"`
		More    bool           `json:"more"`
		Total   *int           `json:"total"`
	}{page, limit, offset, offset+len(page) < len(all), total})
}

// handleUser serves GET /users/{id}.
func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	u, ok := s.users[id]
	s.mu.Unlock()
	if !ok {
		writeRESTError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]userObject{"user": s.userObject(u)})
}
