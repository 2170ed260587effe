package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentbot/incidentbot/store/storetest"
)

// TestConformance holds the bbolt store to the store contract. Each store
// is a new file in t.TempDir(); cleanup closes it and runs bbolt's
// consistency check on the file, backups included.
func TestConformance(t *testing.T) {
	storetest.Run(t, boltBackend(Options{}))
}

// TestConformanceFixedDelay runs the contract with the fixed-delay group
// commit that Options.BatchDelay brings back.
func TestConformanceFixedDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("the fixed-delay commit path is checked without -short")
	}
	storetest.Run(t, boltBackend(Options{BatchDelay: DefaultBatchDelay}))
}

// boltBackend opens stores with opts for the conformance suite.
func boltBackend(opts Options) storetest.Backend {
	return storetest.Backend{
		Open: func(t *testing.T) storetest.Store {
			return openAt(t, filepath.Join(t.TempDir(), "incidentbot.db"), opts)
		},
		Reopen: func(t *testing.T, s storetest.Store, readOnly bool) storetest.Store {
			db := s.(*DB)
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			o := opts
			o.ReadOnly = readOnly
			return openAt(t, db.Path(), o)
		},
		OpenBackup: func(t *testing.T, backup []byte) storetest.Store {
			path := filepath.Join(t.TempDir(), "backup.db")
			if err := os.WriteFile(path, backup, 0o600); err != nil {
				t.Fatal(err)
			}
			return openAt(t, path, Options{ReadOnly: true})
		},
	}
}
