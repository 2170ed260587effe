package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// CreateIncident assigns inc an id from a sequence (1, 2, 3...), stores it
// with events (their IncidentID set to the new id, Seq assigned) in one
// durable transaction, indexes inc.ChannelID if set, and returns a copy of
// what it stored with created=true. inc.ID is set to the new id too; inc is
// otherwise left alone.
//
// If dedupKey != "" and a CreateIncident with that key was committed before
// (Slack redelivered the command), nothing is written and it returns the
// current state of the incident created then, with created=false. Events
// with the same non-empty DedupKey are stored once.
//
// It fails with EConflict when inc.ChannelID already belongs to another
// incident, with EUnavailable when the database cannot be written, and with
// ctx's error if ctx is done before it starts.
func (db *DB) CreateIncident(ctx context.Context, inc *incidentbot.Incident, dedupKey string, events ...incidentbot.TimelineEvent) (stored *incidentbot.Incident, created bool, err error) {
	const op = "store: create incident"
	if err := ctxErr(ctx, op); err != nil {
		return nil, false, err
	}
	if inc == nil {
		return nil, false, fmt.Errorf("%s: no incident given", op)
	}
	var userErr error
	err = db.write(op, func(tx *bolt.Tx) error {
		stored, created, userErr = nil, false, nil
		if dedupKey != "" {
			if raw := tx.Bucket(bucketCreates).Get([]byte(dedupKey)); raw != nil {
				stored, userErr = getIncident(tx, int64(btoi(raw)), op)
				return nil
			}
		}
		c := inc.Clone()
		if c.ChannelID != "" {
			if owner := tx.Bucket(bucketChannels).Get([]byte(c.ChannelID)); owner != nil {
				userErr = channelTaken(op, c.ChannelID, int64(btoi(owner)))
				return nil
			}
		}

		// Checks are done: from here on, only storage fails.
		seq, err := tx.Bucket(bucketIncidents).NextSequence()
		if err != nil {
			return err
		}
		c.ID = int64(seq)
		if err := putIncident(tx, c, nil); err != nil {
			return err
		}
		tl, err := createTimeline(tx, c.ID)
		if err != nil {
			return err
		}
		for i := range events {
			ev := events[i]
			ev.IncidentID = c.ID
			if _, err := tl.append(&ev); err != nil {
				return err
			}
		}
		if err := tl.finish(); err != nil {
			return err
		}
		if dedupKey != "" {
			if err := tx.Bucket(bucketCreates).Put([]byte(dedupKey), itob(seq)); err != nil {
				return err
			}
		}
		stored, created = c, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if userErr != nil {
		return nil, false, userErr
	}
	inc.ID = stored.ID
	return stored.Clone(), created, nil
}

// UpdateIncident loads incident id, calls fn with a private copy and, if fn
// returns nil, stores the copy and the events fn returned (IncidentID set,
// Seq assigned; events whose non-empty DedupKey is already stored are
// skipped) in one durable transaction. The channel index follows a changed
// ChannelID. fn cannot change the id: it is set back. It returns a copy of
// the stored incident with applied=true.
//
// fn may be called more than once (when a batch shared with other writers is
// retried), each time with a fresh copy; it must have no side effects beyond
// its argument. If fn returns an error, nothing is written and that error is
// returned unchanged.
//
// If dedupKey != "" and was already applied to this incident, fn is not
// called and it returns the current incident with applied=false.
//
// It fails with ENotFound ("INC-7 does not exist") for a missing incident,
// with EConflict when the new ChannelID belongs to another incident, with
// EUnavailable when the database cannot be written, and with ctx's error if
// ctx is done before it starts.
func (db *DB) UpdateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (inc *incidentbot.Incident, applied bool, err error) {
	op := fmt.Sprintf("store: update %s", incidentbot.IncidentKey(id))
	if err := ctxErr(ctx, op); err != nil {
		return nil, false, err
	}
	var userErr error
	err = db.write(op, func(tx *bolt.Tx) error {
		inc, applied, userErr = nil, false, nil
		prev, err := getIncident(tx, id, op)
		if err != nil {
			userErr = err
			return nil
		}
		tl := openTimeline(tx, id)
		if tl == nil {
			userErr = fmt.Errorf("%s: the incident has no timeline bucket", op)
			return nil
		}
		if dedupKey != "" && tl.applied.Get([]byte(dedupKey)) != nil {
			inc = prev
			return nil
		}
		c := prev.Clone()
		evs, err := fn(c)
		if err != nil {
			userErr = err
			return nil
		}
		c.ID = id
		if c.ChannelID != "" && c.ChannelID != prev.ChannelID {
			if owner := tx.Bucket(bucketChannels).Get([]byte(c.ChannelID)); owner != nil && int64(btoi(owner)) != id {
				userErr = channelTaken(op, c.ChannelID, int64(btoi(owner)))
				return nil
			}
		}

		// Checks are done: from here on, only storage fails.
		if err := putIncident(tx, c, prev); err != nil {
			return err
		}
		for i := range evs {
			ev := evs[i]
			ev.IncidentID = id
			if _, err := tl.append(&ev); err != nil {
				return err
			}
		}
		if err := tl.finish(); err != nil {
			return err
		}
		if dedupKey != "" {
			if err := tl.applied.Put([]byte(dedupKey), itob(tl.events.Sequence())); err != nil {
				return err
			}
		}
		inc, applied = c, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if userErr != nil {
		return nil, false, userErr
	}
	return inc.Clone(), applied, nil
}

// Incident returns a copy of incident id. It fails with ENotFound when there
// is no such incident, and with ctx's error if ctx is done.
func (db *DB) Incident(ctx context.Context, id int64) (*incidentbot.Incident, error) {
	op := fmt.Sprintf("store: read %s", incidentbot.IncidentKey(id))
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	var inc *incidentbot.Incident
	err := db.view(op, func(tx *bolt.Tx) error {
		var err error
		inc, err = getIncident(tx, id, op)
		return err
	})
	return inc, err
}

// IncidentByChannel returns a copy of the incident whose Slack channel is
// channelID. It fails with ENotFound when no incident uses the channel, and
// with ctx's error if ctx is done.
func (db *DB) IncidentByChannel(ctx context.Context, channelID string) (*incidentbot.Incident, error) {
	op := fmt.Sprintf("store: find the incident of channel %s", channelID)
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	var inc *incidentbot.Incident
	err := db.view(op, func(tx *bolt.Tx) error {
		var raw []byte
		if channelID != "" {
			raw = tx.Bucket(bucketChannels).Get([]byte(channelID))
		}
		if raw == nil {
			return &incidentbot.Error{
				Code:    incidentbot.ENotFound,
				Message: "this channel is not an incident channel",
				Op:      op,
			}
		}
		var err error
		inc, err = getIncident(tx, int64(btoi(raw)), op)
		return err
	})
	return inc, err
}

// Incidents returns copies of all incidents, or of those not resolved when
// openOnly, ordered by id. It fails only when the file cannot be read or a
// record cannot be decoded, and with ctx's error if ctx is done.
func (db *DB) Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error) {
	const op = "store: list incidents"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	var out []*incidentbot.Incident
	err := db.view(op, func(tx *bolt.Tx) error {
		incidents := tx.Bucket(bucketIncidents)
		if openOnly {
			return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
				inc, err := decodeIncident(incidents.Get(k), int64(btoi(k)), op)
				if err != nil {
					return err
				}
				out = append(out, inc)
				return nil
			})
		}
		return incidents.ForEach(func(k, v []byte) error {
			inc, err := decodeIncident(v, int64(btoi(k)), op)
			if err != nil {
				return err
			}
			out = append(out, inc)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getIncident reads and decodes incident id: ENotFound when it is missing.
func getIncident(tx *bolt.Tx, id int64, op string) (*incidentbot.Incident, error) {
	if id <= 0 {
		return nil, notFound(op, id)
	}
	return decodeIncident(tx.Bucket(bucketIncidents).Get(itob(uint64(id))), id, op)
}

// decodeIncident decodes a stored incident; raw nil means it is missing.
func decodeIncident(raw []byte, id int64, op string) (*incidentbot.Incident, error) {
	if raw == nil {
		return nil, notFound(op, id)
	}
	inc := new(incidentbot.Incident)
	if err := json.Unmarshal(raw, inc); err != nil {
		return nil, fmt.Errorf("%s: decode %s: %w", op, incidentbot.IncidentKey(id), err)
	}
	return inc, nil
}

// putIncident stores inc and keeps the open and channel indexes in step with
// it; prev is the stored version it replaces, nil for a new incident. An
// unchanged incident is not written again.
func putIncident(tx *bolt.Tx, inc, prev *incidentbot.Incident) error {
	raw, err := json.Marshal(inc)
	if err != nil {
		return &encodeError{err}
	}
	key := itob(uint64(inc.ID))
	incidents := tx.Bucket(bucketIncidents)
	if prev == nil || string(incidents.Get(key)) != string(raw) {
		if err := incidents.Put(key, raw); err != nil {
			return err
		}
	}
	if prev == nil || prev.Resolved() != inc.Resolved() {
		open := tx.Bucket(bucketOpen)
		if inc.Resolved() {
			err = open.Delete(key)
		} else {
			err = open.Put(key, []byte{})
		}
		if err != nil {
			return err
		}
	}
	channels := tx.Bucket(bucketChannels)
	if prev != nil && prev.ChannelID != "" && prev.ChannelID != inc.ChannelID {
		if owner := channels.Get([]byte(prev.ChannelID)); int64(btoi(owner)) == inc.ID {
			if err := channels.Delete([]byte(prev.ChannelID)); err != nil {
				return err
			}
		}
	}
	if inc.ChannelID != "" && (prev == nil || prev.ChannelID != inc.ChannelID) {
		if err := channels.Put([]byte(inc.ChannelID), key); err != nil {
			return err
		}
	}
	return nil
}

// notFound is the error for a missing incident.
func notFound(op string, id int64) error {
	return &incidentbot.Error{
		Code:    incidentbot.ENotFound,
		Message: fmt.Sprintf("%s does not exist", incidentbot.IncidentKey(id)),
		Op:      op,
	}
}

// channelTaken is the error for a channel that another incident uses.
func channelTaken(op, channelID string, owner int64) error {
	return &incidentbot.Error{
		Code:    incidentbot.EConflict,
		Message: fmt.Sprintf("channel %s already belongs to %s", channelID, incidentbot.IncidentKey(owner)),
		Op:      op,
	}
}
