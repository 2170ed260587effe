package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// firingKey is the key, in the meta bucket, of job's last cron firing.
func firingKey(job string) []byte { return []byte("cron_fired/" + job) }

// LastFiring returns when the cron job named job last fired
// (RecordFiring), or the zero time if it never did.
func (db *DB) LastFiring(ctx context.Context, job string) (time.Time, error) {
	op := fmt.Sprintf("store: read the last firing of %s", job)
	if err := ctxErr(ctx, op); err != nil {
		return time.Time{}, err
	}
	var at time.Time
	err := db.view(op, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get(firingKey(job))
		if raw == nil {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, string(raw))
		if err != nil {
			return fmt.Errorf("%s: decode %q: %w", op, raw, err)
		}
		at = t
		return nil
	})
	return at, err
}

// RecordFiring records that the cron job named job fired at at. bbolt has
// one process, so there is no fence to check.
func (db *DB) RecordFiring(ctx context.Context, job string, at time.Time) error {
	op := fmt.Sprintf("store: record a firing of %s", job)
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	return db.write(op, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(firingKey(job), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}
