package main

import (
	"context"
	"time"

	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/internal/localapi"
	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/postgres"
)

// Both stores remember the scheduler's cron firings; bot.New finds the
// capability on the store it is given.
var (
	_ scheduler.CronFirings = (*store.DB)(nil)
	_ scheduler.CronFirings = (*postgres.DB)(nil)
)

// database is the open store, bbolt or PostgreSQL: everything the bot and
// the read commands ask of it.
type database interface {
	bot.Store
	localapi.Store
	Close() error
}

var (
	_ database = (*store.DB)(nil)
	_ database = (*postgres.DB)(nil)
	// The holder of the lease learns of other replicas' writes this way.
	_ scheduler.ChangedIncidents = (*postgres.DB)(nil)
)

// openDatabase opens m.Config.DB: a bbolt file, or PostgreSQL when it is a
// postgres:// URL (then pg is the same store, for the lease and pings).
// readOnly opens it for reading only (export, list, backup). onWrite, if
// set, times every write. Errors name the file or the redacted URL.
func (m *Main) openDatabase(ctx context.Context, readOnly bool, onWrite func(time.Duration, error)) (db database, pg *postgres.DB, err error) {
	if m.Config.Postgres() {
		pg, err := postgres.Open(ctx, m.Config.DB, postgres.Options{ReadOnly: readOnly, OnWrite: onWrite})
		if err != nil {
			return nil, nil, err
		}
		return pg, pg, nil
	}
	opts := store.Options{ReadOnly: readOnly, OnWrite: onWrite}
	if readOnly {
		opts.Timeout = 200 * time.Millisecond
	} else if m.TuneStore != nil {
		m.TuneStore(&opts)
	}
	bdb, err := store.Open(m.Config.DB, opts)
	if err != nil {
		return nil, nil, err
	}
	return bdb, nil, nil
}

// dbName is how logs name the database: its path, or its URL without the
// password.
func (m *Main) dbName() string {
	if m.Config.Postgres() {
		return postgres.Redact(m.Config.DB)
	}
	return m.Config.DB
}

// readiness adds to the bot's readiness, with PostgreSQL, that the database
// answers and takes writes (asked at most every couple of seconds).
func readiness(b *bot.Bot, pg *postgres.DB) func() (bool, string) {
	if pg == nil {
		return b.Ready
	}
	var (
		last   time.Time
		lastOK bool
	)
	check := make(chan struct{}, 1)
	check <- struct{}{}
	return func() (bool, string) {
		if ok, why := b.Ready(); !ok {
			return ok, why
		}
		<-check
		defer func() { check <- struct{}{} }()
		if time.Since(last) > 2*time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			lastOK, last = pg.Ping(ctx) == nil, time.Now()
			cancel()
		}
		if !lastOK {
			return false, "the database cannot be reached or does not take writes"
		}
		return true, ""
	}
}
