package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
