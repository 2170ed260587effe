package bot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/scheduler"
	"github.com/incidentbot/incidentbot/templates"
)

// Timeline is what capture and backfill write and read of the store.
type Timeline interface {
	// AppendEvents stores events not stored yet (by dedup key) and
	// returns how many it stored; see store.DB for how it fails.
	AppendEvents(ctx context.Context, events ...incidentbot.TimelineEvent) (int, error)
	// LastEventTS is the greatest Slack ts stored for incident id.
	LastEventTS(ctx context.Context, id int64) (string, error)
}

// Store is everything the bot's parts need of the store: it is the one
// value New hands to the command service, the post-mortem drafts, the
// scheduler and capture, each of which declares the small part it uses.
type Store interface {
	commands.Store
	templates.RecordSource
	Timeline
	Gaps
}

// Config configures the Slack edge.
type Config struct {
	BotToken string // xoxb-…
	AppToken string // xapp-…
	APIURL   string // Slack Web API base URL; empty means Slack's
	// StaleAfter is how long a socket may go without a ping before it is
	// replaced. Zero means 60s.
	StaleAfter time.Duration
	// HTTPTimeout bounds every Web API call. Zero means 10s.
	HTTPTimeout time.Duration
	// MaxInFlight bounds the envelopes handled at once. Zero means 1024.
	MaxInFlight int
	// ShutdownGrace bounds the wait for in-flight work at shutdown. Zero means 4s.
	ShutdownGrace time.Duration
	// AuthCheckEvery is how often the bot token is checked with auth.test
	// while connected, so that a token revoked while the socket stays up
	// (and nothing else calls Slack) is noticed within a minute. Zero
	// means 30s.
	AuthCheckEvery time.Duration
	// Lease, when set, runs the scheduled work only while this replica
	// holds it (several replicas on one database), with LeaseConfig; nil
	// runs it always (one process on its own database).
	Lease       scheduler.Lease
	LeaseConfig scheduler.LeaseConfig
	// ActionReminderCron is when owners of overdue action items get a DM
	// (cron spec in Commands.Location); empty disables.
	ActionReminderCron string
	// BackfillMargin is how far before the last moment a connection was
	// known healthy the backfill starts reading a channel's history; zero
	// means BackfillMargin (2 minutes).
	BackfillMargin time.Duration
	// ReminderTick is how often the scheduler looks for due work (status-update
	// reminders, PagerDuty calls, cron firings). Zero means a tenth of the
	// update interval, at most 200ms.
	ReminderTick time.Duration
	Commands     commands.Config
	// Now is the clock of commands and scheduled work; nil means time.Now.
	Now func() time.Time
	// Pager pages PagerDuty; nil when not configured.
	Pager commands.Pager
	// OnCall finds who is on call in PagerDuty; nil when not configured.
	OnCall commands.OnCallFinder
	// Tracker mirrors action items to GitHub Issues or Jira; nil when not
	// configured. TrackerPoll is how often issues changed there are
	// looked for (zero: scheduler.DefaultTrackerPoll).
	Tracker     commands.Tracker
	TrackerPoll time.Duration
	// Metrics records what the bot does; nil records nothing.
	Metrics *ops.Metrics
	// PostMortem is the post-mortem template; nil disables drafts.
	PostMortem *templates.PostMortem
	Logger     logrus.FieldLogger
}

// Bot is a running Slack edge.
type Bot struct {
	cfg   Config
	log   logrus.FieldLogger
	store Store
	api   *slack.Client
	slack *slackAPI
	cmds  *commands.Service

	botUserID, botID, teamID string

	channels    sync.Map     // channel ID → incident ID, for incident channels
	members     *memberCache // who is in private incidents' channels
	storeNotice sync.Map     // channel ID → time of the last storage-failure notice
	lastHealthy atomic.Int64 // unix nanos of the last frame of the previous healthy connection
	users       sync.Map     // user ID → struct{}: names known or being fetched
	inflight    sync.WaitGroup
	followups   sync.WaitGroup
	sem         chan struct{}
	followSem   chan struct{} // bounds the follow-ups running at once
	connected   atomic.Bool
	received    atomic.Int64 // envelopes received
	acked       atomic.Int64 // envelopes acknowledged
	storeOK     atomic.Bool
	followCtx   context.Context
	stopFollow  context.CancelFunc
	sched       *scheduler.Scheduler
	backfill    *backfiller
	// fatal is closed, once, when Slack rejects the app's credentials;
	// fatalErr then says why (see failAuth).
	fatal     chan struct{}
	fatalOnce sync.Once
	fatalErr  atomic.Pointer[error]
	// workspaceURL is https://<team>.slack.com/, for links to channels.
	workspaceURL atomic.Value
}

// New returns a Bot, with its command service and scheduler. It fails with
// EInvalid when a token is missing or the action reminder cron is not a cron
// spec.
func New(cfg Config, store Store) (*Bot, error) {
	if cfg.BotToken == "" || cfg.AppToken == "" {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Message: "both the bot token and the app token are needed"}
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 60 * time.Second
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 4 * time.Second
	}
	if cfg.BackfillMargin <= 0 {
		cfg.BackfillMargin = BackfillMargin
	}
	if cfg.AuthCheckEvery <= 0 {
		cfg.AuthCheckEvery = 30 * time.Second
	}
	if cfg.Commands.ChannelRetry <= 0 {
		cfg.Commands.ChannelRetry = commands.DefaultChannelRetry
	}
	if cfg.Commands.ReminderSettle <= 0 {
		// A reminder's post that Slack received is answered within one
		// call's timeout, or abandoned by the bot.
		cfg.Commands.ReminderSettle = cfg.HTTPTimeout
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.Out = discard{}
		cfg.Logger = l
	}
	hc := newSlackHTTP(cfg.HTTPTimeout, cfg.Metrics)
	api := newSlackClient(cfg.BotToken, cfg.AppToken, cfg.APIURL, hc, retryWaiting)
	noWait := newSlackClient(cfg.BotToken, cfg.AppToken, cfg.APIURL, hc, retryNoWait)
	never := newSlackClient(cfg.BotToken, cfg.AppToken, cfg.APIURL, hc, retryNever)
	b := &Bot{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     store,
		api:       api,
		sem:       make(chan struct{}, cfg.MaxInFlight),
		followSem: make(chan struct{}, 8),
		fatal:     make(chan struct{}),
	}
	b.slack = &slackAPI{api: api, noWait: noWait, never: never, metrics: cfg.Metrics, onAuth: b.authRejected}
	b.members = newMemberCache(b.slack.channelMembers)
	b.slack.members = b.members
	tick := cfg.ReminderTick
	if tick <= 0 {
		tick = min(200*time.Millisecond, max(cfg.Commands.UpdateInterval/10, 10*time.Millisecond))
	}
	sched, err := scheduler.New(scheduler.Config{
		Now: cfg.Now, Tick: tick, ActionCron: cfg.ActionReminderCron, Location: cfg.Commands.Location, Logger: cfg.Logger,
		SlowRetry: cfg.Commands.ChannelRetry, Shared: cfg.Lease != nil, TrackerPoll: cfg.TrackerPoll,
	})
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	b.sched = sched
	deps := commands.SlackDeps(b.slack)
	deps.Pager, deps.OnCall, deps.Now = cfg.Pager, cfg.OnCall, cfg.Now
	deps.Observer = sched
	if cfg.Tracker != nil {
		deps.Tracker, deps.Emails = cfg.Tracker, b.slack
	}
	deps.Members = b.members
	deps.ChannelURL = b.channelURL
	deps.OnReminder = cfg.Metrics.ReminderSent
	if cfg.PostMortem != nil {
		deps.Drafts = templates.Drafts{Source: store, Template: cfg.PostMortem}
	}
	b.cmds = commands.New(store, cfg.Commands, deps)
	b.backfill = newBackfiller(b)
	jobs := scheduler.Jobs{Incidents: store, Reminders: b.cmds, Outbox: b.cmds, Overdue: b.cmds, Reviews: b.cmds, Channels: b.cmds, Backfill: b.backfill}
	if f, ok := store.(scheduler.CronFirings); ok {
		jobs.Firings = f
	}
	if cfg.Tracker != nil {
		jobs.Tracker, jobs.TrackerSync = b.cmds, b.cmds
	}
	sched.Schedule(jobs)
	b.storeOK.Store(true)
	b.followCtx, b.stopFollow = context.WithCancel(context.Background())
	return b, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Commands returns the command service the bot drives.
func (b *Bot) Commands() *commands.Service { return b.cmds }

// Scheduler returns the scheduled work that Run runs beside the socket.
func (b *Bot) Scheduler() *scheduler.Scheduler { return b.sched }

// Connected reports whether the Socket Mode connection is up.
func (b *Bot) Connected() bool { return b.connected.Load() }

// StoreHealthy reports whether the last write to the store succeeded.
func (b *Bot) StoreHealthy() bool { return b.storeOK.Load() }

// Run connects to Slack and handles envelopes, and runs the scheduler, until
// ctx ends; then it stops taking envelopes, waits (bounded by ShutdownGrace)
// for in-flight ones to be committed and acknowledged, and returns nil. It
// fails at once when Slack rejects the tokens, and when the scheduler cannot
// load its due times from the store. When Slack rejects the bot's
// credentials later (a Web API call answers token_revoked, invalid_auth,
// account_inactive…, or the tokens_revoked or app_uninstalled event
// arrives), /readyz fails with the reason, one error line is logged, and
// Run shuts down as above and returns an error with what to do: nothing
// the bot does can work until an operator installs a new token.
func (b *Bot) Run(ctx context.Context) error {
	auth, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("bot: check the bot token with auth.test: %w", b.slack.err("auth.test", err))
	}
	b.botUserID, b.botID, b.teamID = auth.UserID, auth.BotID, auth.TeamID
	b.slack.setBotID(auth.BotID)
	b.workspaceURL.Store(auth.URL)
	b.log = b.log.WithField("team", b.teamID)
	if users, err := b.store.Users(ctx); err == nil {
		for id := range users {
			b.users.Store(id, struct{}{})
		}
	}
	if ch := b.cfg.Commands.AnnounceChannel; ch != "" {
		if _, _, _, err := b.api.JoinConversationContext(ctx, ch); err != nil {
			b.log.WithField("channel", ch).WithError(b.slack.err("conversations.join", err)).Warn("cannot join the announce channel; announcements may fail")
		}
	}

	// The scheduler runs until the follow-ups are stopped, at the end of
	// the shutdown; it is started first so that its channel repair only
	// takes incidents opened before any envelope arrived.
	schedErr := make(chan error, 1)
	go func() {
		if b.cfg.Lease == nil {
			schedErr <- b.sched.Run(b.followCtx)
			return
		}
		lc := b.cfg.LeaseConfig
		if lc.Logger == nil {
			lc.Logger = b.log
		}
		scheduler.RunWithLease(b.followCtx, b.cfg.Lease, lc, func(ctx context.Context) {
			// An error once ctx is done is the lease lost or the bot
			// stopping while it started: nothing to report.
			if err := b.sched.Run(ctx); err != nil && ctx.Err() == nil {
				b.log.WithError(err).Error("scheduled work could not start on this replica; it tries again when it next holds the lease")
			}
		})
		schedErr <- nil
	}()
	defer func() {
		b.stopFollow()
		<-schedErr
	}()

	sctx, stopSocket := context.WithCancel(ctx)
	defer stopSocket()
	runErr := make(chan error, 1)
	go func() { runErr <- b.runSocket(sctx) }()
	go b.checkAuth(sctx)
	b.log.Info("incidentbot is connecting to Slack over Socket Mode")
	select {
	case <-ctx.Done():
		b.shutdown(runErr)
		return nil
	case <-b.fatal:
		stopSocket()
		b.shutdown(runErr)
		return *b.fatalErr.Load()
	case err := <-runErr:
		b.shutdown(nil)
		if ctx.Err() != nil {
			return nil
		}
		return err
	case err := <-schedErr:
		schedErr <- err // for the deferred wait
		stopSocket()
		b.shutdown(runErr)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bot: %w", err)
	}
}

// authRejected is told of every EAuth answer of the Web API (method, the
// classified error).
func (b *Bot) authRejected(method string, err error) {
	token := "SLACK_BOT_TOKEN (the bot token, xoxb-…)"
	if method == "apps.connections.open" {
		token = "SLACK_APP_TOKEN (the app-level token, xapp-…, with connections:write)"
	}
	b.failAuth(fmt.Errorf("bot: Slack rejected incidentbot's credentials (%s on %s): nothing can work until a new token is installed. "+
		"Reinstall the app to the workspace (or create a new token), set %s, and restart incidentbot", reason(err), method, token))
}

// failAuth makes a rejected credential fatal, once: /readyz fails with err,
// one error line says what to do, and Run returns err.
func (b *Bot) failAuth(err error) {
	b.fatalOnce.Do(func() {
		b.fatalErr.Store(&err)
		b.log.WithError(err).Error("Slack rejected incidentbot's credentials; stopping")
		close(b.fatal)
	})
}

// reason is Slack's code of a classified error, or its message.
func reason(err error) string {
	if r, ok := errors.AsType[*slackRefusal](err); ok {
		return r.code
	}
	return incidentbot.ErrorMessage(err)
}

// checkAuth checks the bot token with auth.test every AuthCheckEvery until
// ctx ends, so that a token revoked while nothing calls Slack is noticed: a
// rejection reaches authRejected through slackAPI.err. Other failures are
// left to the next check.
func (b *Bot) checkAuth(ctx context.Context) {
	t := time.NewTicker(b.cfg.AuthCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.fatal:
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, b.cfg.HTTPTimeout)
			_, err := b.api.AuthTestContext(cctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				_ = b.slack.err("auth.test", err)
			}
		}
	}
}

// shutdown waits for the socket loop (bounded), then for in-flight
// envelopes and follow-ups, so that the process exits in time.
func (b *Bot) shutdown(runErr <-chan error) {
	b.connected.Store(false)
	if runErr != nil {
		select {
		case <-runErr:
		case <-time.After(time.Second):
		}
	}
	b.drain()
	b.log.Info("incidentbot stopped")
}

// drain waits for in-flight envelopes, then gives follow-ups what is left of
// the grace period before cancelling them.
func (b *Bot) drain() {
	deadline := time.Now().Add(b.cfg.ShutdownGrace)
	wait(&b.inflight, time.Until(deadline))
	if !wait(&b.followups, time.Until(deadline)) {
		b.stopFollow()
		wait(&b.followups, 500*time.Millisecond)
	}
	b.stopFollow()
}

// wait waits for wg at most d and reports whether it finished.
func wait(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(max(d, 0)):
		return false
	}
}

// dispatch hands an envelope to its own goroutine, with its payload
// decoded already (event, from decodeFrame) or decoded there when event is
// nil. It returns false when the bot is shutting down and takes no more
// envelopes.
func (b *Bot) dispatch(ctx context.Context, c *conn, req socketmode.Request, event any) bool {
	start := time.Now()
	b.received.Add(1)
	b.cfg.Metrics.EnvelopeReceived(req.Type)
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	b.inflight.Add(1)
	go func() {
		defer b.inflight.Done()
		defer func() { <-b.sem }()
		env := &envelope{req: req, conn: c, base: b.log, start: start}
		defer func() {
			if p := recover(); p != nil {
				b.recovered(env, p)
			}
		}()
		data, err := event, error(nil)
		if data == nil {
			data, err = decode(req)
		}
		if err != nil {
			// Delivering it again cannot help: acknowledge, and say so.
			env.log().WithError(err).Warn("cannot decode the envelope's payload; acknowledging it to stop redeliveries")
			b.ack(env, nil)
			return
		}
		// Commits are not cancelled by shutdown: what is in flight is
		// finished and acknowledged if the socket is still there.
		hctx := context.WithoutCancel(ctx)
		switch d := data.(type) {
		case slack.SlashCommand:
			b.onSlash(hctx, env, d)
		case slackevents.EventsAPIEvent:
			b.onEvent(hctx, env, d)
		case *slack.InteractionCallback:
			b.onInteractive(hctx, env, d)
		}
	}()
	return true
}

// Timeouts of the work the bot does after acknowledging.
const (
	followupTimeout = 2 * time.Minute  // a command's follow-up Slack calls
	noticeTimeout   = 30 * time.Second // one small call: a notice, a user's name
)

// background runs fn on its own goroutine after the acknowledgement: tracked
// for shutdown (drain waits for it, then cancels its ctx), bounded by
// timeout, and with at most a few running at once, so that under a burst the
// CPU goes to committing and acknowledging envelopes, which Slack times, and
// the slow calls queue behind them. fn does not run when ctx ends first.
func (b *Bot) background(timeout time.Duration, fn func(ctx context.Context)) {
	b.followups.Add(1)
	go func() {
		defer b.followups.Done()
		ctx, cancel := context.WithTimeout(b.followCtx, timeout)
		defer cancel()
		select {
		case b.followSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-b.followSem }()
		b.yieldToEnvelopes()
		fn(ctx)
	}()
}

// followDefer is the longest a follow-up waits for the envelopes being
// handled (yieldToEnvelopes).
const followDefer = 100 * time.Millisecond

// yieldToEnvelopes waits, at most followDefer, while envelopes are being
// handled: their commits and acknowledgements, which Slack times, get the
// CPU before the follow-ups' Web API calls (and the echoes of their
// posts). In the load tool's burst of 100 slash commands on 3 replicas
// the ack p50 went from 20-25 to 17-18 ms and the p99 from 47-51 to 35-45
// ms (3 runs each, alternating binaries); a follow-up comes at most
// followDefer later under sustained load.
func (b *Bot) yieldToEnvelopes() {
	for deadline := time.Now().Add(followDefer); len(b.sem) > 0 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
}

// followup runs a command's Followup in the background; a failure is
// logged and told to the caller through tell, if set.
func (b *Bot) followup(log logrus.FieldLogger, fn func(ctx context.Context) error, tell func(ctx context.Context, text string)) {
	if fn == nil {
		return
	}
	b.background(followupTimeout, func(ctx context.Context) {
		if err := fn(ctx); err != nil {
			log.WithError(err).Warn("follow-up Slack calls failed")
			if tell != nil {
				tell(ctx, ":warning: The change is recorded, but not everything could be done in Slack: "+followupMessage(err))
			}
		}
	})
}

// followupMessage lists the user-safe messages of a joined error.
func followupMessage(err error) string {
	var msgs []string
	var collect func(error)
	collect = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				collect(x)
			}
			return
		}
		msgs = append(msgs, incidentbot.ErrorMessage(e))
	}
	collect(err)
	out := ""
	for i, m := range msgs {
		if i > 0 {
			out += "; "
		}
		out += m
	}
	return out
}

// Stats are counts of envelopes since start.
type Stats struct {
	Received, Acked int64
}

// Stats returns the envelope counts.
func (b *Bot) Stats() Stats { return Stats{Received: b.received.Load(), Acked: b.acked.Load()} }

// channelURL links to a channel of the workspace.
func (b *Bot) channelURL(channelID string) string {
	base, _ := b.workspaceURL.Load().(string)
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/archives/" + channelID
}

// Ready reports whether the bot can do its job: Slack has not rejected its
// token, the database takes writes and the Slack socket is connected.
// /readyz serves it.
func (b *Bot) Ready() (bool, string) {
	if err := b.fatalErr.Load(); err != nil {
		return false, (*err).Error()
	}
	switch {
	case !b.storeOK.Load():
		return false, "the database cannot be written"
	case !b.connected.Load():
		return false, "not connected to Slack (connecting or reconnecting)"
	}
	return true, ""
}

// recovered handles a panic in an envelope's handler: it is logged with its
// stack; a slash command not yet answered is answered, so the user is not
// left with Slack's timeout; an event stays unacknowledged so that Slack
// delivers it again. The bot keeps running.
func (b *Bot) recovered(env *envelope, p any) {
	env.log().WithField("panic", fmt.Sprint(p)).WithField("stack", string(debug.Stack())).Error("handler panicked")
	if env.req.Type == socketmode.RequestTypeSlashCommands && !env.acked.Load() {
		b.ack(env, ephemeral{"ephemeral", ":warning: incidentbot hit an internal error handling this command; nothing may have been recorded. The operators have the details in the logs; please try again."})
	}
}
