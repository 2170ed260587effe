// Package store is incidentbot's durable record: incidents, their timelines
// and the users the bot knows, kept in one bbolt file.
//
// Writes use group commit, so that concurrent callers (the bot handles
// Slack envelopes concurrently) share one transaction and one fsync, and it
// is adaptive: a write that finds no commit running commits at once, alone,
// and the writes that arrive while a commit runs (mostly waiting for its
// fsync) share the next one. A lone write thus costs one fsync and no wait;
// a burst still shares fsyncs, in groups that grow with the load. A write
// is on disk when the method returns, which is what lets the bot
// acknowledge an envelope only after what it carries is committed.
//
// As with bbolt's DB.Batch, a group whose function fails is rolled back and
// committed again without it, and the failed function runs again alone, so
// the functions written here never fail for a caller's reason (an unknown
// incident, a duplicate, a rejected change): they check everything before
// writing anything, keep the caller's error aside, write nothing and return
// nil. Only storage failures fail a group.
//
// Errors are *incidentbot.Error values where a caller can act on the code:
// ENotFound for a missing incident, EConflict for a channel that already
// belongs to another incident, EUnavailable when the file cannot be written
// (disk full, read-only file system, I/O error) or is locked by another
// process. Other failures are wrapped with the operation.
//
// # Layout
//
// Integers in keys are 8-byte big-endian, so that keys sort numerically.
// Values are JSON of the domain types (encoding/json, which is deterministic
// for structs and sorts map keys).
//
//	meta
//	    schema_version        "1" (ASCII decimal); Open refuses a newer one
//	incidents                 sequence: the last incident id handed out
//	    <id>                  JSON incidentbot.Incident
//	open
//	    <id>                  empty; one key per incident not resolved
//	channels
//	    <channel id>          <id> of the incident using the channel
//	creates
//	    <dedup key>           <id> created by CreateIncident with that key
//	users
//	    <user id>             JSON incidentbot.User
//	timeline
//	    <id>                  one bucket per incident, created with it
//	        events            sequence: the number of events stored
//	            <seq>         JSON incidentbot.TimelineEvent
//	        dedup
//	            <dedup key>   <seq> of the event stored with that key
//	        applied
//	            <dedup key>   events' sequence after UpdateIncident applied it
//	        last_ts           greatest Slack ts among stored message events
//	gaps                      sequence: the last gap id; created by the first
//	                          RecordGap, so older files open unchanged
//	    <gap id>              JSON incidentbot.Gap, one per backfill gap pending
//
// Events are never deleted, so an incident's event count is the sequence of
// its events bucket, and Open reads nothing but the meta bucket: start-up
// time does not grow with the number of incidents or events.
package store
