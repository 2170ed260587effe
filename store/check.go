package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds how many of bbolt's findings Check reports: a
// damaged file can yield thousands, and the first few say what is wrong.
const maxCheckErrors = 10

// Check runs bbolt's consistency check (tx.Check: every page reachable once,
// no page both used and free, keys in order) on the closed database file at
// path, which it opens read-only.
//
// It returns nil for a consistent file. It fails when the file cannot be
// opened within a second (missing, locked by a writer, not a bbolt file),
// and otherwise with an error naming the file and listing up to ten of the
// inconsistencies found.
func Check(path string) error {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("store: check %s: open: %w", path, err)
	}
	defer bdb.Close()
	var found []error
	if err := bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(found) < maxCheckErrors {
				found = append(found, err)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if len(found) > 0 {
		return fmt.Errorf("store: check %s: the file fails bbolt's consistency check: %w", path, errors.Join(found...))
	}
	return nil
}
