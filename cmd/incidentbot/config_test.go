package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseWith(t *testing.T, env map[string]string, args ...string) (*Main, error) {
	t.Helper()
	m := NewMain()
	m.Stdout, m.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return m, m.ParseFlags(append([]string{"serve"}, args...))
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(file, []byte("db: /file.db\nupdate_interval: 5m\nchannel_prefix: sev\nslack_bot_token: xoxb-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := parseWith(t, map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": "7m", "INCIDENTBOT_DB": "/env.db"},
		"--config", file, "--db", "/flag.db")
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.DB != "/flag.db" || c.UpdateInterval != 7*time.Minute || c.ChannelPrefix != "sev" || c.BotToken != "xoxb-file" ||
		c.HTTPAddr != "127.0.0.1:8080" || c.Location.String() != "UTC" || c.PageSeverity != 2 {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"INCIDENTBOT_UPDATE_INTERVAL": "soon"}, nil, "INCIDENTBOT_UPDATE_INTERVAL"},
		{map[string]string{"INCIDENTBOT_TIMEZONE": "Mars/Base"}, nil, "INCIDENTBOT_TIMEZONE"},
		{map[string]string{"INCIDENTBOT_ACTION_REMINDER_CRON": "every day"}, nil, "INCIDENTBOT_ACTION_REMINDER_CRON"},
		{map[string]string{"INCIDENTBOT_PAGE_SEVERITY": "sev5"}, nil, "INCIDENTBOT_PAGE_SEVERITY"},
		{map[string]string{"INCIDENTBOT_LOG_FORMAT": "xml"}, nil, "INCIDENTBOT_LOG_FORMAT"},
		{map[string]string{"INCIDENTBOT_CHANNEL_PREFIX": "Inc!"}, nil, "INCIDENTBOT_CHANNEL_PREFIX"},
		{nil, []string{"--socket-stale-after", "-1s"}, "INCIDENTBOT_SOCKET_STALE_AFTER"},
		{nil, []string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tt := range tests {
		_, err := parseWith(t, tt.env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v args %v: error %v, want it to name %s", tt.env, tt.args, err, tt.want)
		}
	}
	file := filepath.Join(t.TempDir(), "cfg.yaml")
	os.WriteFile(file, []byte("dbb: x\n"), 0o600)
	if _, err := parseWith(t, nil, "--config", file); err == nil || !strings.Contains(err.Error(), "unknown keys: dbb") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestServeWithoutTokens: one clear message naming the variables, exit 2.
func TestServeWithoutTokens(t *testing.T) {
	m, err := parseWith(t, map[string]string{"SLACK_APP_TOKEN": "xapp-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Run(context.Background())
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("Run = %v (exit %d), want a usage error", err, exitCode(err))
	}
	for _, s := range []string{"SLACK_BOT_TOKEN not set", "incidentbot demo", "deploy/slack-app-manifest.yaml"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "xapp-1") {
		t.Error("the message shows a token")
	}
}

// TestLogsNeverShowTokens: a configured secret is redacted from any log line.
func TestLogsNeverShowTokens(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLogger(&buf, "info", "json", []string{"xoxb-secret-1", "xapp-secret-2"})
	if err != nil {
		t.Fatal(err)
	}
	l.WithField("url", "https://x/?token=xoxb-secret-1").WithError(os.ErrNotExist).Error("failed with xapp-secret-2")
	if s := buf.String(); strings.Contains(s, "secret") || !strings.Contains(s, "[redacted]") {
		t.Errorf("log line = %s", s)
	}
}

// TestDemo runs the README's first command and checks the transcript.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, testWriter{t}
	m.LookupEnv = func(string) (string, bool) { return "", false }
	dir := filepath.Join(t.TempDir(), "not", "yet") // -o creates a missing directory
	if err := m.ParseFlags([]string{"demo", "-o", dir}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, s := range []string{
		"[only Alice (on call)] incidentbot: Opening *INC-1*",
		"#inc-1-checkout-latency-spike  incidentbot: :rotating_light: *INC-1: Checkout latency spike*",
		"#incidents  incidentbot: *INC-1*",
		"H2 rejected",
		"hypothesis_rejected",
		`message_edited       Bob (database)   "p99 on /checkout is 9s, errors are pool timeouts to db-3" (was`,
		"incident_resolved",
		"Alice (on call) clicks [Post update] on the pinned header",
		"Alice (on call) fills in the form (status: identified",
		"*Status update* — *identified*",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("demo output lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "INC-1-postmortem.md")); err != nil {
		t.Errorf("demo -o: %v", err)
	}
}

// TestEverySubcommandReadsConfig: ParseFlags loads the configuration file
// for every subcommand that takes flags, and aliases name subcommands.
func TestEverySubcommandReadsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(file, []byte("db: /from/file.db\nchannel_prefix: sev\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := [][]string{
		{"serve"}, {"demo"}, {"export", "INC-1"}, {"list", "--all"}, {"backup", "copy.db"}, {"healthcheck"},
	}
	for _, args := range tests {
		m := NewMain()
		m.Stdout, m.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
		m.LookupEnv = func(string) (string, bool) { return "", false }
		if err := m.ParseFlags(append(args, "--config", file)); err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if m.Config.DB != "/from/file.db" || m.Config.ChannelPrefix != "sev" {
			t.Errorf("%v: config %+v, want the file's", args, m.Config)
		}
	}
	for _, alias := range []string{"help", "-h", "--help"} {
		var out bytes.Buffer
		m := NewMain()
		m.Stdout, m.Stderr = &out, &bytes.Buffer{}
		if err := m.ParseFlags([]string{alias}); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil || !strings.Contains(out.String(), "incidentbot export INC-ID") {
			t.Errorf("%s: %v\n%s", alias, err, out.String())
		}
	}
	for _, args := range [][]string{{"bench"}, {"export"}, {"list", "extra"}} {
		m := NewMain()
		m.Stdout, m.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
		if err := m.ParseFlags(args); err == nil || exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
