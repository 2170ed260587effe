package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// openTest opens a new database in t.TempDir(). Cleanup closes it and checks
// the file's consistency with bbolt's tx.Check.
func openTest(t testing.TB) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "incidentbot.db"), Options{})
}

// openAt opens path with opts; cleanup closes it and checks the file.
func openAt(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkFile(t, path)
	})
	return db
}

// checkFile runs bbolt's consistency check on the closed file at path.
func checkFile(t testing.TB, path string) {
	t.Helper()
	if err := Check(path); err != nil {
		t.Error(err)
	}
}

// code returns err's incidentbot error code.
func code(err error) string { return incidentbot.ErrorCode(err) }

// newIncident and msg are the conformance suite's helpers.
var (
	newIncident = storetest.NewIncident
	msg         = storetest.Message
)

// mustCreate and allEvents are the conformance suite's helpers, on a *DB.
func mustCreate(t testing.TB, db *DB, title, channel string, events ...incidentbot.TimelineEvent) *incidentbot.Incident {
	t.Helper()
	return storetest.MustCreate(t, db, title, channel, events...)
}

func allEvents(t testing.TB, db *DB, id int64) []incidentbot.TimelineEvent {
	t.Helper()
	return storetest.AllEvents(t, db, id)
}

func TestOpenCreatesSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db := openAt(t, path, Options{})
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	v, err := db.SchemaVersion()
	if err != nil || v != 1 {
		t.Errorf("SchemaVersion() = %d, %v; want 1", v, err)
	}
	incs, err := db.Incidents(context.Background(), false)
	if err != nil || len(incs) != 0 {
		t.Errorf("Incidents on a new file = %v, %v", incs, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if code(err) != incidentbot.EConflict || !strings.Contains(incidentbot.ErrorMessage(err), "upgrade incidentbot") {
		t.Fatalf("Open of a schema 2 file = %v (code %s), want EConflict asking for an upgrade", err, code(err))
	}
}

func TestOpenLockedFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	openAt(t, path, Options{})
	start := time.Now()
	db2, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		db2.Close()
		t.Fatal("second read-write Open succeeded while the file is held")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Open waited %v, want about the 50ms timeout", took)
	}
	if code(err) != incidentbot.EUnavailable {
		t.Errorf("code = %s, want %s", code(err), incidentbot.EUnavailable)
	}
	m := incidentbot.ErrorMessage(err)
	if !strings.Contains(m, "in use by another process") || !strings.Contains(m, "incidentbot serve") || !strings.Contains(m, path) {
		t.Errorf("message %q does not say the file is in use by a running incidentbot serve", m)
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")

	_, err := Open(path, Options{ReadOnly: true})
	if code(err) != incidentbot.ENotFound {
		t.Fatalf("read-only Open of a missing file = %v, want ENotFound", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("read-only Open created the file: %v", statErr)
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc := mustCreate(t, db, "disk", "C1", msg(0, "m1", "1.0", "hi"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ro := openAt(t, path, Options{ReadOnly: true})
	got, err := ro.Incident(ctx, inc.ID)
	if err != nil || got.Title != "disk" {
		t.Fatalf("read-only Incident = %+v, %v", got, err)
	}
	if n, err := ro.AppendEvents(ctx, msg(inc.ID, "m2", "2.0", "more")); code(err) != incidentbot.EUnavailable || n != 0 {
		t.Errorf("AppendEvents on a read-only handle = %d, %v; want EUnavailable", n, err)
	}
}

func TestOpenRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(garbage, Options{}); err == nil {
		db.Close()
		t.Error("Open of a text file succeeded")
	}

	// A bbolt file of another program: read-only open refuses it, as it
	// cannot create the buckets.
	other := filepath.Join(dir, "other.db")
	bdb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	if db, err := Open(other, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not an incidentbot database") {
		if db != nil {
			db.Close()
		}
		t.Errorf("read-only Open of an empty bbolt file = %v, want 'not an incidentbot database'", err)
	}
}

func TestStorageFailureIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "full.db")
	// A size limit stands in for a full disk: bbolt refuses to grow the
	// file past it, as it would fail to when the disk is full.
	db, err := open(path, Options{}, func(o *bolt.Options) { o.MaxSize = 1 << 20 })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		checkFile(t, path)
	})
	inc := mustCreate(t, db, "full", "C1")
	big := strings.Repeat("y", 64<<10)
	var failed error
	stored := 0
	for i := range 64 {
		n, err := db.AppendEvents(ctx, msg(inc.ID, fmt.Sprintf("k%d", i), "", big))
		if err != nil {
			failed = err
			break
		}
		stored += n
	}
	if failed == nil {
		t.Fatal("the database never filled up")
	}
	if code(failed) != incidentbot.EUnavailable || incidentbot.ErrorMessage(failed) != "the incident database cannot be written" {
		t.Fatalf("error on a full database = %v (code %s), want EUnavailable", failed, code(failed))
	}
	if !strings.Contains(failed.Error(), fmt.Sprintf("store: append events to INC-%d", inc.ID)) {
		t.Errorf("error %q does not name the operation", failed)
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != stored {
		t.Errorf("EventCount after the failure = %d, want the %d stored before", n, stored)
	}

	// The disk recovers: the same write now succeeds, once.
	db.bolt.MaxSize = 0
	key := fmt.Sprintf("k%d", stored)
	if n, err := db.AppendEvents(ctx, msg(inc.ID, key, "", big)); err != nil || n != 1 {
		t.Fatalf("AppendEvents after recovery = %d, %v", n, err)
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != stored+1 {
		t.Errorf("EventCount after recovery = %d, want %d", n, stored+1)
	}
}

func TestReadOnlyDescriptorIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro-fs.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc := mustCreate(t, db, "ro", "C1")
	db.Close()

	// The file opened for reading only: every write fails in the kernel,
	// as on a file system remounted read-only.
	db, err = open(path, Options{}, func(o *bolt.Options) {
		o.OpenFile = func(name string, _ int, _ os.FileMode) (*os.File, error) {
			return os.OpenFile(name, os.O_RDONLY, 0)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		checkFile(t, path)
	})
	_, err = db.AppendEvents(ctx, msg(inc.ID, "k", "", "lost?"))
	if code(err) != incidentbot.EUnavailable {
		t.Fatalf("AppendEvents on a read-only descriptor = %v (code %s), want EUnavailable", err, code(err))
	}
	_, _, err = db.UpdateIncident(ctx, inc.ID, "", func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		inc.Title = "changed"
		return nil, nil
	})
	if code(err) != incidentbot.EUnavailable {
		t.Fatalf("UpdateIncident on a read-only descriptor = %v, want EUnavailable", err)
	}
	if got, err := db.Incident(ctx, inc.ID); err != nil || got.Title != "ro" {
		t.Errorf("Incident after failed writes = %+v, %v", got, err)
	}
}
