package incidentbot

// Dedup keys. Slack delivers an event or a command at least once, and the
// backfill after a reconnection reads again what events may already have
// brought; the store writes an event, a command's change or a new incident
// only once per key (TimelineEvent.DedupKey, and the key given to the
// store's CreateIncident and UpdateIncident).
//
// These constructors are the only spelling of those keys. Their formats are
// stored in existing databases and must never change, or redeliveries after
// an upgrade would be recorded twice (dedup_test.go pins them). Event keys
// are scoped to their incident by the store.

// MessageKey is the key of a new message or thread reply (files included)
// with Slack timestamp ts, from an event or from the backfill: "msg:<ts>".
func MessageKey(ts string) string { return "msg:" + ts }

// EditKey is the key of one edit of the message ts, made at editTS (the
// edit's own timestamp, or the event's when Slack gives none):
// "edit:<ts>:<editTS>". Two edits of a message are two events.
func EditKey(ts, editTS string) string { return "edit:" + ts + ":" + editTS }

// DeleteKey is the key of the deletion of the message ts: "del:<ts>".
func DeleteKey(ts string) string { return "del:" + ts }

// ReactionKey is the key of user's :pushpin: reaction to the message ts,
// which marks a key event: "react:<ts>:<user>".
func ReactionKey(ts, user string) string { return "react:" + ts + ":" + user }

// PinKey is the key of pinning the message ts: "pin:<ts>".
func PinKey(ts string) string { return "pin:" + ts }

// CommandKey is the key of the change a slash command makes to an
// incident, from its trigger ID: "cmd:<triggerID>". An empty trigger ID
// gives "", which the store never deduplicates.
func CommandKey(triggerID string) string {
	if triggerID == "" {
		return ""
	}
	return "cmd:" + triggerID
}

// OpenKey is the key of opening an incident, from the trigger ID of
// "/incident open" or the view ID of the submitted form: "open:<id>". An
// empty id gives "", which the store never deduplicates.
func OpenKey(id string) string {
	if id == "" {
		return ""
	}
	return "open:" + id
}
