package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/store/postgres"
)

// setting is one configuration key: its environment variable, its key in
// the YAML file (the variable in lower case without the INCIDENTBOT_
// prefix), its flag, default and help.
type setting struct {
	env, def, help string
	secret         bool
}

func (s setting) key() string {
	return strings.ToLower(strings.TrimPrefix(s.env, "INCIDENTBOT_"))
}

func (s setting) flag() string { return strings.ReplaceAll(s.key(), "_", "-") }

// settings returns every configuration key, as in PRODUCT.md.
func settings() []setting {
	return append([]setting{
		{env: "SLACK_BOT_TOKEN", help: "xoxb-… bot token", secret: true},
		{env: "SLACK_APP_TOKEN", help: "xapp-… app-level token with connections:write", secret: true},
		{env: "INCIDENTBOT_SLACK_API_URL", def: "https://slack.com/api/", help: "Slack Web API base URL"},
		{env: "INCIDENTBOT_DB", def: "incidentbot.db", help: "bbolt database file, or a postgres:// URL (several replicas; give a URL with a password by the environment or the file, not a flag)"},
		{env: "INCIDENTBOT_LEASE_TTL", def: "15s", help: "with PostgreSQL: how long the scheduler lease lasts unrenewed"},
		{env: "INCIDENTBOT_REPLICA_ID", help: "with PostgreSQL: this replica's name (default: host name and process id)"},
		{env: "INCIDENTBOT_UPDATE_INTERVAL", def: "15m", help: "status-update reminder interval"},
		{env: "INCIDENTBOT_ANNOUNCE_CHANNEL", help: "channel ID for announcements"},
		{env: "INCIDENTBOT_CHANNEL_PREFIX", def: "inc", help: "incident channel name prefix"},
		{env: "INCIDENTBOT_ACTION_REMINDER_CRON", def: "0 9 * * 1-5", help: "when owners of overdue action items are reminded"},
		{env: "INCIDENTBOT_TIMEZONE", def: "UTC", help: "time zone of cron specs and due dates"},
		{env: "INCIDENTBOT_POSTMORTEM_TEMPLATE", help: "path to a post-mortem template replacing the built-in one"},
		{env: "INCIDENTBOT_HTTP_ADDR", def: "127.0.0.1:8080", help: "address of /healthz, /readyz and /metrics; empty disables"},
		{env: "INCIDENTBOT_SOCKET_STALE_AFTER", def: "60s", help: "a socket silent this long is replaced"},
		{env: "INCIDENTBOT_LOG_LEVEL", def: "info", help: "log level"},
		{env: "INCIDENTBOT_LOG_FORMAT", def: "text", help: "text or json"},
		{env: "PAGERDUTY_ROUTING_KEY", help: "Events API v2 integration key", secret: true},
		{env: "PAGERDUTY_TOKEN", help: "REST API token for on-call look-up", secret: true},
		{env: "PAGERDUTY_ESCALATION_POLICY", help: "escalation policy whose on-call is invited"},
		{env: "INCIDENTBOT_PAGE_SEVERITY", def: "sev2", help: "open at this severity or worse pages"},
		{env: "INCIDENTBOT_PAGERDUTY_API_URL", def: "https://api.pagerduty.com", help: "PagerDuty REST API base URL"},
		{env: "INCIDENTBOT_PAGERDUTY_EVENTS_URL", def: "https://events.pagerduty.com", help: "PagerDuty Events API base URL"},
	}, trackerSettings()...)
}

// Config is the parsed configuration.
type Config struct {
	BotToken, AppToken  string
	SlackAPIURL         string
	DB                  string
	UpdateInterval      time.Duration
	AnnounceChannel     string
	ChannelPrefix       string
	ActionReminderCron  string
	Location            *time.Location
	PostmortemTemplate  string
	HTTPAddr            string
	SocketStaleAfter    time.Duration
	LogLevel, LogFormat string
	PDRoutingKey        string
	PDToken             string
	PDEscalationPolicy  string
	PageSeverity        incidentbot.Severity
	PDAPIURL            string
	PDEventsURL         string
	// LeaseTTL and ReplicaID matter with PostgreSQL only.
	LeaseTTL  time.Duration
	ReplicaID string
	// Tracker configures GitHub Issues or Jira (tracker.go).
	Tracker TrackerConfig
}

// Postgres reports whether DB names a PostgreSQL database rather than a
// bbolt file.
func (c *Config) Postgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}

// Secrets returns the configured secret values, for log redaction.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range append([]string{c.BotToken, c.AppToken, c.PDRoutingKey, c.PDToken}, c.Tracker.secrets()...) {
		if s != "" {
			out = append(out, s)
		}
	}
	if c.Postgres() {
		out = append(out, postgres.Passwords(c.DB)...)
	}
	return out
}

// configSource gathers raw values: defaults, then the YAML file, then the
// environment, then flags that were set.
type configSource struct {
	flags *flag.FlagSet
	vals  map[string]*string // flag values by env name
	file  *string
}

func newConfigSource(fs *flag.FlagSet) *configSource {
	cs := &configSource{flags: fs, vals: map[string]*string{}}
	cs.file = fs.String("config", "", "YAML configuration file (keys: the variable names in lower case without INCIDENTBOT_)")
	for _, s := range settings() {
		if s.secret {
			continue // tokens only from the environment or the file: flags show in ps
		}
		cs.vals[s.env] = fs.String(s.flag(), "", fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def))
	}
	return cs
}

// resolve returns the merged raw values by environment variable name.
func (cs *configSource) resolve(lookupEnv func(string) (string, bool)) (map[string]string, error) {
	raw := map[string]string{}
	for _, s := range settings() {
		raw[s.env] = s.def
	}
	if *cs.file != "" {
		buf, err := os.ReadFile(*cs.file)
		if err != nil {
			return nil, fmt.Errorf("read the config file: %w", err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(buf, &file); err != nil {
			return nil, fmt.Errorf("parse the config file %s: %w", *cs.file, err)
		}
		known := map[string]string{}
		for _, s := range settings() {
			known[s.key()] = s.env
		}
		var unknown []string
		for k, v := range file {
			env, ok := known[k]
			if !ok {
				unknown = append(unknown, k)
				continue
			}
			raw[env] = fmt.Sprint(v)
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("the config file %s has unknown keys: %s", *cs.file, strings.Join(unknown, ", "))
		}
	}
	for _, s := range settings() {
		if v, ok := lookupEnv(s.env); ok {
			raw[s.env] = v
		}
	}
	cs.flags.Visit(func(f *flag.Flag) {
		for env, p := range cs.vals {
			if settingFlag(env) == f.Name {
				raw[env] = *p
			}
		}
	})
	return raw, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns. A bad flag is a usage error.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func settingFlag(env string) string {
	return setting{env: env}.flag()
}

// parseConfig turns raw values into a Config, naming the key of every bad value.
func parseConfig(raw map[string]string) (Config, error) {
	var errs []error
	dur := func(env string) time.Duration {
		d, err := time.ParseDuration(raw[env])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive Go duration like 15m", env, raw[env]))
		}
		return d
	}
	c := Config{
		BotToken:           raw["SLACK_BOT_TOKEN"],
		AppToken:           raw["SLACK_APP_TOKEN"],
		SlackAPIURL:        raw["INCIDENTBOT_SLACK_API_URL"],
		DB:                 raw["INCIDENTBOT_DB"],
		UpdateInterval:     dur("INCIDENTBOT_UPDATE_INTERVAL"),
		AnnounceChannel:    raw["INCIDENTBOT_ANNOUNCE_CHANNEL"],
		ChannelPrefix:      raw["INCIDENTBOT_CHANNEL_PREFIX"],
		ActionReminderCron: raw["INCIDENTBOT_ACTION_REMINDER_CRON"],
		PostmortemTemplate: raw["INCIDENTBOT_POSTMORTEM_TEMPLATE"],
		HTTPAddr:           raw["INCIDENTBOT_HTTP_ADDR"],
		SocketStaleAfter:   dur("INCIDENTBOT_SOCKET_STALE_AFTER"),
		LogLevel:           raw["INCIDENTBOT_LOG_LEVEL"],
		LogFormat:          raw["INCIDENTBOT_LOG_FORMAT"],
		PDRoutingKey:       raw["PAGERDUTY_ROUTING_KEY"],
		PDToken:            raw["PAGERDUTY_TOKEN"],
		PDEscalationPolicy: raw["PAGERDUTY_ESCALATION_POLICY"],
		PDAPIURL:           raw["INCIDENTBOT_PAGERDUTY_API_URL"],
		PDEventsURL:        raw["INCIDENTBOT_PAGERDUTY_EVENTS_URL"],
		LeaseTTL:           dur("INCIDENTBOT_LEASE_TTL"),
		ReplicaID:          raw["INCIDENTBOT_REPLICA_ID"],
	}
	var err error
	if c.Tracker, err = parseTracker(raw); err != nil {
		errs = append(errs, err)
	}
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		c.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.DB == "" {
		errs = append(errs, errors.New("INCIDENTBOT_DB is empty: name the database file"))
	}
	if slug := strings.Trim(strings.ToLower(c.ChannelPrefix), "-_"); slug == "" || strings.ContainsFunc(slug, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_CHANNEL_PREFIX=%q: use lowercase letters, digits, - and _", c.ChannelPrefix))
	} else if len(c.ChannelPrefix) > commands.MaxPrefix {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_CHANNEL_PREFIX=%q: at most %d characters, so that the incident number and title fit Slack's 80", c.ChannelPrefix, commands.MaxPrefix))
	}
	loc, err := time.LoadLocation(raw["INCIDENTBOT_TIMEZONE"])
	if err != nil {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_TIMEZONE=%q is not a time zone name like UTC or Europe/Berlin", raw["INCIDENTBOT_TIMEZONE"]))
	}
	c.Location = loc
	if _, err := cron.ParseStandard(c.ActionReminderCron); err != nil {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_ACTION_REMINDER_CRON=%q is not a cron spec (like \"0 9 * * 1-5\" or \"@every 1h\"): %v", c.ActionReminderCron, err))
	}
	if sev, err := incidentbot.ParseSeverity(raw["INCIDENTBOT_PAGE_SEVERITY"]); err != nil {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_PAGE_SEVERITY=%q: use sev1, sev2, sev3 or sev4", raw["INCIDENTBOT_PAGE_SEVERITY"]))
	} else {
		c.PageSeverity = sev
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("INCIDENTBOT_LOG_FORMAT=%q: use text or json", c.LogFormat))
	}
	return c, errors.Join(errs...)
}

// missingTokens names the unset Slack token variables.
func (c *Config) missingTokens() []string {
	var out []string
	if c.BotToken == "" {
		out = append(out, "SLACK_BOT_TOKEN")
	}
	if c.AppToken == "" {
		out = append(out, "SLACK_APP_TOKEN")
	}
	return out
}
