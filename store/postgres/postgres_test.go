package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/storetest"
	"github.com/jackc/pgx/v5"
)

// envTestURL names the variable that enables the tests against a real
// PostgreSQL: the URL of a database in which they may create schemas.
const envTestURL = "INCIDENTBOT_TEST_POSTGRES"

// baseURL returns the test database's URL, or skips the test with the one
// line that says how to enable it.
func baseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envTestURL)
	if u == "" {
		t.Skip("set " + envTestURL + "=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable to run the PostgreSQL tests (.ci/run does)")
	}
	return u
}

// schemaURL creates a new, empty schema in the test database, dropped at
// the test's cleanup, and returns a URL whose search_path is that schema:
// every store opened with it has its tables there.
func schemaURL(t testing.TB) string {
	t.Helper()
	base := baseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "ibtest_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", Redact(base), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", envTestURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openAt opens the store at u, closed at the test's cleanup.
func openAt(t testing.TB, u string, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), u, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestConformance holds the PostgreSQL store to the store contract. Each
// store is a new schema; Reopen opens the same schema again; a backup is
// a bbolt file, opened read-only with the bbolt store.
func TestConformance(t *testing.T) {
	baseURL(t)
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storetest.Store {
			return openAt(t, schemaURL(t), Options{})
		},
		Reopen: func(t *testing.T, s storetest.Store, readOnly bool) storetest.Store {
			db := s.(*DB)
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openAt(t, db.url, Options{ReadOnly: readOnly})
		},
		OpenBackup: func(t *testing.T, backup []byte) storetest.Store {
			return openBackup(t, backup)
		},
	})
}

// openBackup writes a backup to a file and opens it read-only with the
// bbolt store; cleanup closes it and checks the file's consistency.
func openBackup(t testing.TB, backup []byte) *store.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		if err := store.Check(path); err != nil {
			t.Errorf("the backup is not consistent: %v", err)
		}
	})
	return db
}
