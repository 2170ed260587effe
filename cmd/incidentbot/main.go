// Command incidentbot is the Slack incident bot: `serve` runs it, `demo`
// runs a scripted incident against the built-in Slack emulator, `export`
// and `list` read the database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	err := m.ParseFlags(os.Args[1:])
	if err == nil {
		err = m.Run(ctx)
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(m.Stderr, "incidentbot:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in how the program was called.
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := errors.AsType[usageError](err); ok || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// Main is the program: ParseFlags, then Run, then Close. Tests run the same
// Main with their own environment and emulators.
type Main struct {
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)

	// Now is the clock of commands and reminders; nil means time.Now.
	// Tests move it forward to make action items overdue.
	Now func() time.Time
	// TuneBot, if set, adjusts the bot's configuration before it starts:
	// tests use it for short Slack timeouts.
	TuneBot func(*bot.Config)
	// TuneStore, if set, adjusts serve's store options before the store
	// opens: tests use it to cap the file's size, a disk that fills up.
	TuneStore func(*store.Options)

	cmd    string
	args   []string
	source *configSource
	flags  *flag.FlagSet
	Config Config
	Logger *logrus.Logger
	Store  *store.DB
	Bot    *bot.Bot
	// HTTP is the health and metrics server while serve runs.
	HTTP *ops.Server
}

// openBySeverity counts open incidents by severity, for the metrics.
func openBySeverity(db *store.DB) (map[string]int, error) {
	incs, err := db.Incidents(context.Background(), true)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, inc := range incs {
		counts[inc.Severity.String()]++
	}
	return counts, nil
}

// NewMain returns a Main using the process's environment and standard streams.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv}
}

const usage = `incidentbot — a Slack incident bot

Usage:
  incidentbot [serve] [flags]          connect to Slack over Socket Mode and run
  incidentbot demo [-o DIR]            run a scripted incident against the built-in Slack emulator
  incidentbot export INC-ID [-o FILE] [--format markdown|json]
  incidentbot list [--all]             list open (or all) incidents
  incidentbot backup FILE              consistent copy of the database, also while serve runs
  incidentbot bench [--quick] [-o FILE] run the load tool against the built-in emulator, write BENCHMARKS.md
  incidentbot soak [-kills N]          SIGKILL the bot N times during a burst and check nothing was lost
  incidentbot healthcheck              exit 0 when /healthz on INCIDENTBOT_HTTP_ADDR answers (container health checks)
  incidentbot version | help

Configuration: environment variables, an optional --config FILE (YAML), flags.
Run 'incidentbot serve -h' for every setting.
`

// ParseFlags reads the subcommand, flags and configuration.
func (m *Main) ParseFlags(args []string) error {
	m.cmd = "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		m.cmd, args = args[0], args[1:]
	}
	switch m.cmd {
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		m.cmd = "none"
		return nil
	case "version":
		fmt.Fprintln(m.Stdout, "incidentbot", Version)
		m.cmd = "none"
		return nil
	case "serve", "demo", "export", "list", "healthcheck", "backup", "bench", "soak":
	default:
		return usageError{fmt.Errorf("unknown command %q\n\n%s", m.cmd, usage)}
	}
	m.flags = flag.NewFlagSet("incidentbot "+m.cmd, flag.ContinueOnError)
	m.flags.SetOutput(m.Stderr)
	m.source = newConfigSource(m.flags)
	m.args = args
	return nil
}

// loadConfig parses flags (already registered by the subcommand) and the
// configuration.
func (m *Main) loadConfig(args []string) error {
	if err := m.flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	raw, err := m.source.resolve(m.LookupEnv)
	if err != nil {
		return usageError{err}
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return usageError{err}
	}
	m.Config = cfg
	m.Logger, err = newLogger(m.Stderr, cfg.LogLevel, cfg.LogFormat, cfg.Secrets())
	if err != nil {
		return usageError{err}
	}
	return nil
}

// Run runs the subcommand until it ends or ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	switch m.cmd {
	case "none":
		return nil
	case "serve":
		return m.serve(ctx)
	case "demo":
		return m.demo(ctx)
	case "export":
		return m.export(ctx)
	case "list":
		return m.list(ctx)
	case "healthcheck":
		if err := m.loadConfig(m.args); err != nil {
			return err
		}
		return ops.Check(ctx, m.Config.HTTPAddr)
	case "backup":
		return m.backup(ctx)
	case "bench":
		return m.bench(ctx)
	case "soak":
		return m.soak(ctx)
	}
	return usageError{fmt.Errorf("unknown command %q", m.cmd)}
}

// Close releases what Run opened.
func (m *Main) Close() error {
	if m.Store != nil {
		err := m.Store.Close()
		m.Store = nil
		return err
	}
	return nil
}

func (m *Main) serve(ctx context.Context) error {
	if err := m.loadConfig(m.args); err != nil {
		return err
	}
	if missing := m.Config.missingTokens(); len(missing) > 0 {
		return usageError{fmt.Errorf("%s not set: serve needs the Slack bot token (xoxb-…) and the app-level token (xapp-…, with connections:write). "+
			"Create the Slack app from deploy/slack-app-manifest.yaml and set them, or try `incidentbot demo`, which needs no Slack workspace",
			strings.Join(missing, " and "))}
	}
	// A broken custom template fails here, at start-up, with its own error
	// and line, not when an incident is resolved.
	pm, err := templates.Load(m.Config.PostmortemTemplate)
	if err != nil {
		return usageError{fmt.Errorf("INCIDENTBOT_POSTMORTEM_TEMPLATE: %w", err)}
	}
	var db *store.DB
	metrics := ops.NewMetrics(func() (map[string]int, error) { return openBySeverity(db) })
	sopts := store.Options{OnWrite: metrics.StoreWrite}
	if m.TuneStore != nil {
		m.TuneStore(&sopts)
	}
	db, err = store.Open(m.Config.DB, sopts)
	if err != nil {
		return err
	}
	m.Store = db
	cfg := m.botConfig(metrics)
	cfg.PostMortem = pm
	if m.TuneBot != nil {
		m.TuneBot(&cfg)
	}
	b, err := bot.New(cfg, db)
	if err != nil {
		return err
	}
	m.Bot = b
	m.Logger.WithField("db", m.Config.DB).Info("database open")
	if m.Config.HTTPAddr != "" {
		srv, err := ops.Listen(m.Config.HTTPAddr, ops.Handler(metrics, b.Ready))
		if err != nil {
			return err
		}
		m.HTTP = srv
		defer srv.Close()
		m.Logger.WithField("addr", srv.Addr()).Info("serving /healthz, /readyz and /metrics")
	}
	stopAPI, err := serveLocalAPI(ctx, socketPath(m.Config.DB), &localReader{db: db, drafts: bot.Drafts{Source: db, Template: pm}}, m.Logger)
	if err != nil {
		return err
	}
	defer stopAPI()
	return b.Run(ctx)
}

func (m *Main) botConfig(metrics *ops.Metrics) bot.Config {
	c := m.Config
	cfg := bot.Config{
		Metrics:            metrics,
		BotToken:           c.BotToken,
		AppToken:           c.AppToken,
		APIURL:             c.SlackAPIURL,
		StaleAfter:         c.SocketStaleAfter,
		Logger:             m.Logger,
		ActionReminderCron: c.ActionReminderCron,
		Commands: commands.Config{
			ChannelPrefix:   c.ChannelPrefix,
			AnnounceChannel: c.AnnounceChannel,
			UpdateInterval:  c.UpdateInterval,
			Location:        c.Location,
			Now:             m.Now,
		},
	}
	m.pagerConfig(&cfg.Commands, metrics)
	return cfg
}
