package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errRollback ends a transaction function that decided to write nothing:
// tx rolls back and returns nil.
var errRollback = errors.New("rollback")

// maxAttempts is how many times tx runs a transaction that lost a race
// the database detected (a deadlock, a serialization failure, a unique
// constraint another replica's commit met first).
const maxAttempts = 5

// tx runs fn in a read-committed transaction and commits it, unless fn
// returns errRollback. A transaction that fails on a deadlock, a
// serialization failure or a unique violation is run again (fn too, with
// the state it then finds), up to maxAttempts times.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range maxAttempts {
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(tx) })
		if errors.Is(err, errRollback) {
			return nil
		}
		if !retryable(err) {
			return err
		}
	}
	return err
}

// retryable reports whether err is a race lost in the database that a new
// attempt resolves.
func retryable(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return false
	}
	switch pe.Code {
	case "40001", "40P01", "23505": // serialization_failure, deadlock_detected, unique_violation
		return true
	}
	return false
}

// CreateIncident assigns inc the next id (1, 2, 3..., from a counter row
// updated in the creating transaction, so an id is never skipped), stores
// it with events (their IncidentID set, Seq assigned, a repeated
// non-empty DedupKey stored once) and the channel index in one
// transaction, and returns a copy of what it stored with created=true.
// inc.ID is set to the new id too; inc is otherwise left alone.
//
// If dedupKey != "" and a CreateIncident with that key was committed
// before, by this replica or another, nothing is written and it returns
// the current state of that incident with created=false.
//
// It fails with EConflict when inc.ChannelID already belongs to another
// incident, with EUnavailable when the database cannot be written (closed,
// read-only, unreachable), and with ctx's error if ctx is done first.
func (db *DB) CreateIncident(ctx context.Context, inc *incidentbot.Incident, dedupKey string, events ...incidentbot.TimelineEvent) (stored *incidentbot.Incident, created bool, err error) {
	const op = "store: create incident"
	if err := db.writable(ctx, op); err != nil {
		return nil, false, err
	}
	if inc == nil {
		return nil, false, fmt.Errorf("%s: no incident given", op)
	}
	start := time.Now()
	var userErr error
	err = db.tx(ctx, func(tx pgx.Tx) error {
		stored, created, userErr = nil, false, nil
		// The counter row's lock serialises creations across replicas;
		// what follows reads what the creations before committed.
		var id int64
		if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value`).Scan(&id); err != nil {
			return err
		}
		if dedupKey != "" {
			var existing int64
			err := tx.QueryRow(ctx, `SELECT incident_id FROM incident_creates WHERE dedup_key = $1`, dedupKey).Scan(&existing)
			if err == nil {
				stored, userErr = getIncident(ctx, tx, existing, op)
				return errRollback
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		c := inc.Clone()
		if c.ChannelID != "" {
			owner, err := channelOwner(ctx, tx, c.ChannelID)
			if err != nil {
				return err
			}
			if owner != 0 {
				userErr = channelTaken(op, c.ChannelID, owner)
				return errRollback
			}
		}
		c.ID = id
		body, err := json.Marshal(c)
		if err != nil {
			return &incidentbot.Error{Code: incidentbot.EInternal, Message: "the incident cannot be encoded", Op: op, Err: err}
		}
		head := timelineHead{}
		rows, err := head.add(id, nil, events)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO incidents (id, body, channel_id, open, event_count, last_ts) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6)`,
			id, string(body), c.ChannelID, !c.Resolved(), head.count, head.lastTS)
		if dedupKey != "" {
			b.Queue(`INSERT INTO incident_creates (dedup_key, incident_id) VALUES ($1, $2)`, dedupKey, id)
		}
		rows.queue(b)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		stored, created = c, true
		return nil
	})
	db.observe(start, err)
	if err != nil {
		return nil, false, db.writeError(op, err)
	}
	if userErr != nil {
		return nil, false, userErr
	}
	inc.ID = stored.ID
	return stored.Clone(), created, nil
}

// UpdateIncident locks incident id's row (so that updates from every
// replica are serialised), calls fn with a private copy and, if fn returns
// nil, stores the copy and the events fn returned (IncidentID set, Seq
// assigned; events whose non-empty DedupKey is already stored are skipped)
// in one transaction. The channel index follows a changed ChannelID. fn
// cannot change the id: it is set back. It returns a copy of the stored
// incident with applied=true.
//
// The calls that arrive while this replica commits the previous group of
// updates share the next transaction (group commit): each incident's row
// is locked once, the calls' fns run one after the other in arrival order,
// each on a copy of the incident as the calls before it left it, and the
// result is written with all their events and dedup keys. A call that
// fails (fn's error, a dedup key already applied, a taken channel, a lost
// fence) leaves the others and its copy is dropped; if the transaction
// itself fails, each call runs again alone.
//
// fn may be called more than once (when the transaction lost a race the
// database detected and runs again), each time with a fresh copy; it must
// have no side effects beyond its argument and must not call the store. If
// fn returns an error, nothing is written for this call and that error is
// returned unchanged.
//
// If dedupKey != "" and was already applied to this incident, fn is not
// called and it returns the current incident with applied=false.
//
// A ctx that carries a fence (incidentbot.ContextWithFence) makes the
// update conditional on that lease: it fails with EConflict, writing
// nothing, when the lease is no longer held at the fence's epoch.
//
// It fails with ENotFound ("INC-7 does not exist") for a missing incident,
// with EConflict when the new ChannelID belongs to another incident, with
// EUnavailable when the database cannot be written, and with ctx's error if
// ctx is done first.
func (db *DB) UpdateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (inc *incidentbot.Incident, applied bool, err error) {
	op := fmt.Sprintf("store: update %s", incidentbot.IncidentKey(id))
	if err := db.writable(ctx, op); err != nil {
		return nil, false, err
	}
	start := time.Now()
	if db.update != nil && !db.singleUpdates {
		cl := &updateCall{ctx: ctx, op: op, id: id, key: dedupKey, fn: fn, done: make(chan struct{})}
		cl.fence, cl.fenced = incidentbot.FenceFrom(ctx)
		if err := db.update.run(cl); err != nil {
			db.observe(start, err)
			return nil, false, err
		}
		if !cl.alone {
			db.observe(start, cl.dbErr)
			if cl.err != nil {
				return nil, false, cl.err
			}
			return cl.inc.Clone(), cl.applied, nil
		}
	}
	return db.updateAlone(ctx, op, start, id, dedupKey, fn)
}

// updateAlone is UpdateIncident in a transaction of its own, retried when
// it loses a race the database detects; it tells OnWrite of the time since
// start. It is the path of a call that its group could not commit, and of
// every call when singleUpdates is set.
func (db *DB) updateAlone(ctx context.Context, op string, start time.Time, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (inc *incidentbot.Incident, applied bool, err error) {
	var userErr error
	err = db.tx(ctx, func(tx pgx.Tx) error {
		inc, applied, userErr = nil, false, nil
		if err := checkFence(ctx, tx, op); err != nil {
			if incidentbot.ErrorCode(err) == incidentbot.EConflict {
				userErr = err
				return errRollback
			}
			return err
		}
		var (
			raw  []byte
			head timelineHead
		)
		err := tx.QueryRow(ctx, `SELECT body, event_count, last_ts FROM incidents WHERE id = $1 FOR UPDATE`, id).Scan(&raw, &head.count, &head.lastTS)
		if errors.Is(err, pgx.ErrNoRows) {
			userErr = notFound(op, id)
			return errRollback
		}
		if err != nil {
			return err
		}
		prev, err := decodeIncident(raw, id, op)
		if err != nil {
			userErr = err
			return errRollback
		}
		if dedupKey != "" {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM incident_commands WHERE incident_id = $1 AND dedup_key = $2)`, id, dedupKey).Scan(&done); err != nil {
				return err
			}
			if done {
				inc = prev
				return errRollback
			}
		}
		c := prev.Clone()
		evs, err := fn(c)
		if err != nil {
			userErr = err
			return errRollback
		}
		c.ID = id
		if c.ChannelID != "" && c.ChannelID != prev.ChannelID {
			owner, err := channelOwner(ctx, tx, c.ChannelID)
			if err != nil {
				return err
			}
			if owner != 0 && owner != id {
				userErr = channelTaken(op, c.ChannelID, owner)
				return errRollback
			}
		}
		stored, err := storedKeys(ctx, tx, id, evs)
		if err != nil {
			return err
		}
		rows, err := head.add(id, stored, evs)
		if err != nil {
			return err
		}
		body, err := json.Marshal(c)
		if err != nil {
			return &incidentbot.Error{Code: incidentbot.EInternal, Message: "the incident cannot be encoded", Op: op, Err: err}
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE incidents SET body = $2, channel_id = NULLIF($3, ''), open = $4, event_count = $5, last_ts = $6, updated_at = now() WHERE id = $1`,
			id, string(body), c.ChannelID, !c.Resolved(), head.count, head.lastTS)
		rows.queue(b)
		if dedupKey != "" {
			b.Queue(`INSERT INTO incident_commands (incident_id, dedup_key) VALUES ($1, $2)`, id, dedupKey)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		inc, applied = c, true
		return nil
	})
	db.observe(start, err)
	if err != nil {
		return nil, false, db.writeError(op, err)
	}
	if userErr != nil {
		return nil, false, userErr
	}
	return inc.Clone(), applied, nil
}

// Incident returns a copy of incident id. It fails with ENotFound when
// there is no such incident, with EUnavailable when the database cannot be
// reached, and with ctx's error if ctx is done.
func (db *DB) Incident(ctx context.Context, id int64) (*incidentbot.Incident, error) {
	op := fmt.Sprintf("store: read %s", incidentbot.IncidentKey(id))
	if err := db.readable(ctx, op); err != nil {
		return nil, err
	}
	inc, err := getIncident(ctx, db.pool, id, op)
	if err != nil {
		return nil, db.readError(op, err)
	}
	return inc, nil
}

// IncidentByChannel returns a copy of the incident whose Slack channel is
// channelID. It fails with ENotFound when no incident uses the channel,
// with EUnavailable when the database cannot be reached, and with ctx's
// error if ctx is done.
func (db *DB) IncidentByChannel(ctx context.Context, channelID string) (*incidentbot.Incident, error) {
	op := fmt.Sprintf("store: find the incident of channel %s", channelID)
	if err := db.readable(ctx, op); err != nil {
		return nil, err
	}
	var (
		id  int64
		raw []byte
	)
	err := db.pool.QueryRow(ctx, `SELECT id, body FROM incidents WHERE channel_id = $1`, channelID).Scan(&id, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &incidentbot.Error{Code: incidentbot.ENotFound, Message: "this channel is not an incident channel", Op: op}
	}
	if err != nil {
		return nil, db.readError(op, err)
	}
	return decodeIncident(raw, id, op)
}

// Incidents returns copies of all incidents, or of those not resolved when
// openOnly, ordered by id. It fails when the database cannot be read
// (EUnavailable when unreachable) or a record cannot be decoded, and with
// ctx's error if ctx is done.
func (db *DB) Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error) {
	const op = "store: list incidents"
	if err := db.readable(ctx, op); err != nil {
		return nil, err
	}
	q := `SELECT id, body FROM incidents ORDER BY id`
	if openOnly {
		q = `SELECT id, body FROM incidents WHERE open ORDER BY id`
	}
	out, err := scanIncidents(ctx, db.pool, q, op)
	if err != nil {
		return nil, db.readError(op, err)
	}
	return out, nil
}

// IncidentsChangedSince returns copies of the incidents created or
// updated at or after since by the database's clock, ordered by id, and
// the database's time when it read them. Another replica's writes become
// visible to the holder of the scheduler lease this way: it passes the
// time returned, less a margin for the transactions that were still in
// flight (a row's time is its transaction's start), as since next time.
// It fails as Incidents does.
func (db *DB) IncidentsChangedSince(ctx context.Context, since time.Time) ([]*incidentbot.Incident, time.Time, error) {
	const op = "store: list the incidents changed recently"
	if err := db.readable(ctx, op); err != nil {
		return nil, time.Time{}, err
	}
	var (
		out []*incidentbot.Incident
		now time.Time
	)
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, body FROM incidents WHERE updated_at >= $1 ORDER BY id`, since)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id  int64
				raw []byte
			)
			if err := rows.Scan(&id, &raw); err != nil {
				return err
			}
			inc, err := decodeIncident(raw, id, op)
			if err != nil {
				return err
			}
			out = append(out, inc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, time.Time{}, db.readError(op, err)
	}
	return out, now, nil
}

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanIncidents runs q, which selects id and body, and decodes the rows.
func scanIncidents(ctx context.Context, q querier, sql, op string) ([]*incidentbot.Incident, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*incidentbot.Incident
	for rows.Next() {
		var (
			id  int64
			raw []byte
		)
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		inc, err := decodeIncident(raw, id, op)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// getIncident reads and decodes incident id: ENotFound when it is missing.
func getIncident(ctx context.Context, q querier, id int64, op string) (*incidentbot.Incident, error) {
	var raw []byte
	err := q.QueryRow(ctx, `SELECT body FROM incidents WHERE id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, id)
	}
	if err != nil {
		return nil, err
	}
	return decodeIncident(raw, id, op)
}

// decodeIncident decodes a stored incident.
func decodeIncident(raw []byte, id int64, op string) (*incidentbot.Incident, error) {
	inc := new(incidentbot.Incident)
	if err := json.Unmarshal(raw, inc); err != nil {
		return nil, fmt.Errorf("%s: decode %s: %w", op, incidentbot.IncidentKey(id), err)
	}
	inc.ID = id
	return inc, nil
}

// channelOwner returns the id of the incident using channelID, or 0.
func channelOwner(ctx context.Context, q querier, channelID string) (int64, error) {
	var owner int64
	err := q.QueryRow(ctx, `SELECT id FROM incidents WHERE channel_id = $1`, channelID).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return owner, err
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
