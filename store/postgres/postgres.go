package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations are the versioned schema migrations, applied in order by Open.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's table of applied migrations, in the schema of
// the connection's search_path.
const versionTable = "goose_db_version"

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 10 * time.Second

// Options configures Open. The zero value opens read-write with pgxpool's
// default pool size.
type Options struct {
	// ReadOnly opens the database for reading only (export and list while
	// serve runs): no migration runs, every transaction is read-only, and
	// writes fail with EUnavailable. The schema must already be this
	// binary's.
	ReadOnly bool
	// MaxConns caps the connection pool; 0 means pgxpool's default
	// (4 or the number of CPUs, whichever is greater).
	MaxConns int32
	// Timeout bounds connecting and each group commit, which run without
	// a caller's context; 0 means DefaultTimeout.
	Timeout time.Duration
	// OnWrite, if set, is told how long each write took (its wait for the
	// group commit included) and whether it failed: for metrics.
	OnWrite func(d time.Duration, err error)
}

// DB is an open incident database on PostgreSQL. Its methods may be called
// concurrently, and several DBs (replicas) may use one database at once.
type DB struct {
	pool     *pgxpool.Pool
	url      string // as given to Open; never shown (see Redact)
	readOnly bool
	timeout  time.Duration
	onWrite  func(time.Duration, error)
	commit   *committer // nil when read-only
	update   *updater   // nil when read-only

	// singleUpdates makes UpdateIncident run each call in a transaction
	// of its own, as before group commit: for the benchmark that compares
	// the two. Set before the first call.
	singleUpdates bool

	closeOnce sync.Once
	closed    chan struct{}
}

// Open connects to the PostgreSQL database at url (postgres:// or
// postgresql://, or a key=value connection string), applies the schema
// migrations this binary has that the database lacks (unless
// opts.ReadOnly), and returns the store. The tables live in the first
// schema of the connection's search_path, which a URL may set
// (…?search_path=incidentbot).
//
// It fails with EUnavailable when the database cannot be reached or a
// migration cannot be applied; with EConflict when the database's schema
// is newer than this binary knows (an older incidentbot must not write a
// schema it does not understand: upgrade it), as the bbolt store does;
// with EInvalid when url cannot be parsed; and, read-only, with ENotFound
// when the database has no incidentbot schema and EConflict when its
// schema is older than this binary's. No error contains the password.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	const op = "store: open PostgreSQL"
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &incidentbot.Error{
			Code:    incidentbot.EInvalid,
			Message: fmt.Sprintf("%s is not a PostgreSQL connection URL", Redact(url)),
			Op:      op,
			Err:     redactErr(url, err),
		}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > timeout {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(op, url, "cannot be reached", err)
	}
	db := &DB{
		pool:     pool,
		url:      url,
		readOnly: opts.ReadOnly,
		timeout:  timeout,
		onWrite:  opts.OnWrite,
		closed:   make(chan struct{}),
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, unavailable(op, url, "cannot be reached", err)
	}
	if err := db.migrate(ctx, op); err != nil {
		pool.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		db.commit = newCommitter(db)
		db.update = newUpdater(db)
	}
	return db, nil
}

// KnownVersion returns the newest schema version this binary knows.
func KnownVersion() int64 {
	var max int64
	for _, m := range mustSources() {
		max = m
	}
	return max
}

// mustSources lists the embedded migrations' versions in order.
func mustSources() []int64 {
	entries, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	var out []int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e)
		if err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	return out
}

// migrate checks the database's schema version against KnownVersion and,
// unless read-only, applies the missing migrations under goose's
// PostgreSQL advisory lock, so that replicas starting together migrate
// once.
func (db *DB) migrate(ctx context.Context, op string) error {
	known := KnownVersion()
	current, err := db.SchemaVersion(ctx)
	if err != nil {
		return unavailable(op, db.url, "cannot be read", err)
	}
	if current > known {
		return tooNew(op, current, known)
	}
	if db.readOnly {
		switch {
		case current == 0:
			return &incidentbot.Error{
				Code:    incidentbot.ENotFound,
				Message: fmt.Sprintf("the database %s holds no incidentbot data (run `incidentbot serve` on it first)", Redact(db.url)),
				Op:      op,
			}
		case current < known:
			return &incidentbot.Error{
				Code: incidentbot.EConflict,
				Message: fmt.Sprintf("the incident database schema version %d is older than this incidentbot's (%d); start `incidentbot serve` once to migrate it",
					current, known),
				Op: op,
			}
		}
		return nil
	}
	if current == known {
		return nil
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer func() { _ = sqlDB.Close() }()
	// goose polls the lock; its shortest period is 1s (a replica that
	// waits for another's migration starts at most a second later).
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", op, err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", op, err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", op, err)
	}
	// Another replica may have migrated further while we waited for the
	// lock: look again under it, through goose.
	if v, err := provider.GetDBVersion(ctx); err == nil && v > known {
		return tooNew(op, v, known)
	}
	if _, err := provider.Up(ctx); err != nil {
		return unavailable(op, db.url, "cannot be migrated", err)
	}
	return nil
}

// tooNew is the error for a schema newer than this binary.
func tooNew(op string, current, known int64) error {
	return &incidentbot.Error{
		Code: incidentbot.EConflict,
		Message: fmt.Sprintf("the incident database schema version %d is newer than this incidentbot (knows up to %d); upgrade incidentbot",
			current, known),
		Op: op,
	}
}

// SchemaVersion returns the highest schema migration applied to the
// database, 0 when it has none (a new database). It fails when the
// database cannot be read.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE -1 END`, versionTable).Scan(&v)
	if err != nil || v == 0 {
		return 0, redactErr(db.url, err)
	}
	err = db.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&v)
	return v, redactErr(db.url, err)
}

// Close stops the group commit (writes in flight finish; later ones fail
// with EUnavailable) and closes the connections. Closing twice is harmless.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closed)
		if db.commit != nil {
			db.commit.stop()
		}
		if db.update != nil {
			db.update.stop()
		}
		db.pool.Close()
	})
	return nil
}

// URL returns the URL given to Open with its password redacted.
func (db *DB) URL() string { return Redact(db.url) }

// Ping checks that the database answers and, unless the store is
// read-only, accepts writes (a read-only standby does not): for /readyz.
// It fails with EUnavailable.
func (db *DB) Ping(ctx context.Context) error {
	const op = "store: ping"
	var ro string
	if err := db.pool.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&ro); err != nil {
		return unavailable(op, db.url, "cannot be reached", err)
	}
	if ro == "on" && !db.readOnly {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is read-only", Op: op}
	}
	return nil
}

// isClosed reports whether Close was called.
func (db *DB) isClosed() bool {
	select {
	case <-db.closed:
		return true
	default:
		return false
	}
}

// writable returns nil if the store may write, or EUnavailable (closed or
// read-only) or ctx's error.
func (db *DB) writable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if db.isClosed() {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is closed", Op: op}
	}
	if db.readOnly {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is open read-only", Op: op}
	}
	return nil
}

// readable returns nil if the store may read, or ctx's error, or
// EUnavailable when closed.
func (db *DB) readable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if db.isClosed() {
		return &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is closed", Op: op}
	}
	return nil
}

// observe reports a write to Options.OnWrite.
func (db *DB) observe(start time.Time, err error) {
	if db.onWrite != nil {
		db.onWrite(time.Since(start), err)
	}
}

// writeError classifies a failed write as the bbolt store does: an
// *incidentbot.Error or a context's error is returned wrapped; anything
// else (the server is unreachable, shutting down, read-only, out of disk)
// means the database cannot be written now: EUnavailable.
func (db *DB) writeError(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*incidentbot.Error](err); ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if !pgconn.Timeout(err) || db.isClosed() {
			return fmt.Errorf("%s: %w", redactString(db.url, op), redactErr(db.url, err))
		}
	}
	return &incidentbot.Error{
		Code:    incidentbot.EUnavailable,
		Message: "the incident database cannot be written",
		Op:      op,
		Err:     redactErr(db.url, err),
	}
}

// readError wraps a failed read with op, scrubbing the password; a pool
// closed under it is EUnavailable.
func (db *DB) readError(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*incidentbot.Error](err); ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	if db.isClosed() || isConnError(err) {
		return &incidentbot.Error{
			Code:    incidentbot.EUnavailable,
			Message: "the incident database cannot be read",
			Op:      op,
			Err:     redactErr(db.url, err),
		}
	}
	return fmt.Errorf("%s: %w", op, redactErr(db.url, err))
}

// isConnError reports whether err means the server could not be used at
// all (connection refused or lost, the server shutting down).
func isConnError(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "53")
	}
	return pgconn.SafeToRetry(err)
}

// unavailable is the EUnavailable error of Open and Ping; what says what
// went wrong ("cannot be reached").
func unavailable(op, url, what string, err error) error {
	return &incidentbot.Error{
		Code:    incidentbot.EUnavailable,
		Message: fmt.Sprintf("the incident database %s %s", Redact(url), what),
		Op:      op,
		Err:     redactErr(url, err),
	}
}

// Redact returns url with its password, if any, replaced by "xxxxx", for
// logs and errors: in the user info of a URL, in a password= parameter
// of a URL's query or of a key=value connection string. A string that is
// neither comes back with anything after "password=" redacted.
func Redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	raw = urlPassword.ReplaceAllString(raw, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(raw, "${1}xxxxx")
}

// urlPassword matches the password in the user info of a URL that
// net/url cannot parse (a bad port, say).
var urlPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)([^@]*)@`)

// kvPassword matches the value of password= in a key=value connection
// string, quoted or not.
var kvPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// passwords returns the password of a connection URL or string, in the
// forms it could take in a message (as written, URL-decoded), or nil.
// Passwords returns the password of a database URL (or key=value
// connection string) in every spelling it may take in text — as written,
// unescaped, escaped — for log redaction; nil when it has none.
func Passwords(raw string) []string { return passwords(raw) }

func passwords(raw string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
			if d, err := url.QueryUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
			if e := url.QueryEscape(s); e != s {
				out = append(out, e)
			}
		}
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if p, has := u.User.Password(); has {
			add(p)
		}
		add(u.Query().Get("password"))
	} else {
		if m := urlPassword.FindStringSubmatch(raw); m != nil {
			add(m[2])
		}
		for _, m := range kvPassword.FindAllStringSubmatch(raw, -1) {
			add(strings.Trim(m[2], "'"))
		}
	}
	return out
}

// redactString removes url's password from s.
func redactString(url, s string) string {
	for _, p := range passwords(url) {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

// redactedError is an error whose text had a password removed; Unwrap
// keeps the chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with url's password removed from its text, or
// nil for nil.
func redactErr(url string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := redactString(url, msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}
