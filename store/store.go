package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// currentSchema is the layout version this package writes and understands
// (see the package documentation).
const currentSchema = 1

// Bucket and key names; see the layout in doc.go.
var (
	bucketMeta      = []byte("meta")
	bucketIncidents = []byte("incidents")
	bucketOpen      = []byte("open")
	bucketChannels  = []byte("channels")
	bucketCreates   = []byte("creates")
	bucketUsers     = []byte("users")
	bucketTimeline  = []byte("timeline")

	bucketEvents  = []byte("events")
	bucketDedup   = []byte("dedup")
	bucketApplied = []byte("applied")

	keySchemaVersion = []byte("schema_version")
	keyLastTS        = []byte("last_ts")
)

// topBuckets are created by Open.
var topBuckets = [][]byte{
	bucketMeta, bucketIncidents, bucketOpen, bucketChannels, bucketCreates, bucketUsers, bucketTimeline,
}

// Options configures Open. The zero value opens read-write, waits 1s for the
// file lock and syncs every commit.
type Options struct {
	// Timeout is how long Open waits for the file lock; 0 means 1s. A
	// locked file fails with EUnavailable and a message saying that another
	// process (a running `incidentbot serve`) holds it.
	Timeout time.Duration
	// ReadOnly opens the file read-only, with a shared lock, for export and
	// list. Writes then fail with EUnavailable.
	ReadOnly bool
	// NoSync skips fsync on commit. For benchmarks of the CPU path only;
	// never in production, where a crash would lose acknowledged events.
	NoSync bool
	// BatchDelay, if positive, brings back the fixed-delay group commit
	// the store used before: every write goes through bbolt's DB.Batch and
	// waits up to BatchDelay (its MaxBatchDelay) for others to share its
	// commit, even when it is alone. 0, the default and what serve uses,
	// means adaptive group commit: a write that finds no commit running
	// commits at once, and writes that arrive during a commit share the
	// next one. Kept for comparisons (benchmarks, the load tool).
	BatchDelay time.Duration
	// OnWrite, if set, is told how long each write took (its wait for the
	// group commit included) and whether it failed: for metrics.
	OnWrite func(d time.Duration, err error)
	// MaxSize, if set, is asked at each commit for the largest size in
	// bytes the database may reach; 0 means no limit. A write fails with
	// EUnavailable, as on a full disk, when the database is already larger
	// or would have to grow the file past it; once the limit is raised the
	// same write succeeds. It lets tests fill the disk and free it again
	// without root rights (no tmpfs to mount).
	MaxSize func() int
}

// DefaultBatchDelay is the fixed delay the store's writes waited for others
// to share their commit before group commit became adaptive; set
// Options.BatchDelay to it to compare with that behaviour. (bbolt's own
// 10ms made a slash command wait for the batch longer than for the fsync.)
const DefaultBatchDelay = 4 * time.Millisecond

// DB is an open incident database. Its methods may be called concurrently.
type DB struct {
	bolt    *bolt.DB
	path    string
	onWrite func(time.Duration, error)
	maxSize func() int
	// commit is the adaptive group commit; nil when batched, where writes
	// go through bbolt's DB.Batch with a fixed delay (Options.BatchDelay).
	commit   *committer
	batched  bool
	readOnly bool
}

// Open opens (creating it if needed, unless opts.ReadOnly) the database file
// at path, creates the buckets of a new file and records its schema version.
//
// It fails with EUnavailable when another process holds the file's lock
// past opts.Timeout or the file cannot be opened, with ENotFound when a
// read-only open finds no file, with EConflict when the file has a newer
// schema version than this package knows, and with a wrapped error when
// the file is not an incidentbot database. Open reads only the meta bucket,
// so it takes the same time whatever the size of the file.
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, nil)
}

// open is Open with a hook for tests to change bbolt's options (a maximum
// size, to make a disk fill up).
func open(path string, opts Options, tune func(*bolt.Options)) (*DB, error) {
	op := fmt.Sprintf("store: open %s", path)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	bopts := &bolt.Options{
		Timeout:      timeout,
		ReadOnly:     opts.ReadOnly,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	}
	if strconv.IntSize == 64 {
		// Map a large range up front: a write that has to grow the mapping
		// waits for every read transaction to end, and Backup or a long
		// export holds one.
		bopts.InitialMmapSize = 1 << 30
	}
	if tune != nil {
		tune(bopts)
	}
	mode := os.FileMode(0o600)
	bdb, err := openBolt(path, op, mode, bopts)
	if err != nil {
		switch {
		case errors.Is(err, ErrDamaged):
			return nil, err
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, foreignError(path, op, "not a bbolt file", err)
		case errors.Is(err, berrors.ErrTimeout):
			return nil, &incidentbot.Error{
				Code: incidentbot.EUnavailable,
				Message: fmt.Sprintf("the incident database %s is in use by another process (a running `incidentbot serve`?); "+
					"stop it or use another database file", path),
				Op:  op,
				Err: err,
			}
		case opts.ReadOnly && errors.Is(err, fs.ErrNotExist):
			return nil, &incidentbot.Error{
				Code:    incidentbot.ENotFound,
				Message: fmt.Sprintf("the incident database %s does not exist", path),
				Op:      op,
				Err:     err,
			}
		case isIOError(err):
			return nil, &incidentbot.Error{
				Code:    incidentbot.EUnavailable,
				Message: fmt.Sprintf("the incident database %s cannot be opened", path),
				Op:      op,
				Err:     err,
			}
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	db := &DB{bolt: bdb, path: path, onWrite: opts.OnWrite, maxSize: opts.MaxSize, readOnly: opts.ReadOnly}
	bdb.MaxBatchDelay = DefaultBatchDelay // unused by the store; for comparisons on the same handle
	if opts.BatchDelay > 0 {
		bdb.MaxBatchDelay = opts.BatchDelay
		db.batched = true
	} else {
		db.commit = &committer{db: bdb}
		if opts.MaxSize != nil {
			db.commit.before = db.checkSize
		}
	}
	if err := db.init(op, opts.ReadOnly); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// init checks the schema version and, in a new file, creates the buckets.
// It writes only when something is missing. A bbolt file that has buckets
// but no schema version is another application's: it is refused, never
// written to.
func (db *DB) init(op string, readOnly bool) error {
	ready := false
	err := db.view(op, func(tx *bolt.Tx) error {
		if err := db.probe(op, tx); err != nil {
			return err
		}
		v, err := schemaVersion(tx)
		if err != nil {
			return foreignError(db.path, op, "its schema version does not read", err)
		}
		if v == 0 && tx.ForEach(func([]byte, *bolt.Bucket) error { return errForeign }) != nil {
			return foreignError(db.path, op, "a bbolt file of another application: it has buckets but no incidentbot schema version", nil)
		}
		if v > currentSchema {
			return &incidentbot.Error{
				Code: incidentbot.EConflict,
				Message: fmt.Sprintf("the incident database %s has schema version %d, newer than this incidentbot knows (%d): upgrade incidentbot",
					db.path, v, currentSchema),
				Op: op,
			}
		}
		ready = v == currentSchema
		for _, name := range topBuckets {
			ready = ready && tx.Bucket(name) != nil
		}
		return nil
	})
	if _, ok := errors.AsType[*incidentbot.Error](err); ok {
		return err
	}
	if err != nil {
		return wrap(op, err)
	}
	if ready {
		return nil
	}
	if readOnly {
		return foreignError(db.path, op, "its buckets are missing", nil)
	}
	err = db.guard(op, func() error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			for _, name := range topBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(strconv.Itoa(currentSchema)))
		})
	})
	if errors.Is(err, ErrDamaged) {
		return err
	}
	if err != nil {
		return writeError(op, err)
	}
	return nil
}

// errForeign stops the walk over a foreign file's buckets.
var errForeign = errors.New("a bucket")

// schemaVersion reads the schema version: 0 in a file without one.
func schemaVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad schema version %q", raw)
	}
	return v, nil
}

// Close closes the file, waiting for the running write transaction. Writes
// started after Close fail. Closing twice is harmless.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Path returns the file's path as given to Open.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the file's schema version, 1 for now. It fails only
// when the file cannot be read.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	err := db.view("store: read schema version", func(tx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// Backup writes a consistent copy of the whole database to w, from one read
// transaction, while writes go on; it returns the number of bytes written.
// The copy is a bbolt file that Open accepts. Before copying, it checks the
// file, so that a damaged file fails with a damaged-file error (ErrDamaged)
// instead of making a damaged copy: on a read-only handle, where no process
// can be writing, with bbolt's full consistency check (tx.Check, which also
// reads the freelist); on serve's handle, where tx.Check must not run in a
// read transaction, by reading every page of every bucket (see walk). It
// fails with the writer's error, wrapped.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	op := fmt.Sprintf("store: back up %s", db.path)
	err := db.view(op, func(tx *bolt.Tx) error {
		if db.readOnly {
			if err := checkTx(tx); err != nil {
				return damagedError(db.path, op, err)
			}
		} else {
			walk(tx)
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if _, ok := errors.AsType[*incidentbot.Error](err); ok {
		return n, err
	}
	if err != nil {
		return n, fmt.Errorf("store: back up %s: %w", db.path, err)
	}
	return n, nil
}

// write runs fn in a group commit: one transaction shared with the writers
// that arrived while the previous commit ran (or, with Options.BatchDelay,
// in bbolt's fixed-delay Batch), durable when write returns. fn may run
// more than once and must return an error only for storage failures (see
// the package documentation).
//
// A panic of bbolt's on a damaged page, in fn or in the commit, fails the
// write with a damaged-file error (see damage.go).
func (db *DB) write(op string, fn func(*bolt.Tx) error) error {
	return db.guard(op, func() error { return db.commitWrite(op, fn) })
}

// commitWrite is write without the guard.
func (db *DB) commitWrite(op string, fn func(*bolt.Tx) error) error {
	start := time.Now()
	var err error
	if db.batched {
		if db.maxSize != nil {
			inner := fn
			fn = func(tx *bolt.Tx) error {
				if err := db.checkSize(tx); err != nil {
					return err
				}
				return inner(tx)
			}
		}
		err = db.bolt.Batch(fn)
	} else {
		err = db.commit.run(fn)
	}
	if db.onWrite != nil {
		db.onWrite(time.Since(start), err)
	}
	if bp, ok := errors.AsType[*boltPanic](err); ok {
		return damagedError(db.path, op, bp) // a group's commit panicked
	}
	if err != nil {
		return writeError(op, err)
	}
	return nil
}

// checkSize applies Options.MaxSize to the write transaction tx: it fails
// when the database is already larger than the limit, and hands the limit
// to bbolt, which refuses to grow the file past it. It runs inside the
// transaction, which holds bbolt's writer lock, the lock under which bbolt
// reads its MaxSize.
func (db *DB) checkSize(tx *bolt.Tx) error {
	limit := db.maxSize()
	db.bolt.MaxSize = limit
	if limit > 0 && tx.Size() > int64(limit) {
		return fmt.Errorf("the database (%d bytes) has reached its size limit of %d bytes: %w", tx.Size(), limit, syscall.ENOSPC)
	}
	return nil
}

// writeError classifies a failed write. Errors that only a bug causes (a key
// too large, a value that does not encode) are wrapped as they are; anything
// else (the disk is full or read-only, an I/O error, the size limit, the
// database closed) means the database cannot be written now, which the bot
// must say loudly: EUnavailable.
func writeError(op string, err error) error {
	if _, ok := errors.AsType[*incidentbot.Error](err); ok {
		return wrap(op, err)
	}

	var jerr *encodeError
	if errors.As(err, &jerr) ||
		errors.Is(err, berrors.ErrKeyRequired) || errors.Is(err, berrors.ErrKeyTooLarge) ||
		errors.Is(err, berrors.ErrValueTooLarge) || errors.Is(err, berrors.ErrIncompatibleValue) {
		return wrap(op, err)
	}
	return &incidentbot.Error{
		Code:    incidentbot.EUnavailable,
		Message: "the incident database cannot be written",
		Op:      op,
		Err:     err,
	}
}

// isIOError reports whether err comes from the operating system.
func isIOError(err error) bool {
	var perr *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &perr) || errors.As(err, &errno)
}

// wrap prefixes err with op, keeping its chain.
func wrap(op string, err error) error {
	return fmt.Errorf("%s: %w", op, err)
}

// encodeError is a value that encoding/json refused.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return "encode: " + e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// itob encodes n as an 8-byte big-endian key.
func itob(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// btoi decodes an 8-byte big-endian key; it returns 0 for anything else.
func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// ctxErr returns ctx's error wrapped with op, or nil.
func ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return wrap(op, err)
	}
	return nil
}
