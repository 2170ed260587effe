package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/storetest"
	"github.com/jackc/pgx/v5"
)

// TestMigrationsFromEmpty opens an empty schema: the migrations create
// every table and record the version; opening again changes nothing.
func TestMigrationsFromEmpty(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	db := openAt(t, u, Options{})
	if v, err := db.SchemaVersion(ctx); err != nil || v != KnownVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, KnownVersion())
	}
	var tables []string
	rows, err := db.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	want := "counters cron_firings events gaps goose_db_version incident_commands incident_creates incidents leases users"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables = %s, want %s", got, want)
	}
	storetest.MustCreate(t, db, "kept", "C1")
	db.Close()

	again := openAt(t, u, Options{})
	if v, err := again.SchemaVersion(ctx); err != nil || v != KnownVersion() {
		t.Fatalf("SchemaVersion after a second Open = %d, %v", v, err)
	}
	if incs, err := again.Incidents(ctx, false); err != nil || len(incs) != 1 {
		t.Errorf("a second Open lost data: %d incidents, %v", len(incs), err)
	}
}

// TestMigrationsConcurrentOpen starts several replicas at once on an
// empty schema: goose's advisory lock makes one migrate, and all open.
func TestMigrationsConcurrentOpen(t *testing.T) {
	u := schemaURL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			db, err := Open(context.Background(), u, Options{})
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			db.Close()
		})
	}
	wg.Wait()
}

// TestRefusesNewerSchema: a database migrated by a newer incidentbot is
// refused, read-write and read-only, with a message that says to upgrade.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	db := openAt(t, u, Options{})
	newer := KnownVersion() + 1
	if _, err := db.pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, ro := range []bool{false, true} {
		_, err := Open(ctx, u, Options{ReadOnly: ro})
		want := "the incident database schema version " + itoa(newer) + " is newer than this incidentbot (knows up to " + itoa(KnownVersion()) + "); upgrade incidentbot"
		if incidentbot.ErrorCode(err) != incidentbot.EConflict || incidentbot.ErrorMessage(err) != want {
			t.Errorf("Open(ReadOnly: %v) of a newer schema = %v; want EConflict %q", ro, err, want)
		}
	}
}

// TestReadOnlyEmptyDatabase: a read-only open of a database that was
// never migrated creates nothing and says so.
func TestReadOnlyEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t)
	_, err := Open(ctx, u, Options{ReadOnly: true})
	if incidentbot.ErrorCode(err) != incidentbot.ENotFound {
		t.Fatalf("read-only Open of an empty schema = %v, want ENotFound", err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a read-only Open created %d tables (%v)", n, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
