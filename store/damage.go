package store

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot"
)

// A damaged file (pages overwritten, a truncated copy, a disk that returned
// garbage) makes bbolt panic rather than fail: on a freelist page that is
// not one while opening, on a page that does not identify itself as the
// page asked for, on a page id past the mapped file (a memory fault). The
// store catches those panics at its boundary — Open, every read transaction
// and every write — and turns them into one *incidentbot.Error naming the
// file and saying how to restore it, so that `serve`, `list`, `export` and
// `backup` end with one line and exit code 1 instead of a stack trace, and a
// running bot reports the failure as it reports a failing disk.
//
// At Open, beyond bbolt's own checks of the meta pages, the store checks
// what costs microseconds: that the file is as long as its meta page says
// (a truncated file would fault on its first read of the missing pages) and
// that the root of every top-level bucket reads. A full consistency check
// (tx.Check) reads every page: seconds for a large file, against an Open
// that takes milliseconds whatever the size; Backup checks the file, since
// a copy is only worth taking of a sound file, and Check offers it on
// demand.

// ErrDamaged is in the chain of every error the store returns for a damaged
// database file (errors.Is): bbolt found a page it cannot make sense of.
var ErrDamaged = errors.New("the database file is damaged")

// restoreHint says how to restore the file at path from a backup.
func restoreHint(path string) string {
	return fmt.Sprintf("restore it from a backup: stop incidentbot, replace %s with the latest copy written by `incidentbot backup FILE`, and start it again", path)
}

// damagedError is the error for the damaged file at path: EUnavailable,
// like a disk that fails, because the bot can record nothing until an
// operator restores the file (/readyz fails and events stay unacknowledged
// for Slack to deliver again), and nothing a user typed is wrong. Its text
// is one line: the message, then op and what bbolt found, for the logs.
func damagedError(path, op string, cause error) error {
	return &incidentbot.Error{
		Code:    incidentbot.EUnavailable,
		Message: fmt.Sprintf("the incident database %s is damaged; %s", path, restoreHint(path)),
		Err:     &damage{op: op, cause: cause},
	}
}

// damage is the cause of a damaged-file error: what bbolt found, in op.
type damage struct {
	op    string
	cause error
}

func (d *damage) Error() string        { return d.op + ": " + d.cause.Error() }
func (d *damage) Unwrap() error        { return d.cause }
func (d *damage) Is(target error) bool { return target == ErrDamaged }

// foreignError is the error for a file at path that is not an incidentbot
// database: EInvalid, since the configuration names the wrong file (or a
// file damaged beyond its header). what says what it is instead.
func foreignError(path, op, what string, cause error) error {
	err := errors.New(op)
	if cause != nil {
		err = fmt.Errorf("%s: %w", op, cause)
	}
	return &incidentbot.Error{
		Code: incidentbot.EInvalid,
		Message: fmt.Sprintf("%s is not an incidentbot database (%s): check INCIDENTBOT_DB (--db); if it is the right file, it is damaged: %s",
			path, what, restoreHint(path)),
		Err: err,
	}
}

// boltPanic is a panic of bbolt's, recovered.
type boltPanic struct{ value any }

func (p *boltPanic) Error() string {
	return "bbolt: " + strings.Join(strings.Fields(fmt.Sprint(p.value)), " ")
}

// caughtPanic returns p as a *boltPanic when the panic was raised in bbolt
// (or by the runtime in bbolt's code: an index out of range, a memory fault
// with SetPanicOnFault on), and panics again with p otherwise: a panic in
// the store's own code is a bug, not a damaged file. It must be called by
// the deferred function that recovered p, while the panicking frames are
// still on the stack.
func caughtPanic(p any) *boltPanic {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case !panicking:
			panicking = f.Function == "runtime.gopanic"
		case strings.HasPrefix(f.Function, "runtime."):
			// panicIndex, sigpanic, panicmem: the runtime raised it.
		case strings.HasPrefix(f.Function, "go.etcd.io/bbolt"):
			return &boltPanic{p}
		default:
			panic(p)
		}
		if !more {
			panic(p)
		}
	}
}

// view runs fn in a read transaction under guard.
func (db *DB) view(op string, fn func(*bolt.Tx) error) error {
	return db.guard(op, func() error { return db.bolt.View(fn) })
}

// guard runs fn (a transaction), turning a panic of bbolt's on a damaged
// page into a damaged-file error. With SetPanicOnFault, a read past the end
// of a truncated file (SIGBUS) or at a wild page id (SIGSEGV) panics in
// this goroutine instead of killing the process.
func (db *DB) guard(op string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = damagedError(db.path, op, caughtPanic(p))
		}
	}()
	return fn()
}

// updateCaught is db.Update for a group commit, which runs in one writer's
// goroutine for many: a panic of bbolt's (a damaged page met while
// committing: "page already freed", a bad branch) becomes a *boltPanic
// error for every writer of the group, instead of unwinding the leader's
// goroutine and leaving the others waiting for ever. Other panics are
// raised again.
func updateCaught(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = caughtPanic(p)
		}
	}()
	return db.Update(fn)
}

// openBolt is bolt.Open, turning a panic of bbolt's (a freelist page that
// is not one, a fault on a page past the end of the file) into a
// damaged-file error. bbolt then has the file open, mapped and locked, and
// no handle to close it with: openBolt unlocks and closes the file itself,
// which it gets from bbolt's OpenFile hook. The mapping (address space, not
// memory) stays until the process exits, which it is about to.
func openBolt(path, op string, mode os.FileMode, opts *bolt.Options) (bdb *bolt.DB, err error) {
	var file *os.File
	openFile := opts.OpenFile
	if openFile == nil {
		openFile = os.OpenFile
	}
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := openFile(name, flag, perm)
		file = f
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = damagedError(path, op, caughtPanic(p))
			if file != nil {
				unlock(file)
				_ = file.Close()
			}
		}
	}()
	return bolt.Open(path, mode, opts)
}

// probe checks, in a read transaction of a newly opened file, what can be
// checked in microseconds: that the file holds every page its meta page
// counts (tx.Size) and that each top-level bucket's first and last keys
// read, which walks its root and its first and last branches. It fails
// with a damaged-file error.
func (db *DB) probe(op string, tx *bolt.Tx) error {
	fi, err := os.Stat(db.path)
	if err != nil {
		return wrap(op, err)
	}
	if size := tx.Size(); fi.Size() < size {
		return damagedError(db.path, op, fmt.Errorf("the file has %d bytes where its header counts %d: it was cut short", fi.Size(), size))
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		c := b.Cursor()
		c.First()
		c.Last()
		return nil
	})
}

// checkTx runs bbolt's consistency check in tx and returns up to
// maxCheckErrors of its findings, joined into one line, or nil.
func checkTx(tx *bolt.Tx) error {
	var found []string
	for err := range tx.Check() {
		if len(found) < maxCheckErrors {
			// bbolt reports a panic it recovered as "panic: …".
			text, _ := strings.CutPrefix(err.Error(), "panic: ")
			found = append(found, strings.Join(strings.Fields(text), " "))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("bbolt's consistency check: %s", strings.Join(found, "; "))
}

// walk reads every key of every bucket in tx, nested buckets included:
// every branch and leaf page, each of which bbolt checks names itself and
// has a valid type, panicking when not. Unlike tx.Check, which must not run
// in a read transaction while writes go on, it is an ordinary read, safe
// while serve writes.
func walk(tx *bolt.Tx) {
	_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		walkBucket(b)
		return nil
	})
}

func walkBucket(b *bolt.Bucket) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				walkBucket(nb)
			}
		}
	}
}
