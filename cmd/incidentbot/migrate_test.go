package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pgtest"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/postgres"
)

// migrateTarget creates a schema in the test database, owned by a new role
// with a distinctive password when the test user may create roles, both
// dropped at the test's cleanup, and returns a URL that logs in (as that
// role) with the schema as search_path, and the password in it. Without
// the variable the test is skipped with the line that says how to run it.
func migrateTarget(t *testing.T) (target, password string) {
	t.Helper()
	base := pgtest.BaseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ibmig_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgres.Redact(base), err)
	}
	defer admin.Close(ctx)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", pgtest.Env, err)
	}
	password = "Pw-" + hex.EncodeToString(b[:]) + "-s3cr3t"
	owner := ""
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", name, password)); err == nil {
		owner = " AUTHORIZATION " + name
		u.User = url.UserPassword(name, password)
	} else {
		t.Logf("cannot create a role (%v): the test's own password is checked instead", err)
		password, _ = u.User.Password()
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name+owner); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		if owner != "" {
			if _, err := conn.Exec(ctx, "DROP ROLE "+name); err != nil {
				t.Errorf("drop role %s: %v", name, err)
			}
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), password
}

// runMigrate runs `incidentbot migrate` with args in this process, without
// any Slack token, and returns what it printed (standard output and error)
// and its error.
func runMigrate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, &out
	env := map[string]string{"INCIDENTBOT_HTTP_ADDR": ""}
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := m.ParseFlags(append([]string{"migrate"}, args...))
	if err == nil {
		err = m.Run(context.Background())
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	t.Logf("incidentbot migrate:\n%s(error: %v)", out.String(), err)
	return out.String(), err
}

// fileContents reads every incident, timeline, user and gap of a bbolt
// database.
type dbContents struct {
	Incidents []*incidentbot.Incident
	Events    map[int64][]incidentbot.TimelineEvent
	Users     map[string]incidentbot.User
	Gaps      []incidentbot.Gap
}

// contentReader is what reading a database's contents needs, of either
// store.
type contentReader interface {
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
	Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error
	Users(ctx context.Context) (map[string]incidentbot.User, error)
	PendingGaps(ctx context.Context) ([]incidentbot.Gap, error)
}

func readContents(t *testing.T, db contentReader) dbContents {
	t.Helper()
	ctx := context.Background()
	c := dbContents{Events: map[int64][]incidentbot.TimelineEvent{}}
	var err error
	if c.Incidents, err = db.Incidents(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, inc := range c.Incidents {
		if err := db.Events(ctx, inc.ID, func(e *incidentbot.TimelineEvent) error {
			c.Events[inc.ID] = append(c.Events[inc.ID], *e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Users, err = db.Users(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Gaps, err = db.PendingGaps(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range c.Gaps { // the IDs and revisions are each store's own
		c.Gaps[i].ID, c.Gaps[i].Rev = 0, 0
	}
	return c
}

// readFile reads a stopped bot's bbolt file.
func readFile(t *testing.T, path string) dbContents {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return readContents(t, db)
}

// TestMigrate: a bbolt database written by the bot (edits, deletions, a
// file, a resolved incident, users, a pending backfill gap) is moved into
// PostgreSQL by `incidentbot migrate`, run without Slack tokens: every
// incident, event (kind, text, ts, Seq, dedup key…), user and gap reads
// back equal, and the next incident continues the numbering. Run again it
// copies nothing and succeeds; after the file grew it completes the
// incident that grew; an incident that changed in PostgreSQL is a conflict
// reported on its row, not touched, and the exit is non-zero. The URL's
// password never appears in what it prints.
func TestMigrate(t *testing.T) {
	target, password := migrateTarget(t)
	ctx := context.Background()

	w := newWorld(t, slackemu.Config{})
	bot := w.start(nil)
	c1 := w.openIncident(w.alice, "sev2 Checkout latency spike", "inc-1-checkout-latency-spike")
	w.cmd(w.alice, c1, "role commander me")
	m1 := w.emu.PostMessage(w.bob, c1, "seeing 500s on /checkout since 10:02")
	w.emu.PostReply(w.carol, c1, m1, "same on the EU cluster")
	w.emu.EditMessage(w.bob, c1, m1, "seeing 500s on /checkout since 10:01")
	r2 := w.emu.PostReply(w.carol, c1, m1, "wrong channel, sorry")
	w.emu.DeleteMessage(c1, r2)
	w.emu.ShareFile(w.alice, c1, "pool-graph.png", "pool saturation")
	w.emu.AddReaction(w.alice, c1, m1, "pushpin")
	w.cmd(w.bob, c1, "status identified Connection pool exhausted on db-3")
	c2 := w.openIncident(w.bob, "sev3 Slow search", "inc-2-slow-search")
	w.emu.PostMessage(w.carol, c2, "search p99 at 4s")
	if r := w.cmd(w.bob, c2, "resolve index rebuilt"); !strings.Contains(r, "resolved") {
		t.Fatalf("resolve reply = %q", r)
	}
	c3 := w.openIncident(w.carol, "sev4 Flaky CI", "inc-3-flaky-ci")
	w.emu.PostMessage(w.carol, c3, "retrying")
	w.eventually("all envelopes acknowledged", func() bool { return w.emu.UnackedCount() == 0 })
	bot.stop(t)

	// Users and a started gap, as the bot keeps them.
	db, err := store.Open(w.dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: w.alice, Name: "Alice"}, incidentbot.User{ID: w.carol, Name: "Carol Clark"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	gs, err := db.RecordGap(ctx, incidentbot.Gap{IncidentID: 3, Channel: c3, From: t0, To: t0.Add(10 * time.Minute), Recorded: t0})
	if err != nil {
		t.Fatal(err)
	}
	gs[0].Upper, gs[0].Stored = "1700000000.000100", 1
	if _, err := db.SaveGap(ctx, gs[0]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	file := readFile(t, w.dbPath)
	if len(file.Incidents) != 3 || len(file.Users) < 2 || len(file.Gaps) != 1 {
		t.Fatalf("the file has %d incidents, %d users, %d gaps", len(file.Incidents), len(file.Users), len(file.Gaps))
	}
	for _, k := range []incidentbot.EventKind{incidentbot.EventEdited, incidentbot.EventDeleted, incidentbot.EventFileShared, incidentbot.EventKeyMarked, incidentbot.EventResolved} {
		if countKind(append(file.Events[1], file.Events[2]...), k) == 0 {
			t.Fatalf("the file has no %s event", k)
		}
	}

	checkSecret := func(out string) {
		t.Helper()
		if strings.Contains(out, password) || strings.Contains(out, url.QueryEscape(password)) {
			t.Errorf("the output shows the password:\n%s", out)
		}
	}

	// The move.
	out, err := runMigrate(t, "--from", w.dbPath, "--to", target)
	checkSecret(out)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	wantAll(t, "migrate output", out, "xxxxx", "INC-1", "INC-2", "INC-3", "copied", "3 incidents (3 copied, 0 completed, 0 unchanged, 0 conflicts)",
		fmt.Sprintf("%d in the file, %d of them in PostgreSQL: ok", len(file.Users), len(file.Users)), "1 pending in the file, 1 copied",
		"the next new incident is INC-4")
	pg, err := postgres.Open(ctx, target, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	got := readContents(t, pg)
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s in PostgreSQL:\n got %s\nwant %s", what, g, w)
		}
	}
	same("incidents", got.Incidents, file.Incidents)
	for _, inc := range file.Incidents {
		same(inc.Key()+"'s events", got.Events[inc.ID], file.Events[inc.ID])
		if n := len(got.Events[inc.ID]); n == 0 || got.Events[inc.ID][n-1].Seq != uint64(n) {
			t.Errorf("%s: %d events in PostgreSQL, not numbered 1..n", inc.Key(), n)
		}
	}
	same("users", got.Users, file.Users)
	same("gaps", got.Gaps, file.Gaps)
	if ts, _ := pg.LastEventTS(ctx, 1); ts == "" {
		t.Error("INC-1's last message ts is empty in PostgreSQL")
	}

	// Again: nothing copied.
	out, err = runMigrate(t, "--from", w.dbPath, "--to", target)
	checkSecret(out)
	if err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	wantAll(t, "second migrate output", out, "3 incidents (0 copied, 0 completed, 3 unchanged, 0 conflicts)", "0 copied now", "1 pending in the file, 0 copied")
	if n := len(readContents(t, pg).Gaps); n != 1 {
		t.Errorf("%d gaps after the second run, want 1", n)
	}

	// The file went on after the copy (the bot ran on it meanwhile): the
	// grown incident is completed.
	db, err = store.Open(w.dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendEvents(ctx, incidentbot.TimelineEvent{IncidentID: 2, Kind: incidentbot.EventMessage, At: time.Now().UTC(), Actor: w.carol,
		Text: "late note", TS: "1800000000.000100", DedupKey: "late-note"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = runMigrate(t, "--from", w.dbPath, "--to", target)
	checkSecret(out)
	if err != nil {
		t.Fatalf("migrate a grown file: %v", err)
	}
	wantAll(t, "third migrate output", out, "(0 copied, 1 completed, 2 unchanged, 0 conflicts)", "1 copied now")
	file = readFile(t, w.dbPath)
	same("INC-2's events after completing", readContents(t, pg).Events[2], file.Events[2])

	// New incidents in PostgreSQL continue the numbering.
	inc, _, err := pg.CreateIncident(ctx, &incidentbot.Incident{Title: "after the move", Severity: 3, Declarer: w.alice}, "")
	if err != nil {
		t.Fatal(err)
	}
	if inc.ID != 4 {
		t.Errorf("the first incident after the move is %s, want INC-4", inc.Key())
	}

	// INC-3 changed in PostgreSQL: a conflict, reported and not touched.
	if _, err := pg.AppendEvents(ctx, incidentbot.TimelineEvent{IncidentID: 3, Kind: incidentbot.EventMessage, At: time.Now().UTC(), Text: "on PostgreSQL"}); err != nil {
		t.Fatal(err)
	}
	before := readContents(t, pg)
	out, err = runMigrate(t, "--from", w.dbPath, "--to", target)
	checkSecret(out)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "INC-3") {
		t.Errorf("migrate with a conflict: %v, want exit 1 naming INC-3", err)
	}
	wantAll(t, "conflict output", out, "CONFLICT", "more than the 3 in the file", "not touched", "(0 copied, 0 completed, 2 unchanged, 1 conflicts)", "the next new incident is INC-5")
	same("PostgreSQL after a conflict", readContents(t, pg), before)
}

// TestMigrateErrors: an unreachable database is one line naming it without
// its password, exit 1, from the real process; a missing flag or a URL
// that is not PostgreSQL's is a usage error. No PostgreSQL is needed.
func TestMigrateErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	const secret = "Unreach4ble-s3cret"
	code, out := runProcess(t, path, "migrate", "--from", path, "--to",
		"postgres://incidentbot:"+secret+"@127.0.0.1:1/incidents?sslmode=disable&connect_timeout=2")
	if code != 1 || strings.Count(strings.TrimRight(out, "\n"), "\n") != 0 || !strings.Contains(out, "cannot be reached") ||
		!strings.Contains(out, "127.0.0.1:1") || strings.Contains(out, secret) {
		t.Errorf("migrate to an unreachable database: exit %d, output %q; want exit 1 and one line without the password", code, out)
	}
	for _, args := range [][]string{
		{"--from", path},
		{"--to", "postgres://db/x"},
		{"--from", path, "--to", "other.db"},
		{"--from", path, "--to", "mysql://u:" + secret + "@db/x"},
	} {
		out, err := runMigrate(t, args...)
		if err == nil || exitCode(err) != 2 || strings.Contains(err.Error()+out, secret) {
			t.Errorf("migrate %v: %v, want a usage error without the password", args, err)
		}
	}
}
