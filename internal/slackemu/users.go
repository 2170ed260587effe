package slackemu

import (
	"fmt"
	"strings"
	"time"
)

// User is a workspace member.
type User struct {
	ID          string // U...; AddUser assigns one when empty
	Name        string // the handle (user_name in slash commands)
	RealName    string
	DisplayName string
	Email       string
	IsBot       bool // true only for the bot user
}

type user struct {
	User
	created time.Time
}

// AddUser adds (or replaces, when u.ID is already known) a workspace member and
// returns it with its ID. A user with an empty ID gets a new U... id; an empty
// Name defaults to the lower-cased first word of RealName, or to the id.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.newIDLocked("U")
	}
	if u.Name == "" {
		first, _, _ := strings.Cut(strings.TrimSpace(u.RealName), " ")
		u.Name = strings.ToLower(first)
		if u.Name == "" {
			u.Name = strings.ToLower(u.ID)
		}
	}
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.users[u.ID] = &user{User: u, created: time.Now()}
	return u
}

// User returns the member with the given id.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return u.User, true
}

// mustUserLocked returns a user or panics: the caller (a test acting as a
// user) named a user that does not exist.
func (s *Server) mustUserLocked(op, id string) *user {
	u, ok := s.users[id]
	if !ok {
		panic(fmt.Sprintf("slackemu: %s: unknown user %q", op, id))
	}
	return u
}

// userJSON is Slack's user object.
func (s *Server) userJSON(u *user) obj {
	first, last, _ := strings.Cut(u.RealName, " ")
	profile := obj{
		"title":                   "",
		"phone":                   "",
		"skype":                   "",
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.DisplayName,
		"display_name_normalized": u.DisplayName,
		"fields":                  nil,
		"status_text":             "",
		"status_emoji":            "",
		"status_expiration":       0,
		"avatar_hash":             "g" + strings.ToLower(u.ID),
		"first_name":              first,
		"last_name":               last,
		"image_24":                "https://a.slack-edge.com/emulator/" + u.ID + "_24.png",
		"image_48":                "https://a.slack-edge.com/emulator/" + u.ID + "_48.png",
		"image_72":                "https://a.slack-edge.com/emulator/" + u.ID + "_72.png",
		"team":                    s.cfg.TeamID,
	}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	if u.IsBot {
		profile["bot_id"] = s.botID
		profile["api_app_id"] = s.cfg.AppID
		profile["always_active"] = true
	}
	return obj{
		"id":                  u.ID,
		"team_id":             s.cfg.TeamID,
		"name":                u.Name,
		"deleted":             false,
		"color":               "9f69e7",
		"real_name":           u.RealName,
		"tz":                  "Etc/UTC",
		"tz_label":            "Coordinated Universal Time",
		"tz_offset":           0,
		"profile":             profile,
		"is_admin":            false,
		"is_owner":            false,
		"is_primary_owner":    false,
		"is_restricted":       false,
		"is_ultra_restricted": false,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"updated":             u.created.Unix(),
		"is_email_confirmed":  u.Email != "",
	}
}

// apiUsersInfo answers users.info.
func (s *Server) apiUsersInfo(req *apiRequest) (obj, *apiError) {
	u, ok := s.users[req.params.Get("user")]
	if !ok {
		return nil, errCode("user_not_found")
	}
	return obj{"user": s.userJSON(u)}, nil
}

// apiUsersLookupByEmail answers users.lookupByEmail.
func (s *Server) apiUsersLookupByEmail(req *apiRequest) (obj, *apiError) {
	email := strings.TrimSpace(req.params.Get("email"))
	if email == "" {
		return nil, errCode("invalid_arguments")
	}
	for _, id := range s.userOrder {
		u := s.users[id]
		if u.Email != "" && strings.EqualFold(u.Email, email) {
			return obj{"user": s.userJSON(u)}, nil
		}
	}
	return nil, errCode("users_not_found")
}
