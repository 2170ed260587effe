package commands_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store"
)

// openStore opens a bbolt store in a temporary directory, closed when the
// test ends.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "commands.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newService is a Service on db with every Slack capability answered by a
// fuzzSlack, and the clock stopped at now.
func newService(db *store.DB, now time.Time, cfg commands.Config) *commands.Service {
	deps := commands.SlackDeps(&fuzzSlack{})
	deps.Now = func() time.Time { return now }
	return commands.New(db, cfg, deps)
}
