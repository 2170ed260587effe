package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot"
)

const pageSize = 4096 // bbolt's page size on the test machines (the OS page)

// damagedFixture writes a closed database with 20 incidents of 50 events
// each and returns its path, its bytes, and the root page of incident 7's
// events bucket (a page no read at Open touches).
func damagedFixture(t *testing.T) (string, []byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		inc := mustCreate(t, db, fmt.Sprint("incident ", i), fmt.Sprint("C", i))
		var evs []incidentbot.TimelineEvent
		for j := range 50 {
			ts := fmt.Sprintf("%d.%06d", 1740830400+i, j)
			evs = append(evs, msg(inc.ID, incidentbot.MessageKey(ts), ts, strings.Repeat("words of a message ", 5)))
		}
		if _, err := db.AppendEvents(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	var eventsRoot int
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		eventsRoot = int(openTimeline(tx, 7).events.Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if eventsRoot < 2 {
		t.Fatalf("incident 7's events bucket is inline (root %d); the fixture needs more events", eventsRoot)
	}
	return path, raw, eventsRoot
}

// metaPages returns the root and freelist page ids of the newest meta page.
func metaPages(raw []byte) (root, freelist int) {
	var txid uint64
	for p := range 2 {
		m := raw[p*pageSize+16:]
		// magic, version, page size, flags (4 bytes each), root bucket
		// (root pgid, sequence), freelist pgid, high water mark, txid.
		if id := binary.LittleEndian.Uint64(m[48:]); id >= txid {
			txid = id
			root = int(binary.LittleEndian.Uint64(m[16:]))
			freelist = int(binary.LittleEndian.Uint64(m[32:]))
		}
	}
	return root, freelist
}

// overwrite returns raw with pages [from, to) replaced by fill's bytes.
func overwrite(raw []byte, from, to int, fill func([]byte)) []byte {
	out := bytes.Clone(raw)
	fill(out[from*pageSize : min(to*pageSize, len(out))])
	return out
}

func randomBytes(b []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
}

func zeroBytes(b []byte) { clear(b) }

// isDamaged reports whether err is a clear damaged-file error for path.
func checkDamaged(t *testing.T, what string, err error, path string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want the file reported as damaged", what)
		return
	}
	msg := err.Error()
	if !errors.Is(err, ErrDamaged) || code(err) != incidentbot.EUnavailable {
		t.Errorf("%s: %v (code %s), want ErrDamaged and EUnavailable", what, err, code(err))
	}
	for _, want := range []string{path, "damaged", "restore it from a backup", "incidentbot backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: %q lacks %q", what, msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: the error has more than one line: %q", what, msg)
	}
}

// noPanic runs fn and fails the test, instead of crashing, if it panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
		}
	}()
	fn()
}

// TestDamagedFileFailsOpen: a file whose pages Open reads (the root bucket,
// the freelist) are overwritten, or which is cut short, fails Open with one
// line naming the file and how to restore it, read-only (list, export,
// backup) and read-write (serve); none panics. With only the freelist
// damaged, a read-only open, which does not load it, still reads, but
// Backup, which checks the whole file, refuses to copy it.
func TestDamagedFileFailsOpen(t *testing.T) {
	path, raw, _ := damagedFixture(t)
	root, freelist := metaPages(raw)
	tests := []struct {
		name       string
		data       []byte
		readOnlyOK bool // a read-only open succeeds and lists
	}{
		{"data pages random", overwrite(raw, 2, len(raw)/pageSize, randomBytes), false},
		{"data pages zeroed", overwrite(raw, 2, len(raw)/pageSize, zeroBytes), false},
		{"root page random", overwrite(raw, root, root+1, randomBytes), false},
		{"freelist page random", overwrite(raw, freelist, freelist+1, randomBytes), true},
		{"freelist page zeroed", overwrite(raw, freelist, freelist+1, zeroBytes), true},
		{"truncated to 3 pages", raw[:3*pageSize], false},
		{"truncated before the root", raw[:root*pageSize], false},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				what := fmt.Sprintf("Open(ReadOnly: %v)", ro)
				noPanic(t, what, func() {
					db, err := Open(p, Options{ReadOnly: ro})
					if ro && tt.readOnlyOK {
						if err != nil {
							t.Fatalf("%s: %v, want a read-only open that does not load the freelist", what, err)
						}
						defer db.Close()
						if incs, err := db.Incidents(ctx, false); err != nil || len(incs) != 20 {
							t.Errorf("Incidents = %d, %v; want 20", len(incs), err)
						}
						// A copy of it would not open read-write: Backup
						// refuses to make one.
						_, err = db.Backup(new(bytes.Buffer))
						checkDamaged(t, "Backup", err, p)
						return
					}
					if err == nil {
						db.Close()
					}
					checkDamaged(t, what, err, p)
				})
			}
			// The lock of a failed open is released: a second open fails
			// the same way, not with "in use by another process".
			_, err := Open(p, Options{Timeout: 1})
			if err != nil && strings.Contains(err.Error(), "in use") {
				t.Errorf("after a failed open, the file is still locked: %v", err)
			}
		})
	}
}

// TestDamagedPageFailsReadsAndWrites: with a page in the middle of the file
// overwritten (one incident's events), Open and the other incidents still
// work; reading or writing that incident's timeline, and Backup, fail with
// the damaged-file error instead of a panic.
func TestDamagedPageFailsReadsAndWrites(t *testing.T) {
	_, raw, page := damagedFixture(t)
	for _, fill := range []struct {
		name string
		fn   func([]byte)
	}{{"random", randomBytes}, {"zeroed", zeroBytes}} {
		t.Run(fill.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "incidentbot.db")
			if err := os.WriteFile(p, overwrite(raw, page, page+1, fill.fn), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			db, err := Open(p, Options{})
			if err != nil {
				t.Fatalf("Open: %v, want the damage found only when the page is read", err)
			}
			defer db.Close()
			if incs, err := db.Incidents(ctx, false); err != nil || len(incs) != 20 {
				t.Errorf("Incidents = %d, %v; want 20", len(incs), err)
			}
			if n := len(allEvents(t, db, 3)); n != 50 {
				t.Errorf("incident 3 has %d events, want 50", n)
			}
			noPanic(t, "Events", func() {
				checkDamaged(t, "Events of the damaged incident", db.Events(ctx, 7, func(*incidentbot.TimelineEvent) error { return nil }), p)
			})
			noPanic(t, "AppendEvents", func() {
				_, err := db.AppendEvents(ctx, msg(7, "new", "1740830500.000001", "after the damage"))
				checkDamaged(t, "AppendEvents to the damaged incident", err, p)
			})
			noPanic(t, "Backup", func() {
				_, err := db.Backup(new(bytes.Buffer))
				checkDamaged(t, "Backup", err, p)
			})
			// Other incidents can still be written.
			if _, err := db.AppendEvents(ctx, msg(3, "new", "1740830500.000002", "still fine")); err != nil {
				t.Errorf("AppendEvents to a sound incident: %v", err)
			}
		})
	}
}

// TestRandomDamageNeverPanics overwrites random runs of pages (meta pages
// kept) in many copies of the file and uses each as the bot and the
// read-only commands would: every call returns, with data or an error.
func TestRandomDamageNeverPanics(t *testing.T) {
	_, raw, _ := damagedFixture(t)
	pages := len(raw) / pageSize
	r := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	for i := range 40 {
		from := 2 + r.IntN(pages-2)
		to := from + 1 + r.IntN(8)
		fill := randomBytes
		if i%2 == 1 {
			fill = zeroBytes
		}
		p := filepath.Join(t.TempDir(), "incidentbot.db")
		if err := os.WriteFile(p, overwrite(raw, from, to, fill), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			noPanic(t, fmt.Sprintf("pages %d-%d, read-only %v", from, to, ro), func() {
				db, err := Open(p, Options{ReadOnly: ro})
				if err != nil {
					return
				}
				defer db.Close()
				incs, _ := db.Incidents(ctx, false)
				for _, inc := range incs {
					_ = db.Events(ctx, inc.ID, func(*incidentbot.TimelineEvent) error { return nil })
				}
				_, _ = db.Users(ctx)
				_, _ = db.Backup(new(bytes.Buffer))
				if !ro {
					_, _ = db.AppendEvents(ctx, msg(5, "new", "1740830500.000003", "x"))
					_, _, _ = db.CreateIncident(ctx, newIncident("new", "Cnew"), "")
				}
			})
		}
	}
}

// TestForeignFile: a file that is not a bbolt file, and a bbolt file of
// another application, are refused with one line saying so, read-only and
// read-write, and the other application's file is left unchanged.
func TestForeignFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	bdb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("w1"), []byte("blue"))
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	before, _ := os.ReadFile(other)
	for _, tt := range []struct{ name, path, want string }{
		{"not a bbolt file", junk, "not a bbolt file"},
		{"another application's bbolt file", other, "another application"},
	} {
		for _, ro := range []bool{true, false} {
			noPanic(t, tt.name, func() {
				db, err := Open(tt.path, Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("%s (read-only %v): opened, want refused", tt.name, ro)
				}
				msg := err.Error()
				for _, want := range []string{tt.path, "is not an incidentbot database", tt.want, "INCIDENTBOT_DB", "restore it from a backup"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s (read-only %v): %q lacks %q", tt.name, ro, msg, want)
					}
				}
				if code(err) != incidentbot.EInvalid || strings.Contains(msg, "\n") {
					t.Errorf("%s: code %s, text %q; want EInvalid, one line", tt.name, code(err), msg)
				}
			})
		}
	}
	if after, _ := os.ReadFile(other); !bytes.Equal(before, after) {
		t.Error("Open wrote to another application's bbolt file")
	}
}
