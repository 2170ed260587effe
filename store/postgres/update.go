package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxUpdateGroup is the most UpdateIncident calls one transaction takes.
const maxUpdateGroup = 1000

// updateCall is one UpdateIncident call waiting for its group commit.
type updateCall struct {
	ctx    context.Context
	op     string
	id     int64
	key    string // its command dedup key, or ""
	fn     func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)
	fence  incidentbot.Fence
	fenced bool

	// Set by the updater before done is closed.
	inc     *incidentbot.Incident // the incident as this call left it (or found it, applied false)
	applied bool
	err     error // what the caller gets: fn's error, an *incidentbot.Error
	dbErr   error // the write failure in err, if any, for OnWrite
	alone   bool  // the group could not take it: the caller runs it alone
	done    chan struct{}

	events []pendingEvent // fn's events, encoded, when applied
}

// updater is the group commit of UpdateIncident, shaped as AppendEvents'
// committer: one goroutine takes the calls queued while it committed the
// previous group (at most maxUpdateGroup) and commits them in one
// transaction that locks each incident's row once (see commitTx). Under a
// burst of updates of one incident, a replica thus holds the row's lock
// for one transaction of a few round trips per group instead of per call,
// and the replicas' groups take turns.
type updater struct {
	db *DB
	*grouper[*updateCall]
	// alone counts the calls sent back to run alone, for tests.
	alone atomic.Int64
}

// newUpdater starts db's updater.
func newUpdater(db *DB) *updater {
	u := &updater{db: db}
	u.grouper = &grouper[*updateCall]{
		op:       func(cl *updateCall) string { return cl.op },
		done:     func(cl *updateCall) chan struct{} { return cl.done },
		maxCalls: maxUpdateGroup,
		commit: func(group []*updateCall) {
			u.commit(group)
			for _, cl := range group {
				if cl.alone {
					u.alone.Add(1)
				}
				cl.events = nil
				close(cl.done)
			}
		},
	}
	u.start()
	return u
}

// commit runs group in one transaction (commitTx). A call whose context
// is done by then gets its error and is left out. If the transaction
// fails before its COMMIT was sent, or the database answered that it
// failed, nothing of it was written: every call is sent back to run alone
// (updateAlone), with its own retries and errors, so that no call fails
// for another's reason. If the outcome of the COMMIT is unknown (the
// connection broke), running the calls again could apply them twice:
// each gets the failure, EUnavailable, as a lone call would.
func (u *updater) commit(group []*updateCall) {
	live := make([]*updateCall, 0, len(group))
	for _, cl := range group {
		if err := cl.ctx.Err(); err != nil {
			cl.err = fmt.Errorf("%s: %w", cl.op, err)
			continue
		}
		live = append(live, cl)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), u.db.timeout)
	defer cancel()
	committing, err := u.commitTx(ctx, live)
	if err == nil {
		return
	}
	if committing && !rolledBack(err) {
		for _, cl := range live {
			cl.inc, cl.applied, cl.alone = nil, false, false
			cl.err, cl.dbErr = u.db.writeError(cl.op, err), err
		}
		return
	}
	for _, cl := range live {
		cl.inc, cl.applied, cl.err, cl.alone = nil, false, nil, true
	}
}

// rolledBack reports whether a transaction that failed with err is known
// not to have committed: the server answered with an error (the
// transaction was aborted, its COMMIT a rollback), or nothing was sent.
func rolledBack(err error) bool {
	if _, ok := errors.AsType[*pgconn.PgError](err); ok {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// incidentGroup is one incident's share of a group: its calls in arrival
// order and the record they evolve.
type incidentGroup struct {
	id      int64
	calls   []*updateCall
	found   bool
	raw     []byte
	rec     *incidentbot.Incident // as the calls so far left it; nil when missing or undecodable
	head    timelineHead
	cmds    map[string]bool // the command keys applied: stored or earlier in the group
	newKeys []string        // the command keys to store
	dirty   bool            // a call was applied
}

// commitTx runs group in one transaction, in three round trips when no
// call changes a channel: (1) BEGIN, the fences' lease rows locked for
// share, the incidents' rows locked in id order (so that replicas cannot
// deadlock) and read, and the calls' command keys looked up, pipelined in
// one batch; then, per incident, each call's fn in arrival order on a copy
// of the record as the calls before it left it; (2) the events' dedup keys
// looked up, if any has one; (3) the records, events and command keys
// written and COMMIT, in one batch.
//
// A call's own failure goes to that call, which is left out of the
// transaction, its copy dropped: a lost fence (EConflict), a missing or
// undecodable incident, a command key already applied (applied=false, the
// record as it stands), fn's error, a taken channel (EConflict); a fn that
// panicked or returned an event that cannot be encoded is sent back to run
// alone, where its failure is its own. committing is true when err came
// from the batch holding the COMMIT.
func (u *updater) commitTx(ctx context.Context, group []*updateCall) (committing bool, err error) {
	byID := map[int64]*incidentGroup{}
	var incs []*incidentGroup
	fences := map[incidentbot.Fence]int{}
	var fenceList []incidentbot.Fence
	var kIDs []int64
	var kKeys []string
	for _, cl := range group {
		cl.inc, cl.applied, cl.err, cl.alone, cl.events = nil, false, nil, false, nil
		g := byID[cl.id]
		if g == nil {
			g = &incidentGroup{id: cl.id, cmds: map[string]bool{}}
			byID[cl.id] = g
			incs = append(incs, g)
		}
		g.calls = append(g.calls, cl)
		if cl.fenced {
			if _, ok := fences[cl.fence]; !ok {
				fences[cl.fence] = len(fenceList)
				fenceList = append(fenceList, cl.fence)
			}
		}
		if cl.key != "" {
			kIDs, kKeys = append(kIDs, cl.id), append(kKeys, cl.key)
		}
	}
	slices.SortFunc(incs, func(a, b *incidentGroup) int { return cmp.Compare(a.id, b.id) })
	ids := make([]int64, len(incs))
	for i, g := range incs {
		ids[i] = g.id
	}

	conn, err := u.db.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if err != nil && inTx {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()

	// (1) Locks and reads.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, f := range fenceList {
		b.Queue(fenceHeld, f.Name, f.Holder, f.Epoch)
	}
	b.Queue(`SELECT id, body, event_count, last_ts FROM incidents WHERE id = ANY ($1) ORDER BY id FOR UPDATE`, ids)
	if len(kIDs) > 0 {
		// After the locks, so it sees what the writers before committed.
		b.Queue(`SELECT u.i, u.k FROM unnest($1::bigint[], $2::text[]) AS u (i, k)
WHERE EXISTS (SELECT 1 FROM incident_commands c WHERE c.incident_id = u.i AND c.dedup_key = u.k)`, kIDs, kKeys)
	}
	held := make([]bool, len(fenceList))
	if err := readLocked(conn.SendBatch(ctx, b), &inTx, held, byID, len(kIDs) > 0); err != nil {
		return false, err
	}

	// The calls, incident by incident.
	for _, g := range incs {
		if g.found {
			g.rec, _ = decodeIncident(g.raw, g.id, "")
		}
	}
	for _, g := range incs {
		for _, cl := range g.calls {
			switch {
			case cl.fenced && !held[fences[cl.fence]]:
				cl.err = fenceLost(cl.op, cl.fence)
			case !g.found:
				cl.err = notFound(cl.op, g.id)
			case g.rec == nil:
				_, cl.err = decodeIncident(g.raw, g.id, cl.op)
			case cl.key != "" && g.cmds[cl.key]:
				cl.inc = g.rec
			default:
				if err := u.apply(ctx, conn, cl, g, byID); err != nil {
					return false, err
				}
			}
		}
	}

	// (2) The events' dedup keys already stored, by any writer.
	stored := make(map[int64]map[string]bool, len(incs))
	var eIDs []int64
	var eKeys []string
	for _, g := range incs {
		stored[g.id] = map[string]bool{}
		for _, cl := range g.calls {
			for _, pe := range cl.events {
				if pe.ev.DedupKey != "" {
					eIDs, eKeys = append(eIDs, g.id), append(eKeys, pe.ev.DedupKey)
				}
			}
		}
	}
	if len(eIDs) > 0 {
		rows, _ := conn.Query(ctx, `SELECT u.i, u.k FROM unnest($1::bigint[], $2::text[]) AS u (i, k)
WHERE EXISTS (SELECT 1 FROM events e WHERE e.incident_id = u.i AND e.dedup_key = u.k)`, eIDs, eKeys)
		var (
			id  int64
			key string
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
			stored[id][key] = true
			return nil
		}); err != nil {
			return false, err
		}
	}

	// (3) The writes and COMMIT: the events of each incident's calls in
	// call order (a key stored, or earlier in the group, skipped).
	all := &eventRows{}
	var cIDs []int64
	var cKeys []string
	b = &pgx.Batch{}
	for _, g := range incs {
		if !g.dirty {
			continue
		}
		for _, cl := range g.calls {
			for _, pe := range cl.events {
				g.head.addOne(all, stored[g.id], g.id, pe.ev, pe.body)
			}
		}
		body, err := json.Marshal(g.rec)
		if err != nil {
			return false, fmt.Errorf("encode %s: %w", incidentbot.IncidentKey(g.id), err)
		}
		b.Queue(`UPDATE incidents SET body = $2, channel_id = NULLIF($3, ''), open = $4, event_count = $5, last_ts = $6, updated_at = now() WHERE id = $1`,
			g.id, string(body), g.rec.ChannelID, !g.rec.Resolved(), g.head.count, g.head.lastTS)
		for _, k := range g.newKeys {
			cIDs, cKeys = append(cIDs, g.id), append(cKeys, k)
		}
	}
	all.queue(b)
	if len(cIDs) > 0 {
		b.Queue(`INSERT INTO incident_commands (incident_id, dedup_key) SELECT * FROM unnest($1::bigint[], $2::text[])`, cIDs, cKeys)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return true, err
	}
	inTx = false
	return false, nil
}

// readLocked reads the results of commitTx's first batch: BEGIN, the
// fences into held, the locked rows into byID, the command keys applied
// (when keys) into byID's cmds. It sets *inTx once BEGIN succeeded.
func readLocked(br pgx.BatchResults, inTx *bool, held []bool, byID map[int64]*incidentGroup, keys bool) (err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return err
	}
	*inTx = true
	for i := range held {
		if err := br.QueryRow().Scan(&held[i]); err != nil {
			return err
		}
	}
	var (
		id   int64
		raw  []byte
		h    timelineHead
		key  string
		rows = must(br.Query())
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &raw, &h.count, &h.lastTS}, func() error {
		g := byID[id]
		g.found, g.raw, g.head = true, slices.Clone(raw), h
		return nil
	}); err != nil {
		return err
	}
	if keys {
		if _, err := pgx.ForEachRow(must(br.Query()), []any{&id, &key}, func() error {
			byID[id].cmds[key] = true
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// must returns the rows of a batch's query: pgx reports a failed query's
// error through the rows, so the error returned with them is redundant.
func must(rows pgx.Rows, _ error) pgx.Rows { return rows }

// apply runs cl's fn on a copy of g's record and, if it succeeds and its
// new channel (if any) is free, makes the copy g's record. Only a failure
// of the database (a channel lookup) is returned: cl's own goes to cl.
func (u *updater) apply(ctx context.Context, conn *pgxpool.Conn, cl *updateCall, g *incidentGroup, byID map[int64]*incidentGroup) error {
	c := g.rec.Clone()
	evs, err, ok := callUpdate(cl.fn, c)
	if !ok {
		cl.alone = true // it panicked: let it do so in its caller
		return nil
	}
	if err != nil {
		cl.err = err
		return nil
	}
	c.ID = g.id
	if c.ChannelID != "" && c.ChannelID != g.rec.ChannelID {
		owner, err := groupChannelOwner(ctx, conn, byID, c.ChannelID)
		if err != nil {
			return err
		}
		if owner != 0 && owner != g.id {
			cl.err = channelTaken(cl.op, c.ChannelID, owner)
			return nil
		}
	}
	pes := make([]pendingEvent, len(evs))
	for i := range evs {
		body, err := encodeEvent(&evs[i], g.id)
		if err != nil {
			cl.alone = true // fails alone as it would have
			return nil
		}
		pes[i] = pendingEvent{ev: &evs[i], body: body}
	}
	g.rec, g.dirty = c, true
	cl.inc, cl.applied, cl.events = c, true, pes
	if cl.key != "" {
		g.cmds[cl.key] = true
		g.newKeys = append(g.newKeys, cl.key)
	}
	return nil
}

// callUpdate calls fn(c); ok is false if it panicked.
func callUpdate(fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error), c *incidentbot.Incident) (evs []incidentbot.TimelineEvent, err error, ok bool) {
	defer func() {
		if recover() != nil {
			evs, err, ok = nil, nil, false
		}
	}()
	evs, err = fn(c)
	return evs, err, true
}

// groupChannelOwner returns the incident that uses channelID as the group
// has left the records so far, or 0: one of the group's if its record has
// it, else the owner in the database unless that is one of the group's
// that gave it up.
func groupChannelOwner(ctx context.Context, conn *pgxpool.Conn, byID map[int64]*incidentGroup, channelID string) (int64, error) {
	for id, g := range byID {
		if g.rec != nil && g.rec.ChannelID == channelID {
			return id, nil
		}
	}
	owner, err := channelOwner(ctx, conn, channelID)
	if err != nil || owner == 0 {
		return owner, err
	}
	if g := byID[owner]; g != nil && g.rec != nil {
		return 0, nil
	}
	return owner, nil
}
