package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
)

// ImportOutcome says what Import did with an incident.
type ImportOutcome int

// Import outcomes.
const (
	// ImportCreated: the incident was not in the database; it was copied
	// whole.
	ImportCreated ImportOutcome = iota + 1
	// ImportCompleted: the database had the incident with the first events
	// of the given timeline (an earlier copy of the same file); the rest
	// were added and the incident's record replaced by the given one.
	ImportCompleted
	// ImportUnchanged: the database had the incident with as many events;
	// nothing was written.
	ImportUnchanged
)

// String names the outcome as migrate reports it.
func (o ImportOutcome) String() string {
	switch o {
	case ImportCreated:
		return "copied"
	case ImportCompleted:
		return "completed"
	case ImportUnchanged:
		return "unchanged"
	}
	return fmt.Sprintf("ImportOutcome(%d)", int(o))
}

// ImportResult is what Import did with one incident.
type ImportResult struct {
	Outcome ImportOutcome
	// Before is how many events the database had for the incident before
	// (0 when it was created).
	Before int
	// Added is how many events Import inserted.
	Added int
	// Gaps is how many backfill gaps Import inserted.
	Gaps int
}

// Import stores an incident read from another store (a bbolt database
// being moved to PostgreSQL) under its own id, with its whole timeline and
// its pending backfill gaps, in one transaction, and raises the incident
// counter to at least inc.ID so that CreateIncident continues the sequence.
// events must be the incident's timeline in order, with Seq 1..n; they are
// stored with that Seq and their dedup keys. The gaps are stored with new
// IDs and revision 1, their progress kept.
//
// Import may be run again with the same incident: it locks the incident's
// row and compares.
//   - No such incident: it is created (ImportCreated).
//   - The same title and as many events: nothing is written (ImportUnchanged).
//   - The same title and fewer events, which are the first events given
//     (same Seq, same content): the missing events are added, the record
//     is replaced with inc, and the given gaps that the database lacks (by
//     channel, From and To) are added (ImportCompleted).
//   - Otherwise (another title, more events, events that differ, or inc's
//     channel belonging to another incident) it fails with EConflict,
//     saying what differs, and writes nothing.
//
// The create and command dedup keys of the source are not imported: they
// only matter for a Slack redelivery within minutes.
//
// It fails with EInvalid, writing nothing, when inc has no id or the events
// are not numbered 1..n or repeat a dedup key; with EUnavailable when the
// database cannot be written (closed, read-only, unreachable); and with
// ctx's error if ctx is done first.
func (db *DB) Import(ctx context.Context, inc *incidentbot.Incident, events []incidentbot.TimelineEvent, gaps []incidentbot.Gap) (ImportResult, error) {
	if inc == nil || inc.ID <= 0 {
		return ImportResult{}, &incidentbot.Error{Code: incidentbot.EInvalid, Message: "an imported incident needs its id", Op: "store: import an incident"}
	}
	id := inc.ID
	op := fmt.Sprintf("store: import %s", inc.Key())
	if err := db.writable(ctx, op); err != nil {
		return ImportResult{}, err
	}
	rows, keys, err := importRows(id, events, op)
	if err != nil {
		return ImportResult{}, err
	}
	c := inc.Clone()
	body, err := json.Marshal(c)
	if err != nil {
		return ImportResult{}, &incidentbot.Error{Code: incidentbot.EInternal, Message: "the incident cannot be encoded", Op: op, Err: err}
	}
	gapBodies := make([]string, len(gaps))
	for i, g := range gaps {
		if g.Channel == "" || !g.To.After(g.From) {
			return ImportResult{}, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
				Message: fmt.Sprintf("a backfill gap needs a channel and an end after its start (channel %q, %s to %s)", g.Channel, g.From, g.To)}
		}
		if gapBodies[i], err = gapBody(g); err != nil {
			return ImportResult{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	lastTS := ""
	for i := range events {
		ev := &events[i]
		if (ev.Kind == incidentbot.EventMessage || ev.Kind == incidentbot.EventFileShared) && ev.TS != "" && tsLess(lastTS, ev.TS) {
			lastTS = ev.TS
		}
	}

	start := time.Now()
	var (
		res     ImportResult
		userErr error
	)
	err = db.tx(ctx, func(tx pgx.Tx) error {
		res, userErr = ImportResult{}, nil
		// The counter first, as CreateIncident locks it: never below an
		// imported id. (A row already past it is neither written nor locked.)
		if _, err := tx.Exec(ctx, `UPDATE counters SET value = $1 WHERE name = 'incident' AND value < $1`, id); err != nil {
			return err
		}
		var (
			raw   []byte
			count int64
		)
		err := tx.QueryRow(ctx, `SELECT body, event_count FROM incidents WHERE id = $1 FOR UPDATE`, id).Scan(&raw, &count)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		from := 0
		prevChannel := ""
		if exists {
			prev, err := decodeIncident(raw, id, op)
			if err != nil {
				userErr = err
				return errRollback
			}
			prevChannel = prev.ChannelID
			res.Before = int(count)
			switch {
			case prev.Title != c.Title:
				userErr = importConflict(op, "%s in PostgreSQL is titled %q, in the file %q: another incident under the same id", inc.Key(), prev.Title, c.Title)
				return errRollback
			case int(count) > len(events):
				userErr = importConflict(op, "%s has %d events in PostgreSQL, more than the %d in the file: it changed after it was copied", inc.Key(), count, len(events))
				return errRollback
			case int(count) == len(events):
				res.Outcome = ImportUnchanged
				return nil // commits the counter, if it was behind
			}
			// Fewer: what is there must be the file's first events.
			if seq, err := firstDifference(ctx, tx, id, count, keys, rows.bodies); err != nil {
				return err
			} else if seq != 0 {
				userErr = importConflict(op, "%s's event %d differs between PostgreSQL and the file: not the same timeline", inc.Key(), seq)
				return errRollback
			}
			from = int(count)
		}
		if c.ChannelID != "" && c.ChannelID != prevChannel {
			owner, err := channelOwner(ctx, tx, c.ChannelID)
			if err != nil {
				return err
			}
			if owner != 0 && owner != id {
				userErr = importConflict(op, "%s's channel %s already belongs to %s in PostgreSQL", inc.Key(), c.ChannelID, incidentbot.IncidentKey(owner))
				return errRollback
			}
		}

		b := &pgx.Batch{}
		if exists {
			b.Queue(`UPDATE incidents SET body = $2, channel_id = NULLIF($3, ''), open = $4, event_count = $5, last_ts = $6, updated_at = now() WHERE id = $1`,
				id, string(body), c.ChannelID, !c.Resolved(), int64(len(events)), lastTS)
		} else {
			b.Queue(`INSERT INTO incidents (id, body, channel_id, open, event_count, last_ts) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6)`,
				id, string(body), c.ChannelID, !c.Resolved(), int64(len(events)), lastTS)
		}
		rest := &eventRows{ids: rows.ids[from:], seqs: rows.seqs[from:], keys: rows.keys[from:], bodies: rows.bodies[from:]}
		rest.queue(b)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		res.Added = len(rest.ids)

		var have []incidentbot.Gap
		if exists {
			if have, err = readGaps(ctx, tx, `SELECT id, incident_id, channel, rev, body FROM gaps WHERE incident_id = $1`, id); err != nil {
				return err
			}
		}
		for i, g := range gaps {
			if hasGap(have, g) {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO gaps (incident_id, channel, body, rev) VALUES ($1, $2, $3, 1)`, id, g.Channel, gapBodies[i]); err != nil {
				return err
			}
			res.Gaps++
		}
		res.Outcome = ImportCreated
		if exists {
			res.Outcome = ImportCompleted
		}
		return nil
	})
	db.observe(start, err)
	if err != nil {
		return ImportResult{}, db.writeError(op, err)
	}
	if userErr != nil {
		return ImportResult{}, userErr
	}
	return res, nil
}

// importRows checks that events are numbered 1..n with no repeated dedup
// key and encodes them as rows of incident id. keys are the dedup keys by
// position ("" for none).
func importRows(id int64, events []incidentbot.TimelineEvent, op string) (*eventRows, []string, error) {
	rows := &eventRows{}
	seen := make(map[string]bool, len(events))
	for i := range events {
		ev := &events[i]
		if ev.Seq != uint64(i)+1 {
			return nil, nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
				Message: fmt.Sprintf("event %d of %s has Seq %d: a timeline to import is numbered 1..n", i+1, incidentbot.IncidentKey(id), ev.Seq)}
		}
		if ev.DedupKey != "" {
			if seen[ev.DedupKey] {
				return nil, nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
					Message: fmt.Sprintf("event %d of %s repeats the dedup key %q", ev.Seq, incidentbot.IncidentKey(id), ev.DedupKey)}
			}
			seen[ev.DedupKey] = true
		}
		body, err := encodeEvent(ev, id)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		rows.ids = append(rows.ids, id)
		rows.seqs = append(rows.seqs, int64(ev.Seq))
		rows.keys = append(rows.keys, ev.DedupKey)
		rows.bodies = append(rows.bodies, body)
	}
	return rows, rows.keys, nil
}

// firstDifference compares the first count stored events of incident id
// with the encoded bodies and dedup keys of the same positions, and returns
// the Seq of the first that differs, or 0. Bodies are compared as JSONB,
// which ignores key order and spacing.
func firstDifference(ctx context.Context, tx pgx.Tx, id, count int64, keys, bodies []string) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, `SELECT coalesce(min(u.s), 0)
FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u (s, k, b)
LEFT JOIN events e ON e.incident_id = $1 AND e.seq = u.s
WHERE e.seq IS NULL OR e.dedup_key IS DISTINCT FROM NULLIF(u.k, '') OR e.body <> u.b::jsonb`,
		id, seqRange(count), keys[:count], bodies[:count]).Scan(&seq)
	return seq, err
}

// seqRange returns 1..n.
func seqRange(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i) + 1
	}
	return out
}

// hasGap reports whether gs has a gap of g's channel with g's span.
func hasGap(gs []incidentbot.Gap, g incidentbot.Gap) bool {
	for _, h := range gs {
		if h.Channel == g.Channel && h.From.Equal(g.From) && h.To.Equal(g.To) {
			return true
		}
	}
	return false
}

// importConflict is the EConflict of an incident Import leaves alone.
func importConflict(op, format string, args ...any) error {
	return &incidentbot.Error{Code: incidentbot.EConflict, Message: fmt.Sprintf(format, args...) + "; not touched", Op: op}
}

// IncidentCounter returns the last incident id handed out (or raised to by
// Import): the next CreateIncident gets the one after. It fails with
// EUnavailable when the database cannot be read, and with ctx's error if
// ctx is done.
func (db *DB) IncidentCounter(ctx context.Context) (int64, error) {
	const op = "store: read the incident counter"
	if err := db.readable(ctx, op); err != nil {
		return 0, err
	}
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT value FROM counters WHERE name = 'incident'`).Scan(&n); err != nil {
		return 0, db.readError(op, err)
	}
	return n, nil
}
