package postgres

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentbot/incidentbot/internal/pgtest"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// baseURL and schemaURL give each test its own schema (package pgtest).
var (
	baseURL   = pgtest.BaseURL
	schemaURL = pgtest.SchemaURL
)

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
