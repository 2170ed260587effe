package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
)

// eventsPerRead is how many events Events reads per query, so that a slow
// fn holds no query open.
const eventsPerRead = 512

// Group commit limits: the most AppendEvents calls, and events, that one
// transaction takes.
const (
	maxGroupCalls  = 1000
	maxGroupEvents = 10000
)

// AppendEvents stores captured events, each with IncidentID set, in a
// transaction shared with the AppendEvents calls that arrived while the
// previous one committed (group commit), and returns how many it stored.
// An event whose (IncidentID, DedupKey) is already stored, by any replica,
// or appears earlier in the same call or group, is skipped; an empty
// DedupKey is never skipped. Seq is assigned by the store, 1..n per
// incident in commit order. The events are committed when it returns.
//
// It fails with ENotFound, storing nothing, when an event names an
// incident that does not exist; with EUnavailable when the database cannot
// be written (closed, read-only, unreachable); and with ctx's error if ctx
// is done before it starts. Once queued, the call is not cancelled by ctx:
// the group it joined commits or fails as a whole.
func (db *DB) AppendEvents(ctx context.Context, events ...incidentbot.TimelineEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	op := fmt.Sprintf("store: append events to %s", incidentbot.IncidentKey(events[0].IncidentID))
	if err := db.writable(ctx, op); err != nil {
		return 0, err
	}
	cl := &appendCall{op: op, events: make([]pendingEvent, len(events)), done: make(chan struct{})}
	for i := range events {
		ev := &events[i]
		if ev.IncidentID <= 0 {
			return 0, notFound(op, ev.IncidentID)
		}
		body, err := encodeEvent(ev, ev.IncidentID)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		cl.events[i] = pendingEvent{ev: ev, body: body}
	}
	start := time.Now()
	err := db.commit.run(cl)
	if err == nil {
		err = cl.err
	}
	db.observe(start, err)
	if err != nil {
		if _, ok := errors.AsType[*incidentbot.Error](err); ok {
			return 0, err
		}
		return 0, db.writeError(op, err)
	}
	return cl.stored, nil
}

// Events calls fn with each event of incident id in Seq order, each a
// fresh copy. It sees the events committed when it starts. fn runs outside
// any query, so it may be slow or write to the store; its error stops the
// iteration and is returned unchanged.
//
// It fails with ENotFound when the incident does not exist, with
// EUnavailable when the database cannot be reached, with a wrapped error
// when an event cannot be decoded, and with ctx's error if ctx is done
// before it starts or between chunks.
func (db *DB) Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error {
	op := fmt.Sprintf("store: read the timeline of %s", incidentbot.IncidentKey(id))
	if err := db.readable(ctx, op); err != nil {
		return err
	}
	last, err := db.EventCount(ctx, id)
	if err != nil {
		return err
	}
	var after int64
	for after < int64(last) {
		if err := db.readable(ctx, op); err != nil {
			return err
		}
		chunk, err := readEvents(ctx, db.pool, id, after, int64(last), eventsPerRead, op)
		if err != nil {
			return db.readError(op, err)
		}
		if len(chunk) == 0 {
			return nil
		}
		for i := range chunk {
			if err := fn(&chunk[i]); err != nil {
				return err
			}
		}
		after = int64(chunk[len(chunk)-1].Seq)
	}
	return nil
}

// readEvents reads up to limit events of incident id with after < Seq <=
// last, in Seq order.
func readEvents(ctx context.Context, q querier, id, after, last int64, limit int, op string) ([]incidentbot.TimelineEvent, error) {
	rows, err := q.Query(ctx, `SELECT seq, body FROM events WHERE incident_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
		id, after, last, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	chunk := make([]incidentbot.TimelineEvent, 0, min(limit, int(last-after)))
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

// EventCount returns how many events incident id has, read from its row.
// It fails with ENotFound when the incident does not exist, with
// EUnavailable when the database cannot be reached, and with ctx's error
// if ctx is done.
func (db *DB) EventCount(ctx context.Context, id int64) (int, error) {
	op := fmt.Sprintf("store: count the events of %s", incidentbot.IncidentKey(id))
	var n int64
	if err := db.head(ctx, op, id, `SELECT event_count FROM incidents WHERE id = $1`, &n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// LastEventTS returns the greatest Slack ts among the incident's stored
// message events (kinds message and file_shared), or "" if there is none;
// the bot backfills missed messages from there. It fails with ENotFound
// when the incident does not exist, with EUnavailable when the database
// cannot be reached, and with ctx's error if ctx is done.
func (db *DB) LastEventTS(ctx context.Context, id int64) (string, error) {
	op := fmt.Sprintf("store: read the last message of %s", incidentbot.IncidentKey(id))
	var ts string
	if err := db.head(ctx, op, id, `SELECT last_ts FROM incidents WHERE id = $1`, &ts); err != nil {
		return "", err
	}
	return ts, nil
}

// head reads one column of incident id's row into dst.
func (db *DB) head(ctx context.Context, op string, id int64, sql string, dst any) error {
	if err := db.readable(ctx, op); err != nil {
		return err
	}
	err := db.pool.QueryRow(ctx, sql, id).Scan(dst)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op, id)
	}
	return db.readError(op, err)
}

// timelineHead is an incident's timeline head (its row's event_count and
// last_ts) while a transaction that holds the row's lock adds events.
type timelineHead struct {
	count  int64
	lastTS string
	dirty  bool
}

// add assigns the next sequence numbers to the events of evs (IncidentID
// set to id) whose DedupKey is not in stored, adds their keys to it, and
// returns the rows to insert. stored may be nil.
func (h *timelineHead) add(id int64, stored map[string]bool, evs []incidentbot.TimelineEvent) (*eventRows, error) {
	rows := &eventRows{}
	if stored == nil {
		stored = map[string]bool{}
	}
	for i := range evs {
		body, err := encodeEvent(&evs[i], id)
		if err != nil {
			return nil, err
		}
		h.addOne(rows, stored, id, &evs[i], body)
	}
	return rows, nil
}

// addOne adds one encoded event to rows unless its key is in stored, and
// reports whether it did.
func (h *timelineHead) addOne(rows *eventRows, stored map[string]bool, id int64, ev *incidentbot.TimelineEvent, body string) bool {
	if ev.DedupKey != "" {
		if stored[ev.DedupKey] {
			return false
		}
		stored[ev.DedupKey] = true
	}
	h.count++
	h.dirty = true
	rows.ids = append(rows.ids, id)
	rows.seqs = append(rows.seqs, h.count)
	rows.keys = append(rows.keys, ev.DedupKey)
	rows.bodies = append(rows.bodies, body)
	if isMessageKind(ev) && tsLess(h.lastTS, ev.TS) {
		h.lastTS = ev.TS
	}
	return true
}

// eventRows are events to insert, column by column.
type eventRows struct {
	ids, seqs    []int64
	keys, bodies []string
}

// insertEvents inserts eventRows in one statement. A duplicate cannot
// happen (the writer holds the incident's row lock and checked the keys);
// if it did, the unique constraint would fail the transaction.
const insertEvents = `INSERT INTO events (incident_id, seq, dedup_key, body)
SELECT i, s, NULLIF(k, ''), b::jsonb FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u (i, s, k, b)`

// queue adds the insert of the rows to b, if there are any.
func (r *eventRows) queue(b *pgx.Batch) {
	if len(r.ids) > 0 {
		b.Queue(insertEvents, r.ids, r.seqs, r.keys, r.bodies)
	}
}

// storedKeys returns which of the non-empty dedup keys of evs incident id
// has stored already.
func storedKeys(ctx context.Context, q querier, id int64, evs []incidentbot.TimelineEvent) (map[string]bool, error) {
	var keys []string
	for i := range evs {
		if evs[i].DedupKey != "" {
			keys = append(keys, evs[i].DedupKey)
		}
	}
	stored := map[string]bool{}
	if len(keys) == 0 {
		return stored, nil
	}
	rows, err := q.Query(ctx, `SELECT dedup_key FROM events WHERE incident_id = $1 AND dedup_key = ANY ($2)`, id, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range mustCollect(rows, &err) {
		stored[k] = true
	}
	return stored, err
}

// mustCollect collects a single text column; *errp gets the error.
func mustCollect(rows pgx.Rows, errp *error) []string {
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	*errp = err
	return out
}

// encodeEvent encodes ev as stored: IncidentID id, Seq 0 (the seq column
// holds it).
func encodeEvent(ev *incidentbot.TimelineEvent, id int64) (string, error) {
	c := *ev
	c.IncidentID, c.Seq = id, 0
	raw, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("encode event: %w", err)
	}
	return string(raw), nil
}

// pendingEvent is an event of an AppendEvents call, encoded beforehand.
type pendingEvent struct {
	ev   *incidentbot.TimelineEvent
	body string
}

// appendCall is one AppendEvents call waiting for its group commit.
type appendCall struct {
	op     string
	events []pendingEvent
	stored int           // set by the committer
	err    error         // the call's own failure (ENotFound) or the group's
	done   chan struct{} // closed when stored and err are set
}

// committer is the group commit of AppendEvents: one goroutine takes the
// calls queued while it committed the previous group (at least one, at
// most maxGroupCalls calls or maxGroupEvents events) and commits them in
// one transaction. A lone call thus commits at once; under a burst the
// groups grow with the commit time, and a burst costs a few round trips
// and one WAL flush per group instead of per call.
type committer struct {
	db *DB
	*grouper[*appendCall]
}

// newCommitter starts db's committer.
func newCommitter(db *DB) *committer {
	c := &committer{db: db}
	c.grouper = &grouper[*appendCall]{
		op:        func(cl *appendCall) string { return cl.op },
		done:      func(cl *appendCall) chan struct{} { return cl.done },
		maxCalls:  maxGroupCalls,
		weight:    func(cl *appendCall) int { return len(cl.events) },
		maxWeight: maxGroupEvents,
		commit: func(group []*appendCall) {
			c.commit(group)
			for _, cl := range group {
				close(cl.done)
			}
		},
	}
	c.start()
	return c
}

// errClosed is what a call gets when the store closed before its group
// started.
func errClosed(op string) error {
	return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is closed", Op: op}
}

// commit stores the events of group in one transaction. It first locks
// the rows of the incidents named (in id order, so that replicas cannot
// deadlock), which serialises it with every other writer of those
// timelines, then reads which dedup keys are stored, so that no statement
// of the shared transaction can fail for one caller's reason: a call
// naming a missing incident gets ENotFound and is left out, a duplicate is
// skipped. A failure of the transaction itself goes to every call.
func (c *committer) commit(group []*appendCall) {
	ctx, cancel := context.WithTimeout(context.Background(), c.db.timeout)
	defer cancel()
	var ids []int64
	for _, cl := range group {
		for _, pe := range cl.events {
			ids = append(ids, pe.ev.IncidentID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var err error
	for range maxAttempts {
		err = c.commitTx(ctx, group, ids)
		if !retryable(err) {
			break
		}
	}
	if err != nil {
		for _, cl := range group {
			cl.stored, cl.err = 0, err
		}
	}
}

// appendGroup is the statement of commitTx that stores a group's events.
// It runs after the statement that locked the incidents' rows, so that
// its snapshot sees every event committed by the writers before: it
// leaves out the calls that name a missing incident (bad: each with the
// first missing id), the events whose key is stored or comes earlier in
// the group, numbers the rest after each incident's event_count in group
// order, inserts them, moves the heads (event_count, and last_ts to the
// greatest message ts stored where that is later, compared as TSLess
// does: both sides padded to 30 digits), and returns each call's count of stored events (-1 and the
// missing incident for a bad call).
//
// $1..$5 are the events: call index, incident, dedup key or "", body,
// and the ts for last_ts ("" unless isMessageKind).
const appendGroup = `WITH u AS (
	SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (c, i, k, b, t, o)
), bad AS (
	SELECT u.c, (array_agg(u.i ORDER BY u.o))[1] AS i FROM u
	WHERE NOT EXISTS (SELECT 1 FROM incidents n WHERE n.id = u.i) GROUP BY u.c
), fresh AS (
	SELECT u.c, u.i, u.k, u.b, u.t, u.o, row_number() OVER (PARTITION BY u.i, u.k ORDER BY u.o) AS nth
	FROM u LEFT JOIN LATERAL (SELECT true AS hit FROM events e WHERE e.incident_id = u.i AND e.dedup_key = u.k LIMIT 1) d ON true
	WHERE u.c NOT IN (SELECT bad.c FROM bad) AND d.hit IS NULL
), numbered AS (
	SELECT f.c, f.i, f.k, f.b, f.t, n.event_count + row_number() OVER (PARTITION BY f.i ORDER BY f.o) AS s
	FROM fresh f JOIN incidents n ON n.id = f.i
	WHERE f.k = '' OR f.nth = 1
), ins AS (
	INSERT INTO events (incident_id, seq, dedup_key, body)
	SELECT i, s, NULLIF(k, ''), b::jsonb FROM numbered
), heads AS (
	UPDATE incidents n SET event_count = h.last,
		last_ts = CASE WHEN h.ts <> ''
			AND (lpad(ltrim(split_part(n.last_ts, '.', 1), '0'), 30, '0') || rpad(split_part(n.last_ts, '.', 2), 30, '0'))
			< (lpad(ltrim(split_part(h.ts, '.', 1), '0'), 30, '0') || rpad(split_part(h.ts, '.', 2), 30, '0'))
			THEN h.ts ELSE n.last_ts END
	FROM (SELECT i, max(s) AS last, (array_agg(t ORDER BY (lpad(ltrim(split_part(t, '.', 1), '0'), 30, '0') || rpad(split_part(t, '.', 2), 30, '0')) DESC))[1] AS ts FROM numbered GROUP BY i) h
	WHERE n.id = h.i
)
SELECT c, count(*), 0::bigint FROM numbered GROUP BY c
UNION ALL SELECT c, -1, i FROM bad`

// commitTx is commit's transaction, in one round trip: BEGIN, the lock of
// the incidents' rows (in id order, so that replicas cannot deadlock),
// appendGroup and COMMIT, pipelined. The rows stay locked only while the
// server runs the statements: no client round trip or client work falls
// inside the lock, which is what the replicas writing one incident wait
// for. On failure it rolls back (or the pool drops the connection, which
// is not idle).
func (c *committer) commitTx(ctx context.Context, group []*appendCall, ids []int64) (err error) {
	conn, err := c.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if err != nil && inTx {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()

	var evs groupEvents
	for ci, cl := range group {
		cl.stored, cl.err = 0, nil
		for _, pe := range cl.events {
			evs.add(ci, pe)
		}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT id FROM incidents WHERE id = ANY ($1) ORDER BY id FOR UPDATE`, ids)
	evs.queue(b)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return err
	}
	inTx = true
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, _ := br.Query()
	for rows.Next() {
		var ci int32
		var n, missing int64
		if err := rows.Scan(&ci, &n, &missing); err != nil {
			rows.Close()
			return err
		}
		if ci < 0 || int(ci) >= len(group) {
			rows.Close()
			return fmt.Errorf("append events: the database answered for call %d of %d", ci, len(group))
		}
		if cl := group[ci]; n < 0 {
			cl.err = notFound(cl.op, missing)
		} else {
			cl.stored = int(n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil { // COMMIT
		return err
	}
	inTx = false
	return nil
}

// groupEvents are the arguments of appendGroup, event by event.
type groupEvents struct {
	calls                []int32
	incs                 []int64
	keys, bodies, lastTS []string
}

// add adds pe, an event of the group's call number call.
func (g *groupEvents) add(call int, pe pendingEvent) {
	ts := ""
	if isMessageKind(pe.ev) {
		ts = pe.ev.TS
	}
	g.calls, g.incs = append(g.calls, int32(call)), append(g.incs, pe.ev.IncidentID)
	g.keys, g.bodies, g.lastTS = append(g.keys, pe.ev.DedupKey), append(g.bodies, pe.body), append(g.lastTS, ts)
}

// queue adds appendGroup with the events to b, if there are any.
func (g *groupEvents) queue(b *pgx.Batch) {
	if len(g.incs) > 0 {
		b.Queue(appendGroup, g.calls, g.incs, g.keys, g.bodies, g.lastTS)
	}
}

// isMessageKind reports whether ev moves an incident's last_ts: a message
// or a shared file with a ts.
func isMessageKind(ev *incidentbot.TimelineEvent) bool {
	return (ev.Kind == incidentbot.EventMessage || ev.Kind == incidentbot.EventFileShared) && ev.TS != ""
}

// tsLess is incidentbot.TSLess.
var tsLess = incidentbot.TSLess
