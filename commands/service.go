package commands

import (
	"context"
	"errors"
	"fmt"
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
	Users
}

// IncidentReader reads incidents.
type IncidentReader interface {
	Incident(ctx context.Context, id int64) (*incidentbot.Incident, error)
	IncidentByChannel(ctx context.Context, channelID string) (*incidentbot.Incident, error)
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
}

// Users records people's names, so that what the bot shows later names them.
type Users interface {
	PutUsers(ctx context.Context, users ...incidentbot.User) error
	// Users returns every known user by ID (channel names use them).
	Users(ctx context.Context) (map[string]incidentbot.User, error)
}

// Slack's capabilities, one interface each, so that a test double implements
// only what it uses. The implementation retries rate limits and server
// errors; an error returned is final.

// Poster posts and edits messages.
type Poster interface {
	// Post posts text (Slack mrkdwn) to a channel, or as a DM to a user ID.
	Post(ctx context.Context, channelID, text string) (ts string, err error)
	// Update replaces the text of a message the bot posted.
	Update(ctx context.Context, channelID, ts, text string) error
}

// Marker is what Slack keeps with a message the bot posted, unseen by
// people, to tell later which attempt at which piece of work posted it
// (Slack's message metadata: Kind is its event type, Fields its payload).
type Marker struct {
	Kind   string
	Fields map[string]string
}

// Marked posts messages that carry a Marker and finds them again: after a
// crash between a post and its record, it tells whether the post was made.
type Marked interface {
	// PostMarked is Poster.Post with m kept on the message. It fails with
	// EUnavailable and no RetryAfter when Slack may have posted the
	// message all the same (a timeout, a connection lost, a 5xx), and
	// with any other error when it did not (a refusal, a rate limit).
	PostMarked(ctx context.Context, channelID, text string, m Marker) (ts string, err error)
	// FindMarked reports whether the channel has a message the bot posted
	// between from and to (by Slack's clock) that carries m. It fails, and
	// then says nothing either way, when it could not read all of that
	// stretch of the channel's history: EGone for a channel gone,
	// EUnavailable (with RetryAfter for a rate limit) when Slack is not
	// answering, and an error wrapping ErrTooMuchHistory when the stretch
	// holds more messages than one look reads (a later look would meet
	// the same: that stretch is past).
	FindMarked(ctx context.Context, channelID string, m Marker, from, to time.Time) (found bool, err error)
}

// ErrTooMuchHistory is wrapped by Marked.FindMarked's error when the
// stretch of history to look through is longer than it reads.
var ErrTooMuchHistory = errors.New("more history than one look reads")

// Channels creates and sets up channels.
type Channels interface {
	// CreateChannel creates a channel, private when private is set (a
	// private incident's). A taken name fails with code
	// EConflict, a name Slack refuses (invalid_name_specials…) with
	// EInvalid, and a workspace that forbids apps to create channels
	// (restricted_action) with EForbidden.
	CreateChannel(ctx context.Context, name string, private bool) (channelID string, err error)
	// Invite adds users to a channel; users already in it are not an error.
	Invite(ctx context.Context, channelID string, users ...string) error
	// Pin pins a message.
	Pin(ctx context.Context, channelID, ts string) error
}

// Files shares files.
type Files interface {
	// Upload shares a file in a channel, with a comment.
	Upload(ctx context.Context, channelID, name, title string, content []byte, comment string) error
}

// Directory finds people.
type Directory interface {
	// UserByEmail finds a user by email, with their name; ENotFound when
	// nobody has it.
	UserByEmail(ctx context.Context, email string) (incidentbot.User, error)
}

// Slack is all of Slack's capabilities, as the edge implements them.
type Slack interface {
	Poster
	Channels
	Files
	Directory
}

// Drafter renders an incident's post-mortem draft.
type Drafter interface {
	// Draft returns the file name and markdown of incident id's draft.
	Draft(ctx context.Context, id int64) (name string, content []byte, err error)
}

// Observer is told of every incident the Service writes, as stored (the
// scheduler keeps its due times current with it).
type Observer interface {
	Observe(inc *incidentbot.Incident)
}

// Config is the behaviour that operators configure.
type Config struct {
	ChannelPrefix   string         // "inc"
	AnnounceChannel string         // channel ID; empty: no announcements
	UpdateInterval  time.Duration  // status-update reminder interval
	Location        *time.Location // time zone of due dates; nil means UTC
	// PageSeverity: opening at it or worse, or raising into it, pages.
	// Zero means sev2.
	PageSeverity incidentbot.Severity
	// ChannelRetry is how often a channel that is gone (archived, deleted,
	// the bot removed) is tried again. Zero means DefaultChannelRetry.
	ChannelRetry time.Duration
	// HeaderEvery is the least time between two updates of an incident's
	// pinned header by this process. Zero means DefaultHeaderEvery.
	HeaderEvery time.Duration
	// ReminderSettle is how long after an attempt at a reminder that did
	// not finish Slack may still be carrying out its post (one Web API
	// call's timeout): only then is the channel's history looked at for
	// it. Zero means DefaultReminderSettle.
	ReminderSettle time.Duration
}

// DefaultHeaderEvery paces header updates: a burst of commands on one
// incident updates its header at once and then at most once a second,
// the last update showing the latest state. Slack allows chat.update about
// 50 times a minute; one update per command had a burst rate limited, and
// its calls and echoes took the CPU that acknowledging commands needs.
const DefaultHeaderEvery = time.Second

// Deps are the Service's collaborators. Poster is required; Channels is
// needed to open incidents, Files with Drafts, Directory with OnCall; the
// others may be nil.
type Deps struct {
	Poster    Poster
	Channels  Channels
	Files     Files
	Directory Directory
	// Messenger posts the messages with buttons (the pinned header); nil
	// posts their text alone, with Poster.
	Messenger Messenger
	// Marked posts the status-update reminders with a marker of their
	// attempt, so that one whose record a crash prevented is found in the
	// channel rather than posted twice (see Remind); nil posts them with
	// Poster, and such a crash may then double a reminder.
	Marked Marked
	// Drafts renders post-mortems; nil disables them.
	Drafts Drafter
	// Pager pages PagerDuty; nil when not configured.
	Pager Pager
	// OnCall finds who is on call; nil when not configured.
	OnCall OnCallFinder
	// Tracker mirrors action items to GitHub Issues or Jira (tracker.go);
	// nil when not configured. When it is a TrackerPoller too, issues
	// closed or reopened there are brought back (SyncTrackers).
	Tracker Tracker
	// Emails finds owners' emails for the tracker's assignees; nil leaves
	// issues unassigned.
	Emails Emails
	// Members says who is in a channel: who may see a private incident.
	// Nil shows a private incident only to its declarer.
	Members Members
	// Observer is told of every incident written; nil tells nobody.
	Observer Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ChannelURL links to a channel, for alerts; nil leaves links out.
	ChannelURL func(channelID string) string
	// OnReminder, if set, is called for each reminder posted, as it is
	// recorded (metrics): a reminder whose poster died before recording it
	// is counted by the process that finds it in the channel.
	OnReminder func()
}

// SlackDeps returns Deps whose four Slack capabilities are slack, and
// its Messenger and Marked when slack implements them.
func SlackDeps(slack Slack) Deps {
	d := Deps{Poster: slack, Channels: slack, Files: slack, Directory: slack}
	if m, ok := slack.(Messenger); ok {
		d.Messenger = m
	}
	if m, ok := slack.(Marked); ok {
		d.Marked = m
	}
	return d
}

// Service handles /incident commands.
type Service struct {
	store Store
	cfg   Config
	deps  Deps

	// channelIDs maps an incident channel to its incident, once read
	// (openTarget).
	channelIDs sync.Map

	hmu         sync.Mutex
	headerBusy  map[int64]bool // a header refresh is running
	headerDirty map[int64]bool // another is wanted after it
	headerLast  map[int64]time.Time
}

// New returns a Service. Zero Config fields get the product's defaults.
func New(store Store, cfg Config, deps Deps) *Service {
	if cfg.ChannelPrefix == "" {
		cfg.ChannelPrefix = "inc"
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = 15 * time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ChannelRetry <= 0 {
		cfg.ChannelRetry = DefaultChannelRetry
	}
	if cfg.HeaderEvery <= 0 {
		cfg.HeaderEvery = DefaultHeaderEvery
	}
	if cfg.ReminderSettle <= 0 {
		cfg.ReminderSettle = DefaultReminderSettle
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if !cfg.PageSeverity.Valid() {
		cfg.PageSeverity = incidentbot.Sev2
	}
	return &Service{store: store, cfg: cfg, deps: deps, headerBusy: map[int64]bool{}, headerDirty: map[int64]bool{}, headerLast: map[int64]time.Time{}}
}

// now is the Service's clock, in UTC.
func (s *Service) now() time.Time { return s.deps.Now().UTC() }

// updateIncident is the store's UpdateIncident that also tells the observer.
func (s *Service) updateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error) {
	inc, applied, err := s.store.UpdateIncident(ctx, id, dedupKey, fn)
	if err == nil {
		s.observe(inc)
	}
	return inc, applied, err
}

// observe tells the observer of a stored incident.
func (s *Service) observe(inc *incidentbot.Incident) {
	if s.deps.Observer != nil {
		s.deps.Observer.Observe(inc)
	}
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

// subcommands maps every subcommand name and alias to its handler and the
// name it is counted under in metrics.
var subcommands = func() map[string]subcommand {
	m := map[string]subcommand{}
	for _, sc := range []struct {
		names []string
		run   func(*call) (Result, error)
		byID  bool // acts on an incident, which its first argument may name
	}{
		{[]string{"help"}, func(*call) (Result, error) { return Result{Reply: slacktext.Escape(helpText)}, nil }, false},
		{[]string{"open", "declare", "new"}, (*call).open, false},
		{[]string{"list"}, (*call).list, false},
		{[]string{"role"}, (*call).role, true},
		{[]string{"status", "update"}, (*call).status, true},
		{[]string{"severity", "sev"}, (*call).severity, true},
		{[]string{"hypothesis", "hyp"}, (*call).hypothesis, true},
		{[]string{"action"}, (*call).action, true},
		{[]string{"actions"}, (*call).actions, true},
		{[]string{"started"}, (*call).started, true},
		{[]string{"resolve"}, (*call).resolve, true},
		{[]string{"snooze"}, (*call).snooze, true},
		{[]string{"postmortem", "pm"}, (*call).postmortem, true},
		{[]string{"page"}, (*call).page, true},
	} {
		for _, name := range sc.names {
			m[name] = subcommand{name: name, run: sc.run, byID: sc.byID}
		}
	}
	return m
}()

// subcommand is one entry of the subcommand table.
type subcommand struct {
	name string // as typed, lower case: metrics count aliases apart
	run  func(*call) (Result, error)
	byID bool // its first argument may name the incident: INC-7
}

// lookup returns the subcommand of a command text ("" is help) and the rest
// of the text.
func lookup(text string) (subcommand, string, bool) {
	sub, rest := splitFirst(text)
	sub = strings.ToLower(sub)
	if sub == "" {
		sub = "help"
	}
	sc, ok := subcommands[sub]
	return sc, rest, ok
}

// Handle runs one command. Its error is an *incidentbot.Error: EInvalid,
// ENotFound and EConflict carry a message for the user that says what was
// wrong and the right form; EUnavailable and EInternal mean nothing was
// recorded. On error nothing was changed.
//
// A command that acts on an incident acts on the one whose channel it is
// typed in, or on the one its first argument names (INC-7, any case). Typed
// in the channel of another incident, a named id is refused (EInvalid):
// there it is more likely a slip than a wish to change another incident.
func (s *Service) Handle(ctx context.Context, inv Invocation) (Result, error) {
	sc, rest, ok := lookup(inv.Text)
	if !ok {
		sub, _ := splitFirst(inv.Text)
		return Result{}, invalid("", "`%s` is not an /incident command.\n%s", sub, helpText)
	}
	c := &call{Service: s, ctx: ctx, inv: inv, args: rest}
	if sc.byID {
		first, after := splitFirst(rest)
		if id, ok := namedIncident(first); ok {
			c.target, c.args = id, after
		}
	}
	res, err := sc.run(c)
	if err == nil && c.elsewhere && c.inc != nil && res.Reply != "" && !ChannelUsable(c.inc) {
		res.Reply += " " + noChannelNote(c.inc)
	}
	return res, err
}

// namedIncident reports whether word names an incident: "INC-7", in any
// case. A bare number does not, so that text such as "3 replicas down"
// is not taken for an id.
func namedIncident(word string) (int64, bool) {
	if len(word) <= 4 || !strings.EqualFold(word[:4], "INC-") {
		return 0, false
	}
	id, err := incidentbot.ParseIncidentKey(word)
	return id, err == nil
}

// ChannelUsable reports whether the bot can post in inc's channel: it has
// one, and Slack has not reported it archived, deleted or the bot removed.
func ChannelUsable(inc *incidentbot.Incident) bool {
	return inc.ChannelID != "" && inc.ChannelGone == ""
}

// noChannelNote tells the caller of a command acting on inc from elsewhere
// that its channel did not hear of it.
func noChannelNote(inc *incidentbot.Incident) string {
	switch {
	case inc.ChannelID == "" && inc.ChannelRefused != "":
		return fmt.Sprintf("(%s has no channel: Slack refused to create it, so this is recorded and announced but posted in no incident channel.)", inc.Key())
	case inc.ChannelID == "":
		return fmt.Sprintf("(%s has no channel yet, so this is recorded but posted in no incident channel.)", inc.Key())
	}
	return fmt.Sprintf("(The channel of %s cannot be used (%s), so this is recorded but not posted there.)", inc.Key(), slacktext.Escape(inc.ChannelGone))
}

// Subcommand names the subcommand of a command text for metrics: one of a
// fixed set, "unknown" for anything else.
func Subcommand(text string) string {
	if sc, _, ok := lookup(text); ok {
		return sc.name
	}
	return "unknown"
}

// call is the state of one Handle.
type call struct {
	*Service
	ctx  context.Context
	inv  Invocation
	args string // the arguments, without a leading incident id
	// target is the incident the first argument named; zero when none.
	target int64
	// inc is the incident the command acts on, once incident() found it;
	// elsewhere is set when the command was typed outside its channel.
	inc       *incidentbot.Incident
	elsewhere bool
}

// incident returns the incident the command acts on: the one its first
// argument named, else the one whose channel it was typed in. An id that
// names no incident fails with ENotFound, one that names another incident
// than the channel's, or none outside an incident channel, with EInvalid.
func (c *call) incident(usage string) (*incidentbot.Incident, error) {
	here, err := c.store.IncidentByChannel(c.ctx, c.inv.ChannelID)
	if err != nil && incidentbot.ErrorCode(err) != incidentbot.ENotFound {
		return nil, err
	}
	if here != nil {
		c.channelIDs.Store(c.inv.ChannelID, here.ID)
	}
	if c.target == 0 {
		if here == nil {
			return nil, invalid(usage, "This command works only in an incident channel, or with the incident named first, from anywhere: "+
				"`/incident status INC-7 identified <text>` (`/incident list` shows them). Or open one with `/incident open <title>`.")
		}
		c.inc = here
		return here, nil
	}
	key := incidentbot.IncidentKey(c.target)
	if here != nil && here.ID != c.target {
		return nil, invalid(usage, "This is the channel of %s, not of %s. To act on %s, type the command in its channel or outside any incident channel: `/incident <command> %s …`.",
			here.Key(), key, key, key)
	}
	inc, err := c.store.Incident(c.ctx, c.target)
	if err == nil && here == nil && !c.Visible(c.ctx, inc, c.inv.UserID) {
		// For a non-member a private incident is not there at all.
		inc, err = nil, incidentbot.Errorf(incidentbot.ENotFound, "%s is private", key)
	}
	if incidentbot.ErrorCode(err) == incidentbot.ENotFound {
		return nil, &incidentbot.Error{Code: incidentbot.ENotFound, Message: key + " does not exist. `/incident list` shows the open incidents.", Err: err}
	}
	if err != nil {
		return nil, err
	}
	c.inc, c.elsewhere = inc, here == nil
	return inc, nil
}

// openIncident is incident() for commands that a resolved incident refuses.
func (c *call) openIncident(usage string) (*incidentbot.Incident, error) {
	inc, err := c.incident(usage)
	if err != nil {
		return nil, err
	}
	if inc.Resolved() {
		return nil, errResolved(inc)
	}
	return inc, nil
}

// errResolved refuses a command that a resolved incident does not take.
func errResolved(inc *incidentbot.Incident) error {
	return &incidentbot.Error{Code: incidentbot.EConflict, Message: inc.Key() + " is resolved; after resolution only `action`, `action done`, `actions`, `hypothesis` and `postmortem` work here."}
}

// targetID is the id of the incident incident() (openIncident() when
// open) would return, for a command that changes it at once with
// update(id, open, …), which checks under the incident's lock that it is
// there (and open). Typed in an incident channel whose incident this
// process already knows (a channel belongs to one incident for good), it
// reads nothing: on PostgreSQL with several replicas that read was the
// costliest step of a status update before its commit. Anywhere else it
// is incident() or openIncident().
func (c *call) targetID(usage string, open bool) (int64, error) {
	if v, ok := c.channelIDs.Load(c.inv.ChannelID); ok {
		if id := v.(int64); c.target == 0 || c.target == id {
			return id, nil
		}
	}
	find := c.incident
	if open {
		find = c.openIncident
	}
	inc, err := find(usage)
	if err != nil {
		return 0, err
	}
	return inc.ID, nil
}

// update applies fn to the incident with the invocation's dedup key. It
// refuses a resolved incident inside the transaction when mustBeOpen is set,
// so that a concurrent resolve wins cleanly.
func (c *call) update(id int64, mustBeOpen bool, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error) {
	key := ""
	if c.inv.DedupKey != "" {
		key = "cmd:" + c.inv.DedupKey
	}
	return c.updateIncident(c.ctx, id, key, func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if mustBeOpen && inc.Resolved() {
			return nil, errResolved(inc)
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

// followups runs fns in order (nil ones are skipped) and joins their
// errors, so that one failed post does not stop the others.
func followups(fns ...func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, fn := range fns {
			if fn == nil {
				continue
			}
			if err := fn(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
