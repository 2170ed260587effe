package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incidentbot/incidentbot"
)

// LastFiring returns when the cron job named job last fired
// (RecordFiring), or the zero time if it never did.
func (db *DB) LastFiring(ctx context.Context, job string) (time.Time, error) {
	op := fmt.Sprintf("store: read the last firing of %s", job)
	if err := db.readable(ctx, op); err != nil {
		return time.Time{}, err
	}
	var at time.Time
	err := db.pool.QueryRow(ctx, `SELECT fired_at FROM cron_firings WHERE job = $1`, job).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, db.readError(op, err)
	}
	return at.UTC(), nil
}

// RecordFiring records that the cron job named job fired at at, in a
// transaction that checks ctx's fence: a replica that lost the scheduler's
// lease gets EConflict and must not run the firing.
func (db *DB) RecordFiring(ctx context.Context, job string, at time.Time) error {
	op := fmt.Sprintf("store: record a firing of %s", job)
	if err := db.writable(ctx, op); err != nil {
		return err
	}
	var lost error
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := checkFence(ctx, tx, op); err != nil {
			if incidentbot.ErrorCode(err) == incidentbot.EConflict {
				lost = err
				return errRollback
			}
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cron_firings (job, fired_at) VALUES ($1, $2)
ON CONFLICT (job) DO UPDATE SET fired_at = excluded.fired_at`, job, at.UTC())
		return err
	})
	if lost != nil {
		return lost
	}
	if err != nil {
		return db.writeError(op, err)
	}
	return nil
}
