package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadToolQuick runs `incidentbot bench --quick` (the bot as a child
// process against the emulator) and checks BENCHMARKS.md has every figure.
func TestLoadToolQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var stdout bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &stdout, testWriter{t}
	if err := m.ParseFlags([]string{"bench", "--quick", "-o", out}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
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
