package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store"
	"github.com/jackc/pgx/v5"
)

// backupChunk is how many events Backup copies per bbolt transaction.
const backupChunk = 2000

// Backup writes a consistent copy of the whole store to w, read in one
// REPEATABLE READ, read-only transaction (a single snapshot) while writes
// go on, and returns the number of bytes written. The copy is a bbolt
// database file, as the bbolt store's Backup writes: store.Open opens it
// (read-only for export and list), and `incidentbot migrate --from` can
// load it into PostgreSQL again. It holds the incidents with their ids, the
// timelines with their Seq, the create and command dedup keys, the users
// and the pending backfill gaps with their progress (under the copy's own
// gap IDs and revisions).
//
// The copy is built in a temporary file (os.TempDir) as large as the copy,
// removed before Backup returns. It fails with EUnavailable when the
// database cannot be read, with the writer's error, wrapped, and with a
// wrapped error when the temporary file cannot be written.
func (db *DB) Backup(w io.Writer) (int64, error) {
	const op = "store: back up"
	ctx := context.Background()
	if err := db.readable(ctx, op); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "incidentbot-backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	path := f.Name()
	_ = f.Close()
	defer func() { _ = os.Remove(path) }()
	_ = os.Remove(path) // bbolt creates it

	bdb, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = bdb.Close() }()

	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return copyTo(ctx, tx, bdb, op)
	})
	if err != nil {
		if _, ok := errors.AsType[*incidentbot.Error](err); ok {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		return 0, db.readError(op, err)
	}
	n, err := bdb.Backup(w)
	if err != nil {
		return n, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// copyTo copies everything tx sees into the bbolt store dst, which must be
// new: incidents in id order (dst hands out the same ids), their create
// keys, command keys, events in Seq order, users.
func copyTo(ctx context.Context, tx pgx.Tx, dst *store.DB, op string) error {
	creates := map[int64]string{}
	rows, err := tx.Query(ctx, `SELECT incident_id, dedup_key FROM incident_creates`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id  int64
			key string
		)
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			return err
		}
		creates[id] = key
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	incs, err := scanIncidents(ctx, tx, `SELECT id, body FROM incidents ORDER BY id`, op)
	if err != nil {
		return err
	}
	for _, inc := range incs {
		want := inc.ID
		got, _, err := dst.CreateIncident(ctx, inc, creates[want])
		if err != nil {
			return err
		}
		if got.ID != want {
			return fmt.Errorf("%s: %s would be INC-%d in the copy: the ids have a gap", op, incidentbot.IncidentKey(want), got.ID)
		}
	}

	noop := func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error) { return nil, nil }
	rows, err = tx.Query(ctx, `SELECT incident_id, dedup_key FROM incident_commands ORDER BY incident_id, dedup_key`)
	if err != nil {
		return err
	}
	type command struct {
		id  int64
		key string
	}
	var commands []command
	for rows.Next() {
		var c command
		if err := rows.Scan(&c.id, &c.key); err != nil {
			rows.Close()
			return err
		}
		commands = append(commands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range commands {
		if _, _, err := dst.UpdateIncident(ctx, c.id, c.key, noop); err != nil {
			return err
		}
	}

	for _, inc := range incs {
		var count int64
		if err := tx.QueryRow(ctx, `SELECT event_count FROM incidents WHERE id = $1`, inc.ID).Scan(&count); err != nil {
			return err
		}
		for after := int64(0); after < count; {
			chunk, err := readEvents(ctx, tx, inc.ID, after, count, backupChunk, op)
			if err != nil {
				return err
			}
			if len(chunk) == 0 {
				break
			}
			for i := range chunk {
				if chunk[i].Seq != uint64(after)+uint64(i)+1 {
					return fmt.Errorf("%s: %s has no event %d", op, inc.Key(), uint64(after)+uint64(i)+1)
				}
			}
			n, err := dst.AppendEvents(ctx, chunk...)
			if err != nil {
				return err
			}
			if n != len(chunk) {
				return fmt.Errorf("%s: %s: the copy stored %d events of %d", op, inc.Key(), n, len(chunk))
			}
			after = int64(chunk[len(chunk)-1].Seq)
		}
	}

	users, err := readUsers(ctx, tx, op)
	if err != nil {
		return err
	}
	list := make([]incidentbot.User, 0, len(users))
	for _, u := range users {
		list = append(list, u)
	}
	if err := dst.PutUsers(ctx, list...); err != nil {
		return err
	}
	return copyGaps(ctx, tx, dst)
}

// copyGaps copies the pending gaps into dst, with dst's IDs and
// revisions: the started ones first, each recorded and then saved with its
// progress, then the others. In that order dst's RecordGap merges nothing:
// gaps not started neither touch each other nor overlap a started one (they
// would have been merged), while one may touch a started gap, which it may
// not grow into.
func copyGaps(ctx context.Context, tx pgx.Tx, dst *store.DB) error {
	gs, err := readGaps(ctx, tx, `SELECT id, incident_id, channel, rev, body FROM gaps ORDER BY id`)
	if err != nil {
		return err
	}
	for _, started := range []bool{true, false} {
		for _, g := range gs {
			if g.Started() != started {
				continue
			}
			written, err := dst.RecordGap(ctx, incidentbot.Gap{IncidentID: g.IncidentID, Channel: g.Channel, From: g.From, To: g.To, Recorded: g.Recorded})
			if err != nil {
				return err
			}
			if len(written) != 1 || !written[0].From.Equal(g.From) || !written[0].To.Equal(g.To) {
				return fmt.Errorf("backfill gap %d was merged with another in the copy: the gaps overlap", g.ID)
			}
			c := g
			c.ID, c.Rev = written[0].ID, written[0].Rev
			if _, err := dst.SaveGap(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}
