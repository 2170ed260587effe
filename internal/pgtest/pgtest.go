// Package pgtest gives tests a PostgreSQL schema of their own. The tests
// that need PostgreSQL run only when INCIDENTBOT_TEST_POSTGRES names a
// database in which they may create schemas (and, for some, roles); without
// it they skip with one line saying how to enable them. .ci/run starts a
// local PostgreSQL and sets it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable that enables the PostgreSQL tests.
const Env = "INCIDENTBOT_TEST_POSTGRES"

// SkipLine is what a PostgreSQL test says when it skips.
const SkipLine = "set " + Env + "=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable to run the PostgreSQL tests (.ci/run does)"

// BaseURL returns the test database's URL, or skips the test with SkipLine.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		t.Skip(SkipLine)
	}
	return u
}

// Name returns a fresh name with prefix, usable as a schema or role name.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// SchemaURL creates a new, empty schema in the test database, dropped (with
// everything in it) at the test's cleanup, and returns a URL whose
// search_path is that schema. It skips like BaseURL and fails the test when
// the database cannot be reached.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	schema := Name("ibtest_")
	Exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { Exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	return WithSearchPath(t, base, schema)
}

// WithSearchPath returns u with search_path set to schema.
func WithSearchPath(t testing.TB, u, schema string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	return p.String()
}

// Exec runs sql on the database at u in its own connection, failing the
// test (without the URL's password) when it cannot.
func Exec(t testing.TB, u, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the test database: %v", scrub(err.Error(), u))
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

var userinfo = regexp.MustCompile(`://[^@/]*@`)

// scrub removes u's password from s.
func scrub(s, u string) string {
	if p, err := url.Parse(u); err == nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			return regexp.MustCompile(regexp.QuoteMeta(pw)).ReplaceAllString(userinfo.ReplaceAllString(s, "://xxxxx@"), "xxxxx")
		}
	}
	return userinfo.ReplaceAllString(s, "://xxxxx@")
}
