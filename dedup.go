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

// Keys made from a Slack ts are "" when the ts is empty: events without one
// cannot be told apart by it, and must not all share one key (the first
// would hide every later one). The bot keys a message without ts by its
// delivery's event id instead (EventKey).

// MessageKey is the key of a new message or thread reply (files included)
// with Slack timestamp ts, from an event or from the backfill: "msg:<ts>";
// "" for an empty ts.
func MessageKey(ts string) string { return keyOf("msg:", ts) }

// EditKey is the key of one edit of the message ts, made at editTS (the
// edit's own timestamp, or the event's when Slack gives none):
// "edit:<ts>:<editTS>". Two edits of a message are two events. "" for an
// empty ts.
func EditKey(ts, editTS string) string { return keyOf("edit:", ts, ":"+editTS) }

// DeleteKey is the key of the deletion of the message ts: "del:<ts>"; ""
// for an empty ts.
func DeleteKey(ts string) string { return keyOf("del:", ts) }

// ReactionKey is the key of user's :pushpin: reaction to the message ts,
// which marks a key event: "react:<ts>:<user>"; "" for an empty ts.
func ReactionKey(ts, user string) string { return keyOf("react:", ts, ":"+user) }

// FileReactionKey is the key of user's :pushpin: reaction to the file
// fileID itself (not to the message that shared it):
// "react:file:<fileID>:<user>"; "" for an empty fileID.
func FileReactionKey(fileID, user string) string { return keyOf("react:file:", fileID, ":"+user) }

// PinKey is the key of pinning the message ts: "pin:<ts>"; "" for an empty
// ts.
func PinKey(ts string) string { return keyOf("pin:", ts) }

// TimelineAddKey is the key of adding the message ts of channel, from
// outside the incident channel, to an incident's timeline with the message
// shortcut: "added:<channel>:<ts>". It is per message, not per user: a
// message is added to an incident once, whoever adds it again. "" when
// channel or ts is empty.
func TimelineAddKey(channel, ts string) string {
	if channel == "" || ts == "" {
		return ""
	}
	return "added:" + channel + ":" + ts
}

// EventKey is the key of an Events API delivery by its event_id, which
// Slack keeps across redeliveries: "event:<eventID>". It keys what has no
// ts to be keyed by (a message without ts). "" for an empty id.
func EventKey(eventID string) string { return keyOf("event:", eventID) }

// keyOf is prefix+id+suffix, or "" when id is empty.
func keyOf(prefix, id string, suffix ...string) string {
	if id == "" {
		return ""
	}
	s := prefix + id
	for _, x := range suffix {
		s += x
	}
	return s
}

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
