package pagerdutyemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the Events API v2, from PagerDuty's documentation.
const (
	routingKeyLen = 32
	maxDedupKey   = 255
	maxSummary    = 1024
)

// AlertStatus is the state of an emulated alert.
type AlertStatus string

// Alert states, as PagerDuty names them.
const (
	Triggered    AlertStatus = "triggered"
	Acknowledged AlertStatus = "acknowledged"
	Resolved     AlertStatus = "resolved"
)

// Link is a link attached to an event.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Image is an image attached to an event.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// Event is one event that /v2/enqueue accepted (answered 202).
type Event struct {
	Action     string // trigger, acknowledge or resolve
	RoutingKey string
	DedupKey   string // as sent, or generated for a trigger without one
	Summary    string
	Source     string
	Severity   string // critical, error, warning or info; empty unless trigger
	Component  string
	Group      string
	Class      string
	Timestamp  string
	Details    map[string]any // payload.custom_details
	Links      []Link
	Images     []Image
	Client     string
	ClientURL  string
	Received   time.Time
	// Dropped is true for an acknowledge or resolve that found no open alert
	// with its dedup key and routing key; PagerDuty accepts and ignores those.
	Dropped bool
}

// Alert is the state of the latest alert with a dedup key.
type Alert struct {
	DedupKey    string
	RoutingKey  string
	Status      AlertStatus
	Summary     string // of the latest trigger
	Severity    string // of the latest trigger
	Triggers    int    // trigger events applied to this alert
	TriggeredAt time.Time
	UpdatedAt   time.Time
}

// Events returns a copy of every accepted event, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, e := range s.events {
		out[i] = e
		out[i].Details = maps.Clone(e.Details)
		out[i].Links = append([]Link(nil), e.Links...)
		out[i].Images = append([]Image(nil), e.Images...)
	}
	return out
}

// Alerts returns the state of the latest alert for each dedup key. As in
// PagerDuty, a trigger after a resolve opens a new alert, which replaces the
// resolved one here.
func (s *Server) Alerts() map[string]Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Alert, len(s.alerts))
	for k, a := range s.alerts {
		out[k] = *a
	}
	return out
}

// eventBody is the JSON an Events API v2 client sends.
type eventBody struct {
	RoutingKey  *string       `json:"routing_key"`
	EventAction *string       `json:"event_action"`
	DedupKey    *string       `json:"dedup_key"`
	Payload     *eventPayload `json:"payload"`
	Client      string        `json:"client"`
	ClientURL   string        `json:"client_url"`
	Links       []Link        `json:"links"`
	Images      []Image       `json:"images"`
}

type eventPayload struct {
	Summary       *string         `json:"summary"`
	Source        *string         `json:"source"`
	Severity      *string         `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// writeEventError answers the Events API's error object.
func writeEventError(w http.ResponseWriter, status int, st, message string, errs ...string) {
	writeJSON(w, status, struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors,omitempty"`
	}{st, message, errs})
}

// routingKeyFormatErrors checks the form PagerDuty requires of a routing key.
func routingKeyFormatErrors(k string) []string {
	if k == "" {
		return []string{"'routing_key' is missing or blank"}
	}
	var errs []string
	if len(k) != routingKeyLen {
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			errs = append(errs, "'routing_key' cannot contain non-alphanumeric characters.")
			break
		}
	}
	return errs
}

func blank(p *string) bool { return p == nil || strings.TrimSpace(*p) == "" }

// handleEnqueue serves POST /v2/enqueue.
func (s *Server) handleEnqueue(w http.ResponseWriter, r *http.Request) {
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(r.Body); err != nil || raw.Len() > maxBody {
		writeEventError(w, http.StatusBadRequest, "invalid event", "Event object is invalid", "Event is larger than 512 KB")
		return
	}
	var body eventBody
	dec := json.NewDecoder(&raw)
	if err := dec.Decode(&body); err != nil {
		writeEventError(w, http.StatusBadRequest, "Unrecognized object", "Event object format is unrecognized", "JSON parse error")
		return
	}

	ev, errs := s.validate(&body)
	if len(errs) > 0 {
		writeEventError(w, http.StatusBadRequest, "invalid event", "Event object is invalid", errs...)
		return
	}
	if ev.Action == "trigger" && ev.DedupKey == "" {
		ev.DedupKey = newDedupKey()
	}
	ev.Received = s.now()
	s.apply(&ev)
	writeJSON(w, http.StatusAccepted, map[string]string{
		"status":    "success",
		"message":   "Event processed",
		"dedup_key": ev.DedupKey,
	})
}

// validate checks an event as PagerDuty does, collecting every problem.
func (s *Server) validate(b *eventBody) (Event, []string) {
	var errs []string
	var ev Event

	if b.RoutingKey == nil || *b.RoutingKey == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	} else if fe := routingKeyFormatErrors(*b.RoutingKey); len(fe) > 0 {
		errs = append(errs, fe...)
	} else if !s.knownKey(*b.RoutingKey) {
		errs = append(errs, "Invalid routing key")
	} else {
		ev.RoutingKey = *b.RoutingKey
	}

	switch {
	case blank(b.EventAction):
		errs = append(errs, "'event_action' is missing or blank")
	case *b.EventAction == "trigger" || *b.EventAction == "acknowledge" || *b.EventAction == "resolve":
		ev.Action = *b.EventAction
	default:
		errs = append(errs, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
	}

	if b.DedupKey != nil {
		ev.DedupKey = *b.DedupKey
	}
	if utf8.RuneCountInString(ev.DedupKey) > maxDedupKey {
		errs = append(errs, "Length of 'dedup_key' is too long (maximum is 255 characters)")
	}
	if ev.Action != "" && ev.Action != "trigger" && blank(b.DedupKey) {
		errs = append(errs, "'dedup_key' is missing or blank")
	}

	if ev.Action == "trigger" {
		errs = append(errs, validatePayload(b.Payload, &ev)...)
		for i, l := range b.Links {
			if strings.TrimSpace(l.Href) == "" {
				errs = append(errs, fmt.Sprintf("'links[%d].href' is missing or blank", i))
			}
		}
		for i, im := range b.Images {
			if strings.TrimSpace(im.Src) == "" {
				errs = append(errs, fmt.Sprintf("'images[%d].src' is missing or blank", i))
			}
		}
		ev.Links = b.Links
		ev.Images = b.Images
		ev.Client = b.Client
		ev.ClientURL = b.ClientURL
	}
	return ev, errs
}

// validatePayload checks the payload of a trigger event and copies it to ev.
func validatePayload(p *eventPayload, ev *Event) []string {
	if p == nil {
		return []string{"'payload' is missing or blank"}
	}
	var errs []string
	switch {
	case blank(p.Summary):
		errs = append(errs, "'payload.summary' is missing or blank")
	case utf8.RuneCountInString(*p.Summary) > maxSummary:
		errs = append(errs, "Length of 'payload.summary' is too long (maximum is 1024 characters)")
	default:
		ev.Summary = *p.Summary
	}
	if blank(p.Source) {
		errs = append(errs, "'payload.source' is missing or blank")
	} else {
		ev.Source = *p.Source
	}
	switch {
	case blank(p.Severity):
		errs = append(errs, "'payload.severity' is missing or blank")
	case *p.Severity == "critical" || *p.Severity == "error" || *p.Severity == "warning" || *p.Severity == "info":
		ev.Severity = *p.Severity
	default:
		errs = append(errs, "'payload.severity' is invalid (must be one of: critical, error, warning, info)")
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			if _, err := time.Parse("2006-01-02T15:04:05.000-0700", p.Timestamp); err != nil {
				errs = append(errs, "'payload.timestamp' is invalid (must be an ISO 8601 date-time)")
			}
		}
	}
	ev.Timestamp = p.Timestamp
	if len(p.CustomDetails) > 0 && string(p.CustomDetails) != "null" {
		if err := json.Unmarshal(p.CustomDetails, &ev.Details); err != nil {
			errs = append(errs, "'payload.custom_details' must be an object")
		}
	}
	ev.Component, ev.Group, ev.Class = p.Component, p.Group, p.Class
	return errs
}

func (s *Server) knownKey(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k]
}

// apply records an accepted event and changes the alert it names, following
// PagerDuty's de-duplication rules: a trigger opens an alert or adds to the
// open one; acknowledge and resolve act on the open alert sent through the
// same routing key and are dropped otherwise.
func (s *Server) apply(ev *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.alerts[ev.DedupKey]
	open := a != nil && a.Status != Resolved && a.RoutingKey == ev.RoutingKey
	switch ev.Action {
	case "trigger":
		if !open {
			a = &Alert{DedupKey: ev.DedupKey, RoutingKey: ev.RoutingKey, Status: Triggered, TriggeredAt: ev.Received}
			s.alerts[ev.DedupKey] = a
		}
		a.Triggers++
		a.Summary, a.Severity = ev.Summary, ev.Severity
		a.UpdatedAt = ev.Received
	case "acknowledge":
		if open {
			a.Status = Acknowledged
			a.UpdatedAt = ev.Received
		} else {
			ev.Dropped = true
		}
	case "resolve":
		if open {
			a.Status = Resolved
			a.UpdatedAt = ev.Received
		} else {
			ev.Dropped = true
		}
	}
	s.events = append(s.events, *ev)
}

// newDedupKey returns a random 32-hex-digit key, as PagerDuty generates for a
// trigger without one.
func newDedupKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
