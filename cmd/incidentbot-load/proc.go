package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serveProc is incidentbot serve running as a child process.
type serveProc struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startServe starts the bot binary as `incidentbot serve` on db against the
// emulator and waits until /readyz answers 200; it returns how long that took.
// db is a bbolt file or a postgres:// URL; env adds to (or overrides) the
// process's environment, as NAME=value.
func (b *benchRun) startServe(db string, env ...string) (*serveProc, time.Duration, error) {
	addr, err := freeTCPAddr()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(b.exe, "serve")
	cmd.Env = append(os.Environ(),
		"SLACK_BOT_TOKEN="+b.emu.Config().BotToken, "SLACK_APP_TOKEN="+b.emu.Config().AppToken,
		"INCIDENTBOT_SLACK_API_URL="+b.emu.URL(), "INCIDENTBOT_DB="+db, "INCIDENTBOT_HTTP_ADDR="+addr,
		"INCIDENTBOT_LOG_LEVEL=error", "INCIDENTBOT_ANNOUNCE_CHANNEL=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	b.procs = append(b.procs, cmd)
	p := &serveProc{cmd: cmd, addr: addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-p.done:
			return nil, 0, fmt.Errorf("serve exited before it was ready: %v", err)
		default:
		}
		if resp, err := client.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(start), nil
			}
		}
		if time.Since(start) > time.Minute {
			return nil, 0, errors.New("serve was not ready within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits.
func (p *serveProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- nil
		return err
	case <-time.After(10 * time.Second):
		return errors.New("serve did not exit within 10s of SIGTERM")
	}
}

// rss is the resident memory of the process, from /proc.
func (p *serveProc) rss() int64 {
	buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(buf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freeTCPAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor polls cond every 5 ms for up to d.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
