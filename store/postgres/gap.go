package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
)

// RecordGap records that g.Channel of incident g.IncidentID may have missed
// messages between g.From and g.To (g's other fields are ignored; Recorded
// is g.Recorded, or now when zero). The part of [From, To] that a started
// gap of the channel already covers is dropped, since that gap reads it
// anyway; what is left is merged with the channel's gaps that are not
// started and overlap or touch it, or recorded as a new gap (as
// incidentbot.PlanGap decides). It returns the gaps written (new or
// grown), by From, with their IDs and revisions.
//
// It runs in one transaction that locks the incident's row and then the
// channel's gaps, so that replicas recording gaps of one channel at once
// merge them one after the other, and a SaveGap or CloseGap running
// meanwhile is either seen (a started gap does not grow) or fails with
// EConflict.
//
// It fails with EInvalid when the channel is empty or To is not after From,
// with ENotFound when the incident does not exist, with EUnavailable when
// the database cannot be written (closed, read-only, unreachable), and
// with ctx's error if ctx is done before it starts.
func (db *DB) RecordGap(ctx context.Context, g incidentbot.Gap) ([]incidentbot.Gap, error) {
	op := fmt.Sprintf("store: record a backfill gap of %s", incidentbot.IncidentKey(g.IncidentID))
	if err := db.writable(ctx, op); err != nil {
		return nil, err
	}
	if g.Channel == "" || !g.To.After(g.From) {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: fmt.Sprintf("a backfill gap needs a channel and an end after its start (channel %q, %s to %s)", g.Channel, g.From, g.To)}
	}
	if g.Recorded.IsZero() {
		g.Recorded = time.Now()
	}
	start := time.Now()
	var (
		written []incidentbot.Gap
		userErr error
	)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		written, userErr = nil, nil
		// The incident's row lock serialises the RecordGaps of its
		// channels; FOR NO KEY UPDATE leaves the foreign key checks of
		// the gaps' inserts free.
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM incidents WHERE id = $1 FOR NO KEY UPDATE`, g.IncidentID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			userErr = notFound(op, g.IncidentID)
			return errRollback
		}
		if err != nil {
			return err
		}
		// The gaps' row locks keep SaveGap and CloseGap from writing a
		// gap between this read and the writes below; a gap they wrote
		// before is read as they left it.
		mine, err := readGaps(ctx, tx, `SELECT id, incident_id, channel, rev, body FROM gaps WHERE incident_id = $1 AND channel = $2 ORDER BY id FOR UPDATE`,
			g.IncidentID, g.Channel)
		if err != nil {
			return err
		}
		plan := incidentbot.PlanGap(mine, incidentbot.Gap{IncidentID: g.IncidentID, Channel: g.Channel, From: g.From, To: g.To, Recorded: g.Recorded})
		if len(plan.Delete) > 0 {
			ids := make([]int64, len(plan.Delete))
			for i, id := range plan.Delete {
				ids[i] = int64(id)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM gaps WHERE id = ANY ($1)`, ids); err != nil {
				return err
			}
		}
		for _, u := range plan.Update {
			body, err := gapBody(u)
			if err != nil {
				return err
			}
			// The rows are locked: the revision cannot have moved.
			var rev int64
			err = tx.QueryRow(ctx, `UPDATE gaps SET body = $2, rev = rev + 1 WHERE id = $1 AND rev = $3 RETURNING rev`, int64(u.ID), body, int64(u.Rev)).Scan(&rev)
			if err != nil {
				return fmt.Errorf("grow gap %d: %w", u.ID, err)
			}
			u.Rev = uint64(rev)
			written = append(written, u)
		}
		for _, n := range plan.Create {
			body, err := gapBody(n)
			if err != nil {
				return err
			}
			var id int64
			err = tx.QueryRow(ctx, `INSERT INTO gaps (incident_id, channel, body, rev) VALUES ($1, $2, $3, 1) RETURNING id`,
				n.IncidentID, n.Channel, body).Scan(&id)
			if err != nil {
				return err
			}
			n.ID, n.Rev = uint64(id), 1
			written = append(written, n)
		}
		sort.Slice(written, func(i, j int) bool { return written[i].From.Before(written[j].From) })
		return nil
	})
	db.observe(start, err)
	if err != nil {
		return nil, db.writeError(op, err)
	}
	if userErr != nil {
		return nil, userErr
	}
	return written, nil
}

// PendingGaps returns the backfill gaps not closed yet, oldest first (by
// ID). It fails with EUnavailable when the database cannot be reached, with
// a wrapped error when a gap cannot be decoded, and with ctx's error if ctx
// is done.
func (db *DB) PendingGaps(ctx context.Context) ([]incidentbot.Gap, error) {
	const op = "store: read the backfill gaps"
	if err := db.readable(ctx, op); err != nil {
		return nil, err
	}
	gs, err := readGaps(ctx, db.pool, `SELECT id, incident_id, channel, rev, body FROM gaps ORDER BY id`)
	if err != nil {
		return nil, db.readError(op, err)
	}
	return gs, nil
}

// SaveGap stores the progress of pending gap g (everything but its ID,
// incident and channel) and returns it with its new revision. g.Rev must be
// the revision read: a gap written since (grown by RecordGap, saved by
// another worker or replica) fails with EConflict and is left as it is, so
// that the caller reads it again; the check and the write are one
// statement. It fails with ENotFound when the gap is closed or never
// existed, with EUnavailable when the database cannot be written, and with
// ctx's error if ctx is done before it starts.
func (db *DB) SaveGap(ctx context.Context, g incidentbot.Gap) (incidentbot.Gap, error) {
	op := fmt.Sprintf("store: save backfill gap %d", g.ID)
	if err := db.writable(ctx, op); err != nil {
		return incidentbot.Gap{}, err
	}
	body, err := gapBody(g)
	if err != nil {
		return incidentbot.Gap{}, fmt.Errorf("%s: %w", op, err)
	}
	start := time.Now()
	saved := g
	var rev int64
	err = db.pool.QueryRow(ctx, `UPDATE gaps SET body = $2, rev = rev + 1 WHERE id = $1 AND rev = $3 RETURNING incident_id, channel, rev`,
		int64(g.ID), body, int64(g.Rev)).Scan(&saved.IncidentID, &saved.Channel, &rev)
	var refused error
	if errors.Is(err, pgx.ErrNoRows) {
		refused, err = db.gapRefused(ctx, op, g)
	}
	db.observe(start, err)
	if err != nil {
		return incidentbot.Gap{}, db.writeError(op, err)
	}
	if refused != nil {
		return incidentbot.Gap{}, refused
	}
	saved.Rev = uint64(rev)
	return saved, nil
}

// CloseGap removes pending gap g, whose work is done. g.Rev must be the
// revision read; it fails with EConflict, closing nothing, when the gap was
// written since (it grew: there is more to read); the check and the delete
// are one statement. It fails with ENotFound when the gap is closed already
// or never existed, with EUnavailable when the database cannot be written,
// and with ctx's error if ctx is done before it starts.
func (db *DB) CloseGap(ctx context.Context, g incidentbot.Gap) error {
	op := fmt.Sprintf("store: close backfill gap %d", g.ID)
	if err := db.writable(ctx, op); err != nil {
		return err
	}
	start := time.Now()
	tag, err := db.pool.Exec(ctx, `DELETE FROM gaps WHERE id = $1 AND rev = $2`, int64(g.ID), int64(g.Rev))
	var refused error
	if err == nil && tag.RowsAffected() == 0 {
		refused, err = db.gapRefused(ctx, op, g)
	}
	db.observe(start, err)
	if err != nil {
		return db.writeError(op, err)
	}
	return refused
}

// gapRefused returns why a write of gap g at revision g.Rev changed no row:
// ENotFound when there is no such gap, EConflict when its revision is
// another; or, second, the error of reading it.
func (db *DB) gapRefused(ctx context.Context, op string, g incidentbot.Gap) (refused, err error) {
	var rev int64
	err = db.pool.QueryRow(ctx, `SELECT rev FROM gaps WHERE id = $1`, int64(g.ID)).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return &incidentbot.Error{Code: incidentbot.ENotFound, Op: op, Message: fmt.Sprintf("backfill gap %d is closed or never existed", g.ID)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &incidentbot.Error{Code: incidentbot.EConflict, Op: op,
		Message: fmt.Sprintf("backfill gap %d changed since it was read (revision %d, read %d)", g.ID, rev, g.Rev)}, nil
}

// gapColumns are the fields of a gap held by columns, not by its body.
var gapColumns = []string{"id", "incident_id", "channel", "rev"}

// gapBody encodes g as stored in the body column: its JSON without the
// fields the columns hold.
func gapBody(g incidentbot.Gap) (string, error) {
	raw, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("encode gap %d: %w", g.ID, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", fmt.Errorf("encode gap %d: %w", g.ID, err)
	}
	for _, c := range gapColumns {
		delete(fields, c)
	}
	raw, err = json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("encode gap %d: %w", g.ID, err)
	}
	return string(raw), nil
}

// readGaps runs sql, which selects id, incident_id, channel, rev and body,
// and decodes the gaps.
func readGaps(ctx context.Context, q querier, sql string, args ...any) ([]incidentbot.Gap, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []incidentbot.Gap
	for rows.Next() {
		var (
			id, incident, rev int64
			channel           string
			raw               []byte
		)
		if err := rows.Scan(&id, &incident, &channel, &rev, &raw); err != nil {
			return nil, err
		}
		var g incidentbot.Gap
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, fmt.Errorf("decode gap %d: %w", id, err)
		}
		g.ID, g.IncidentID, g.Channel, g.Rev = uint64(id), incident, channel, uint64(rev)
		out = append(out, g)
	}
	return out, rows.Err()
}

// numericTS matches the Slack ts strings that PostgreSQL casts to numeric
// as tsLess compares them ("1700000000.000100", "1001", "1001.").
var numericTS = regexp.MustCompile(`^[0-9]+(\.[0-9]*)?$`)

// eventsInRange selects the events of an incident ($1) after Seq $2 whose
// ts lies in [$3, $4] (numeric; NULL: no bound), by Seq, $5 at most. An
// event whose ts is not a plain number passes, for the caller's tsLess to
// judge.
const eventsInRange = `SELECT seq, body FROM events
WHERE incident_id = $1 AND seq > $2 AND coalesce(body->>'ts', '') <> ''
  AND CASE WHEN body->>'ts' ~ '^[0-9]+(\.[0-9]*)?$'
      THEN ($3::text IS NULL OR (body->>'ts')::numeric >= $3::text::numeric)
       AND ($4::text IS NULL OR (body->>'ts')::numeric <= $4::text::numeric)
      ELSE true END
ORDER BY seq LIMIT $5`

// EventsInRange calls fn, in Seq order, with each event of incident id whose
// Slack ts (TS) lies within [from, to] (Slack ts strings, compared as
// numbers): the messages the bot captured in that stretch of the channel
// and what it recorded about them (edits, deletions, marks, pins). The
// backfill compares them with Slack's history. Events without a TS are
// skipped. The database selects them (a ts cast to numeric), a chunk at a
// time, so that fn holds no query open; fn's error stops the iteration and
// is returned unchanged.
//
// It fails with ENotFound when the incident does not exist, with
// EUnavailable when the database cannot be reached, with a wrapped error
// when an event cannot be decoded, and with ctx's error if ctx is done
// before it starts or between chunks.
func (db *DB) EventsInRange(ctx context.Context, id int64, from, to string, fn func(*incidentbot.TimelineEvent) error) error {
	op := fmt.Sprintf("store: read the timeline of %s from %s to %s", incidentbot.IncidentKey(id), from, to)
	if _, err := db.EventCount(ctx, id); err != nil {
		return err
	}
	// A bound that is not a plain number is left to tsLess alone.
	var lo, hi *string
	if numericTS.MatchString(from) {
		lo = &from
	}
	if numericTS.MatchString(to) {
		hi = &to
	}
	var after int64
	for {
		if err := db.readable(ctx, op); err != nil {
			return err
		}
		chunk, err := readRange(ctx, db.pool, id, after, lo, hi, op)
		if err != nil {
			return db.readError(op, err)
		}
		for i := range chunk {
			ev := &chunk[i]
			if tsLess(ev.TS, from) || tsLess(to, ev.TS) {
				continue
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(chunk) < eventsPerRead {
			return nil
		}
		after = int64(chunk[len(chunk)-1].Seq)
	}
}

// readRange reads a chunk of eventsInRange.
func readRange(ctx context.Context, q querier, id, after int64, lo, hi *string, op string) ([]incidentbot.TimelineEvent, error) {
	rows, err := q.Query(ctx, eventsInRange, id, after, lo, hi, eventsPerRead)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var chunk []incidentbot.TimelineEvent
	for rows.Next() {
		var (
			seq int64
			raw []byte
		)
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, err
		}
		chunk = append(chunk, incidentbot.TimelineEvent{})
		ev := &chunk[len(chunk)-1]
		if err := json.Unmarshal(raw, ev); err != nil {
			return nil, fmt.Errorf("%s: decode event %d: %w", op, seq, err)
		}
		ev.IncidentID, ev.Seq = id, uint64(seq)
	}
	return chunk, rows.Err()
}
