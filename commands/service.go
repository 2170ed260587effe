package commands

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

// Store is the durable record commands read and change. store.DB implements
// it; see there for how each method fails.
type Store interface {
	CreateIncident(ctx context.Context, inc *incidentbot.Incident, dedupKey string, events ...incidentbot.TimelineEvent) (*incidentbot.Incident, bool, error)
	UpdateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error)
	IncidentReader
}

// IncidentReader reads incidents.
type IncidentReader interface {
	Incident(ctx context.Context, id int64) (*incidentbot.Incident, error)
	IncidentByChannel(ctx context.Context, channelID string) (*incidentbot.Incident, error)
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
}

// Slack is what commands ask of Slack. The implementation retries rate
// limits and server errors; an error returned here is final.
type Slack interface {
	// CreateChannel creates a public channel; a taken name fails with
	// code EConflict.
	CreateChannel(ctx context.Context, name string) (channelID string, err error)
	// Invite adds users to a channel; users already in it are not an error.
	Invite(ctx context.Context, channelID string, users ...string) error
	// Post posts text (Slack mrkdwn) to a channel, or as a DM to a user ID.
	Post(ctx context.Context, channelID, text string) (ts string, err error)
	// Update replaces the text of a message the bot posted.
	Update(ctx context.Context, channelID, ts, text string) error
	// Pin pins a message.
	Pin(ctx context.Context, channelID, ts string) error
	// Upload shares a file in a channel, with a comment.
	Upload(ctx context.Context, channelID, name, title string, content []byte, comment string) error
	// UserByEmail finds a user by email; ENotFound when nobody has it.
	UserByEmail(ctx context.Context, email string) (string, error)
}

// Drafter renders an incident's post-mortem draft.
type Drafter interface {
	// Draft returns the file name and markdown of incident id's draft.
	Draft(ctx context.Context, id int64) (name string, content []byte, err error)
}

// Config is the behaviour that operators configure.
type Config struct {
	ChannelPrefix   string         // "inc"
	AnnounceChannel string         // channel ID; empty: no announcements
	UpdateInterval  time.Duration  // status-update reminder interval
	Location        *time.Location // time zone of due dates; nil means UTC
	Now             func() time.Time
	// Drafts renders post-mortems; nil disables them.
	Drafts Drafter
	// Pager pages PagerDuty; nil when not configured.
	Pager Pager
	// OnCall finds who is on call; nil when not configured.
	OnCall OnCallFinder
	// PageSeverity: opening at it or worse, or raising into it, pages.
	// Zero means sev2.
	PageSeverity incidentbot.Severity
	// ChannelURL links to a channel, for alerts; nil leaves links out.
	ChannelURL func(channelID string) string
	// OnReminder, if set, is called for each reminder posted (metrics).
	OnReminder func()
}

// Service handles /incident commands.
type Service struct {
	store     Store
	slack     Slack
	cfg       Config
	reminders *schedule
	pager     *schedule

	hmu         sync.Mutex
	headerBusy  map[int64]bool // a header refresh is running
	headerDirty map[int64]bool // another is wanted after it
}

// New returns a Service. Zero Config fields get the product's defaults.
func New(store Store, slack Slack, cfg Config) *Service {
	if cfg.ChannelPrefix == "" {
		cfg.ChannelPrefix = "inc"
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = 15 * time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if !cfg.PageSeverity.Valid() {
		cfg.PageSeverity = incidentbot.Sev2
	}
	s := &Service{store: store, slack: slack, cfg: cfg, headerBusy: map[int64]bool{}, headerDirty: map[int64]bool{}}
	s.reminders = newSchedule(s, func(inc *incidentbot.Incident) (time.Time, bool) {
		return ReminderDue(inc, s.cfg.UpdateInterval)
	}, s.remind)
	s.pager = newSchedule(s, pagerDue, s.deliverPager)
	return s
}

// updateIncident is the store's UpdateIncident that also keeps the reminder
// schedule current.
func (s *Service) updateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error) {
	inc, applied, err := s.store.UpdateIncident(ctx, id, dedupKey, fn)
	if err == nil {
		s.observe(inc)
	}
	return inc, applied, err
}

// observe keeps the schedules current with a stored incident.
func (s *Service) observe(inc *incidentbot.Incident) {
	s.reminders.observe(inc)
	s.pager.observe(inc)
}

// Invocation is one use of the slash command.
type Invocation struct {
	TeamID    string
	ChannelID string // where it was typed
	UserID    string
	Text      string // everything after "/incident"
	// DedupKey identifies the invocation across Slack redeliveries (the
	// trigger id); empty disables deduplication.
	DedupKey string
}

// Result is the outcome of a command.
type Result struct {
	// Reply is shown to the caller only (ephemeral), in the acknowledgement.
	Reply string
	// OpenModal asks the edge to open the "open an incident" modal.
	OpenModal bool
	// Followup makes the slow Slack calls after the acknowledgement. Its error
	// is for the caller (told ephemerally) and the logs. Nil when there is none.
	Followup func(ctx context.Context) error
}

// Handle runs one command. Its error is an *incidentbot.Error: EInvalid,
// ENotFound and EConflict carry a message for the user that says what was
// wrong and the right form; EUnavailable and EInternal mean nothing was
// recorded. On error nothing was changed.
func (s *Service) Handle(ctx context.Context, inv Invocation) (Result, error) {
	sub, rest := splitFirst(inv.Text)
	c := &call{Service: s, ctx: ctx, inv: inv, args: rest}
	switch strings.ToLower(sub) {
	case "", "help":
		return Result{Reply: slacktext.Escape(helpText)}, nil
	case "open", "declare", "new":
		return c.open()
	case "list":
		return c.list()
	case "role":
		return c.role()
	case "status", "update":
		return c.status()
	case "severity", "sev":
		return c.severity()
	case "hypothesis", "hyp":
		return c.hypothesis()
	case "action":
		return c.action()
	case "actions":
		return c.actions()
	case "started":
		return c.started()
	case "resolve":
		return c.resolve()
	case "snooze":
		return c.snooze()
	case "postmortem", "pm":
		return c.postmortem()
	case "page":
		return c.page()
	}
	return Result{}, invalid("", "`%s` is not an /incident command.\n%s", sub, helpText)
}

// Subcommand names the subcommand of a command text for metrics: one of a
// fixed set, "unknown" for anything else.
func Subcommand(text string) string {
	sub, _ := splitFirst(text)
	switch sub = strings.ToLower(sub); sub {
	case "":
		return "help"
	case "open", "declare", "new", "list", "role", "status", "update", "severity", "sev", "hypothesis", "hyp", "action",
		"actions", "started", "resolve", "snooze", "postmortem", "pm", "page", "help":
		return sub
	}
	return "unknown"
}

// call is the state of one Handle.
type call struct {
	*Service
	ctx  context.Context
	inv  Invocation
	args string
}

func (c *call) now() time.Time { return c.cfg.Now().UTC() }

// incident returns the incident whose channel the command was typed in.
func (c *call) incident(usage string) (*incidentbot.Incident, error) {
	inc, err := c.store.IncidentByChannel(c.ctx, c.inv.ChannelID)
	if incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return nil, invalid(usage, "This command works only in an incident channel. Type it in the channel of the incident (see `/incident list`), or open one with `/incident open <title>`.")
	}
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// openIncident is incident() for commands that a resolved incident refuses.
func (c *call) openIncident(usage string) (*incidentbot.Incident, error) {
	inc, err := c.incident(usage)
	if err != nil {
		return nil, err
	}
	if inc.Resolved() {
		return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " is resolved; after resolution only `action`, `action done`, `actions`, `hypothesis` and `postmortem` work here."}
	}
	return inc, nil
}

// update applies fn to the incident with the invocation's dedup key. It
// refuses a resolved incident inside the transaction when mustBeOpen is set,
// so that a concurrent resolve wins cleanly.
func (c *call) update(id int64, mustBeOpen bool, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error) {
	return c.updateIncident(c.ctx, id, incidentbot.CommandKey(c.inv.DedupKey), func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if mustBeOpen && inc.Resolved() {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " is resolved."}
		}
		return fn(inc)
	})
}

// event returns a timeline event of kind for the invocation.
func (c *call) event(kind incidentbot.EventKind, at time.Time) incidentbot.TimelineEvent {
	return incidentbot.TimelineEvent{Kind: kind, At: at, Actor: c.inv.UserID}
}

// duplicateReply is the reply to a redelivered command that was already applied.
func duplicateReply(inc *incidentbot.Incident) Result {
	return Result{Reply: "Already recorded for " + inc.Key() + "."}
}

// followups runs fns in order and joins their errors, so that one failed
// post does not stop the others.
func followups(fns ...func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, fn := range fns {
			if err := fn(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
