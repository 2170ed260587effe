// Command incidentbot is the Slack incident bot: `serve` runs it, `demo`
// runs a scripted incident against the built-in emulators, `export`, `list`
// and `backup` read the database. This package is wiring only: the
// configuration, logging, opening the store, building the parts, and the
// subcommands (subcommands.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot/bot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/localapi"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/pagerduty"
	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/postgres"
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

	// Config is the configuration ParseFlags loaded.
	Config Config
	Logger *logrus.Logger
	Store  database
	Bot    *bot.Bot
	// HTTP is the health and metrics server while serve runs.
	HTTP *ops.Server

	sub  subcommand
	args []string // the subcommand's positional arguments
	opts options  // the subcommand's own flags
	pm   *templates.PostMortem
}

// NewMain returns a Main using the process's environment and standard streams.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv}
}

// ParseFlags reads the subcommand, its flags and arguments, and loads the
// configuration (defaults, then --config FILE, then the environment, then
// flags) and the logger. Every mistake is a usage error naming the setting.
func (m *Main) ParseFlags(args []string) error {
	name := "serve"
	if len(args) > 0 {
		if _, ok := lookupSubcommand(args[0]); ok || !strings.HasPrefix(args[0], "-") {
			name, args = args[0], args[1:]
		}
	}
	sub, ok := lookupSubcommand(name)
	if !ok {
		return usageError{fmt.Errorf("unknown command %q\n\n%s", name, usage())}
	}
	m.sub = sub
	if sub.noConfig {
		return nil
	}
	fs := flag.NewFlagSet("incidentbot "+sub.name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	source := newConfigSource(fs)
	if sub.flags != nil {
		sub.flags(&m.opts, fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != sub.args {
		return usageError{fmt.Errorf("%s takes %d argument(s), got %d: incidentbot %s", sub.name, sub.args, len(pos), sub.usage)}
	}
	m.args = pos
	raw, err := source.resolve(m.LookupEnv)
	if err != nil {
		return usageError{err}
	}
	if m.Config, err = parseConfig(raw); err != nil {
		return usageError{err}
	}
	if m.Logger, err = newLogger(m.Stderr, m.Config.LogLevel, m.Config.LogFormat, m.Config.Secrets()); err != nil {
		return usageError{err}
	}
	return nil
}

// Run runs the subcommand until it ends or ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	if m.sub.run == nil {
		return usageError{errors.New("ParseFlags was not called")}
	}
	return m.sub.run(m, ctx)
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

// serve connects to Slack over Socket Mode and runs until ctx ends.
func (m *Main) serve(ctx context.Context) error {
	if missing := m.Config.missingTokens(); len(missing) > 0 {
		return usageError{fmt.Errorf("%s not set: serve needs the Slack bot token (xoxb-…) and the app-level token (xapp-…, with connections:write). "+
			"Create the Slack app from deploy/slack-app-manifest.yaml and set them, or try `incidentbot demo`, which needs no Slack workspace",
			strings.Join(missing, " and "))}
	}
	return m.runBot(ctx)
}

// runBot opens the store and builds the bot, the health server and the
// local API from m.Config, then runs the bot until ctx ends. serve and demo
// both run through it.
func (m *Main) runBot(ctx context.Context) error {
	// A broken custom template fails here, at start-up, with its own error
	// and line, not when an incident is resolved.
	pm, err := templates.Load(m.Config.PostmortemTemplate)
	if err != nil {
		return usageError{fmt.Errorf("INCIDENTBOT_POSTMORTEM_TEMPLATE: %w", err)}
	}
	m.pm = pm
	var db database
	metrics := ops.NewMetrics(func() (map[string]int, error) { return openBySeverity(db) })
	db, pg, err := m.openDatabase(ctx, false, metrics.StoreWrite)
	if err != nil {
		return err
	}
	m.Store = db
	cfg := m.botConfig(metrics)
	cfg.PostMortem = pm
	if pg != nil {
		cfg.Lease = pg.Lease(postgres.SchedulerLease)
		cfg.LeaseConfig = scheduler.LeaseConfig{Name: postgres.SchedulerLease, Holder: m.Config.ReplicaID, TTL: m.Config.LeaseTTL}
	}
	if m.TuneBot != nil {
		m.TuneBot(&cfg)
	}
	b, err := bot.New(cfg, db)
	if err != nil {
		return err
	}
	m.Bot = b
	log := m.Logger.WithField("db", m.dbName())
	if pg != nil {
		log = log.WithField("replica", m.Config.ReplicaID)
	}
	log.Info("database open")
	if m.Config.HTTPAddr != "" {
		srv, err := ops.Listen(m.Config.HTTPAddr, ops.Handler(metrics, readiness(b, pg)))
		if err != nil {
			return err
		}
		m.HTTP = srv
		defer srv.Close()
		m.Logger.WithField("addr", srv.Addr()).Info("serving /healthz, /readyz and /metrics")
	}
	if pg != nil {
		// export, list and backup read PostgreSQL themselves.
		return b.Run(ctx)
	}
	api, err := localapi.Listen(localapi.Path(m.Config.DB), localapi.Local{Store: db, Template: pm}, m.Logger)
	if err != nil {
		return err
	}
	defer api.Close()
	return b.Run(ctx)
}

// openBySeverity counts open incidents by severity, for the metrics.
func openBySeverity(db database) (map[string]int, error) {
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
		Now:                m.Now,
		Commands: commands.Config{
			ChannelPrefix:   c.ChannelPrefix,
			AnnounceChannel: c.AnnounceChannel,
			UpdateInterval:  c.UpdateInterval,
			Location:        c.Location,
			PageSeverity:    c.PageSeverity,
		},
	}
	const timeout = 10 * time.Second
	pd := pagerduty.New(pagerduty.Config{
		RoutingKey: c.PDRoutingKey, Token: c.PDToken, EscalationPolicy: c.PDEscalationPolicy,
		APIURL: c.PDAPIURL, EventsURL: c.PDEventsURL, Timeout: timeout,
	}, &http.Client{Timeout: timeout, Transport: metrics.Transport("pagerduty", nil)})
	if pd.CanPage() {
		cfg.Pager = pd
	}
	if pd.CanLookUpOnCall() {
		cfg.OnCall = pd
	}
	cfg.Tracker, cfg.TrackerPoll = m.tracker(metrics, timeout), c.Tracker.TrackerPoll
	return cfg
}
