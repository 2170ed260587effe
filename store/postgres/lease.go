package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incidentbot/incidentbot"
)

// SchedulerLease is the name of the lease of scheduled work.
const SchedulerLease = "scheduler"

// Lease returns the lease called name in this database, for
// scheduler.RunWithLease. Expiry is judged by the database's clock.
func (db *DB) Lease(name string) *Lease { return &Lease{db: db, name: name} }

// Lease is a lease row (see DB.Lease).
type Lease struct {
	db   *DB
	name string
}

// Acquire takes the lease for holder for ttl if it is free, expired or
// already holder's, and returns its new epoch (one more than the last);
// ok is false when another holder has it. It fails with EUnavailable when
// the database cannot be reached or written.
func (l *Lease) Acquire(ctx context.Context, holder string, ttl time.Duration) (epoch int64, ok bool, err error) {
	op := "store: take the " + l.name + " lease"
	if err := l.db.writable(ctx, op); err != nil {
		return 0, false, err
	}
	err = l.db.pool.QueryRow(ctx, `
INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, now() + $3::interval)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, epoch = leases.epoch + 1, expires_at = EXCLUDED.expires_at
WHERE leases.expires_at <= now() OR leases.holder = EXCLUDED.holder
RETURNING epoch`, l.name, holder, interval(ttl)).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, l.db.writeError(op, err)
	}
	return epoch, true, nil
}

// Renew extends holder's lease of epoch to ttl from now; ok is false when
// the lease has expired or changed hands. It fails with EUnavailable when
// the database cannot be reached or written.
func (l *Lease) Renew(ctx context.Context, holder string, epoch int64, ttl time.Duration) (bool, error) {
	op := "store: renew the " + l.name + " lease"
	if err := l.db.writable(ctx, op); err != nil {
		return false, err
	}
	tag, err := l.db.pool.Exec(ctx, `
UPDATE leases SET expires_at = now() + $4::interval
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()`, l.name, holder, epoch, interval(ttl))
	if err != nil {
		return false, l.db.writeError(op, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Release ends holder's lease of epoch now, so that another replica can take
// it without waiting for it to expire. A lease no longer holder's is left as
// it is. It fails with EUnavailable when the database cannot be written.
func (l *Lease) Release(ctx context.Context, holder string, epoch int64) error {
	op := "store: give up the " + l.name + " lease"
	if err := l.db.writable(ctx, op); err != nil {
		return err
	}
	_, err := l.db.pool.Exec(ctx, `
UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()`, l.name, holder, epoch)
	if err != nil {
		return l.db.writeError(op, err)
	}
	return nil
}

// checkFence fails with EConflict, inside tx, when ctx carries a fence whose
// lease is no longer held at its epoch: the write it guards is scheduled
// work that another replica now does. The row is locked for share until tx
// ends, so the lease cannot change hands before this write commits.
func checkFence(ctx context.Context, tx pgx.Tx, op string) error {
	f, ok := incidentbot.FenceFrom(ctx)
	if !ok {
		return nil
	}
	var held bool
	if err := tx.QueryRow(ctx, fenceHeld, f.Name, f.Holder, f.Epoch).Scan(&held); err != nil {
		return err
	}
	if !held {
		return fenceLost(op, f)
	}
	return nil
}

// fenceHeld reports whether the lease $1 is held by $2 at epoch $3, and
// locks its row for share until the transaction ends.
const fenceHeld = `
SELECT EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE)`

// fenceLost is the EConflict error of a write whose fence f no longer holds
// its lease.
func fenceLost(op string, f incidentbot.Fence) error {
	return &incidentbot.Error{Code: incidentbot.EConflict, Op: op,
		Message: fmt.Sprintf("this replica (%s) no longer holds the %s lease of epoch %d; another replica does this work now", f.Holder, f.Name, f.Epoch)}
}

// interval formats d for PostgreSQL's interval type.
func interval(d time.Duration) string {
	return fmt.Sprintf("%d microseconds", d.Microseconds())
}
