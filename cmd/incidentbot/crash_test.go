package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child is the bot as a separate OS process (this test binary re-executed).
type child struct {
	cmd  *exec.Cmd
	done chan error
}

func (w *world) startChild(extra map[string]string) *child {
	w.t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "INCIDENTBOT_TEST_CHILD=1")
	for k, v := range w.env(extra) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = testWriter{w.t}
	before := w.emu.Connections()
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.done })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.emu.WaitConnected(ctx, before+1); err != nil {
		w.t.Fatalf("child did not connect: %v", err)
	}
	return c
}

// term sends SIGTERM and expects exit 0 within 5 s.
func (c *child) term(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- nil
		if err != nil {
			t.Fatalf("after SIGTERM the bot exited with %v, want 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bot did not exit within 5s of SIGTERM")
	}
}

// TestKillDuringBurst runs the load tool's crash soak (cmd/incidentbot-load
// soak): the bot process is SIGKILLed at random points of a continuous
// message burst, 20 times in a row, and restarted; every acknowledged
// message must be stored exactly once, every message at all (Slack's
// redelivery, then the backfill of a last restart), and the database must
// pass bbolt's consistency check.
func TestKillDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// The real binary, built as it ships (without the race detector, which
	// would make each restart take seconds), and the load tool.
	dir := t.TempDir()
	bin, load := filepath.Join(dir, "incidentbot"), filepath.Join(dir, "incidentbot-load")
	for _, b := range [][2]string{{bin, "."}, {load, "../incidentbot-load"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	var out bytes.Buffer
	soak := exec.Command(load, "soak", "-kills", "20", "-bin", bin)
	soak.Stdout, soak.Stderr = &out, testWriter{t}
	if err := soak.Run(); err != nil {
		t.Fatalf("soak: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "no loss, no duplicate") {
		t.Fatalf("soak output:\n%s", out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}
