package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/storetest"
)

// damagedDB writes a database of three incidents with a few messages each
// and returns its bytes and the page of incident 1's events bucket root.
func damagedDB(t *testing.T) ([]byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		inc := storetest.MustCreate(t, db, fmt.Sprint("incident ", i), fmt.Sprint("C", i))
		var evs []incidentbot.TimelineEvent
		for j := range 60 {
			ts := fmt.Sprintf("%d.%06d", 1740830400+i, j)
			evs = append(evs, storetest.Message(inc.ID, incidentbot.MessageKey(ts), ts, strings.Repeat("a message ", 8)))
		}
		if _, err := db.AppendEvents(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var events int
	_ = bdb.View(func(tx *bolt.Tx) error {
		events = int(tx.Bucket([]byte("timeline")).Bucket([]byte{0, 0, 0, 0, 0, 0, 0, 1}).Bucket([]byte("events")).Root())
		return nil
	})
	bdb.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw, events
}

// runProcess runs this test binary as the real incidentbot process with
// args and the database at db, and returns its exit code and output.
func runProcess(t *testing.T, db string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "INCIDENTBOT_TEST_CHILD=1", "INCIDENTBOT_DB="+db,
		"SLACK_BOT_TOKEN=xoxb-test", "SLACK_APP_TOKEN=xapp-test",
		"INCIDENTBOT_SLACK_API_URL=http://127.0.0.1:1/api/", "INCIDENTBOT_HTTP_ADDR=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("incidentbot %s did not end within 20s: %s", strings.Join(args, " "), out.String())
	}
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return exit.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// TestDamagedDatabaseFile: serve, list --all, export and backup, run as the
// real process on a damaged or foreign database file, each print one line
// naming the file, what is wrong and how to restore it from a backup, and
// exit 1: no panic, no stack trace.
func TestDamagedDatabaseFile(t *testing.T) {
	raw, events := damagedDB(t)
	const page = 4096
	garbage := func(b []byte) []byte {
		r := rand.New(rand.NewPCG(5, 6))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	damage := func(from, to int) []byte {
		out := bytes.Clone(raw)
		garbage(out[from*page : min(to*page, len(out))])
		return out
	}
	foreign := filepath.Join(t.TempDir(), "other.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
	bdb.Close()
	foreignRaw, _ := os.ReadFile(foreign)

	all := []string{"serve", "list", "export", "backup"}
	tests := []struct {
		name     string
		data     []byte
		commands []string // those that must fail; the others may work
		want     string
	}{
		// The probe of the issue: every page but the two meta pages overwritten.
		{"data pages overwritten", damage(2, len(raw)/page), all, "is damaged"},
		// One incident's timeline: Open and list still work; what reads it fails.
		{"a timeline page overwritten", damage(events, events+1), []string{"export", "backup"}, "is damaged"},
		{"truncated", raw[:3*page], all, "is damaged"},
		{"random bytes", garbage(make([]byte, len(raw))), all, "is not an incidentbot database"},
		{"another application's bbolt file", foreignRaw, all, "is not an incidentbot database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sub := range tt.commands {
				db := filepath.Join(t.TempDir(), "incidentbot.db")
				if err := os.WriteFile(db, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
				var args []string
				switch sub {
				case "serve":
					args = []string{"serve"}
				case "list":
					args = []string{"list", "--all"}
				case "export":
					args = []string{"export", "INC-1"}
				case "backup":
					args = []string{"backup", filepath.Join(t.TempDir(), "copy.db")}
				}
				code, out := runProcess(t, db, args...)
				line := strings.TrimRight(out, "\n")
				if code != 1 || strings.Contains(line, "\n") || strings.Contains(out, "goroutine") || strings.Contains(out, "panic") {
					t.Errorf("%s: exit %d, output %q, want exit 1 and one line", sub, code, out)
					continue
				}
				for _, want := range []string{db, tt.want, "restore it from a backup", "incidentbot backup"} {
					if !strings.Contains(line, want) {
						t.Errorf("%s: %q lacks %q", sub, line, want)
					}
				}
			}
		})
	}
}
