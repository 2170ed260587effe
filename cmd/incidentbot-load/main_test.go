package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/incidentbot/incidentbot/internal/pgtest"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the bot binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// botBinary builds ./cmd/incidentbot once for every test of the package.
func botBinary(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "incidentbot-load-test-"); built.err == nil {
			built.bin, built.err = buildBot(built.dir)
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.bin
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLoadToolQuick runs `incidentbot-load bench --quick` (the bot as a
// child process against the emulator) and checks BENCHMARKS.md has every
// figure.
func TestLoadToolQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"bench", "--quick", "-o", out, "-bin", botBinary(t)}, &stdout, testWriter{t}); err != nil {
		t.Fatalf("bench: %v\n%s", err, stdout.String())
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"resident memory, idle", "ack latency, 10 in flight", "ack latency, 100 in flight",
		"capture / raw bbolt", "post-mortem render from the store, 10000 events", "start-up to ready", "Reproduce:", "Machine:"} {
		if !strings.Contains(string(buf), s) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", s, buf)
		}
	}
}

// TestLoadToolQuickPostgres runs `incidentbot-load bench --quick
// --postgres URL` against the database of INCIDENTBOT_TEST_POSTGRES and
// checks that BENCHMARKS.md has both columns, every PostgreSQL figure and
// a verdict per target, and that the schemas it made are gone.
func TestLoadToolQuickPostgres(t *testing.T) {
	base := pgtest.BaseURL(t)
	if testing.Short() {
		t.Skip("starts processes")
	}
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"bench", "--quick", "-o", out, "-bin", botBinary(t), "--postgres", base}, &stdout, testWriter{t}); err != nil {
		t.Fatalf("bench: %v\n%s", err, stdout.String())
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(buf)
	for _, s := range []string{"| bbolt (1 process) | PostgreSQL (3 replicas, one schema) |", "ack latency, 100 in flight",
		"raw PostgreSQL group insert: 3 connections", "capture / raw baseline of the same store", "start-up to ready",
		"## PostgreSQL targets", "slash-command ack p99 < 50 ms", "capture >= 50%", "start-up to ready < 2 s", "events per transaction",
		"| the store alone, no bot and no Slack", "AppendEvents from 3 pools on one schema"} {
		if !strings.Contains(md, s) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", s, md)
		}
	}
	lines := strings.Split(md, "\n")
	for i, line := range lines {
		cells := strings.Split(line, "|")
		if strings.HasPrefix(line, "| ") && len(cells) > 3 && !strings.Contains(line, "post-mortem render") && strings.TrimSpace(cells[3]) == "—" {
			t.Errorf("a row without its PostgreSQL figure: %s", line)
		}
		if strings.HasPrefix(line, "| the store alone") && (i == 0 || !strings.HasPrefix(lines[i-1], "| raw batched writes")) {
			t.Errorf("the store alone's row is not right after the raw baseline's:\n%s", md)
		}
	}
	if strings.Contains(md+stdout.String(), base) {
		t.Errorf("the URL with its password shows in the output")
	}
	// The schemas the run made (it names them) are gone.
	schemas := regexp.MustCompile(`incidentbot_load_[a-z]+_[0-9a-f]+`).FindAllString(stdout.String(), -1)
	if len(schemas) < 3 {
		t.Fatalf("the run named %d schemas, want 3:\n%s", len(schemas), stdout.String())
	}
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left []string
	rows, err := conn.Query(context.Background(), `SELECT nspname FROM pg_namespace WHERE nspname = ANY ($1)`, schemas)
	if err == nil {
		left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("schemas left behind: %v", left)
	}
}

// TestUsage: a wrong subcommand or flag is a usage error.
func TestUsage(t *testing.T) {
	tests := [][]string{nil, {"benchmark"}, {"soak", "-kills", "many"}, {"bench", "extra"}}
	for _, args := range tests {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if _, ok := err.(usageError); !ok {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}
