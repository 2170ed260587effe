package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/scheduler"
)

// The backfill. Slack does not redeliver everything: events are lost while
// a socket is silent, and none arrive while the bot is stopped. So on every
// (re)connection the bot records, for each open incident channel, a gap —
// from the moment the previous connection was last known healthy (for a
// fresh process, the last message stored) less the margin, to now — in the
// store, where it survives restarts and merges with the channel's other
// gaps not started yet. The scheduler's backfill job (scheduler.Backfill,
// implemented here) then works off each gap until it is done: it reads the
// gap's history from conversations.history newest first and the threads
// found in it from conversations.replies, a page of at most
// backfillPageSize at a time, reconciles each page with what the store
// holds for that stretch of the channel, stores the difference, and saves
// its progress, so that a restart resumes where it stopped. Each method
// waits out its own Retry-After (Slack limits them separately, to one call
// a minute for many apps since 2025), so a rate limit slows the backfill
// but never drops a channel; the calls go through their own HTTP client, on
// the scheduler's goroutine, and hold up neither capture nor commands.
//
// Reconciling means: a message or reply not stored is stored (its
// MessageKey); one whose text differs from the stored one and that Slack
// marks edited is an edit (EditKey with Slack's edit ts, the key a live
// message_changed carries, the earlier text kept); a stored message missing
// from the history read (or shown as a tombstone: a deleted parent with
// replies) is a deletion (DeleteKey, its text kept); a :pushpin: among its
// reactions is a key event (ReactionKey, as for a live reaction_added);
// files come with their message. Every event has the dedup key its live
// twin has, so nothing is recorded twice, whether Slack also delivers it,
// or a page is read again after a restart.
//
// Known limits: an edit or deletion is found only for a message inside a
// gap; replies to a thread whose parent is older than the gap are read only
// when a reply of it in the gap is stored already.

// BackfillMargin is the default Config.BackfillMargin: how far before the
// last moment a connection was known healthy a gap starts. Slack's clock
// and ours differ, and an event in flight when the socket died may carry an
// older ts.
const BackfillMargin = 2 * time.Minute

// backfillPageSize is the limit of each history read: Slack caps pages at
// 15 for non-Marketplace apps since 2025.
const backfillPageSize = 15

// backfillParallel bounds the gaps worked at once. Calls of one method wait
// for each other anyway; this lets a channel whose reads fail or hang not
// hold up the others.
const backfillParallel = 4

// Gaps is what the backfill needs of the store: the gaps (see
// incidentbot.Gap) and what is stored about a stretch of a channel. See
// store.DB for how each fails.
type Gaps interface {
	// RecordGap records a gap, merged with the channel's others.
	RecordGap(ctx context.Context, g incidentbot.Gap) ([]incidentbot.Gap, error)
	// PendingGaps returns the gaps not closed.
	PendingGaps(ctx context.Context) ([]incidentbot.Gap, error)
	// SaveGap saves a gap's progress; EConflict when it changed since read.
	SaveGap(ctx context.Context, g incidentbot.Gap) (incidentbot.Gap, error)
	// CloseGap removes a gap; EConflict when it changed since read.
	CloseGap(ctx context.Context, g incidentbot.Gap) error
	// EventsInRange calls fn with the events about messages whose ts is in
	// [from, to].
	EventsInRange(ctx context.Context, id int64, from, to string, fn func(*incidentbot.TimelineEvent) error) error
}

// backfiller is the bot's scheduler.Backfill.
type backfiller struct {
	b     *Bot
	api   *slack.Client // without rate-limit retries: the gates wait them out
	wake  chan struct{}
	gates map[string]*gate // by Web API method
}

var _ scheduler.Backfill = (*backfiller)(nil)

func newBackfiller(b *Bot) *backfiller {
	return &backfiller{
		b:    b,
		api:  newHistoryClient(b.cfg),
		wake: make(chan struct{}, 1),
		gates: map[string]*gate{
			"conversations.history": newGate(),
			"conversations.replies": newGate(),
		},
	}
}

// newHistoryClient is the slack-go client of the backfill: like the bot's
// (newSlackClient), with its own connections, but it retries only 5xx
// answers and connection errors; a 429 comes back to the gate of its
// method, which waits its Retry-After with no deadline.
func newHistoryClient(cfg Config) *slack.Client {
	rc := slack.DefaultRetryConfig()
	rc.MaxRetries = 3
	rc.BackoffInitial = 200 * time.Millisecond
	rc.BackoffMax = 5 * time.Second
	rc.BackoffJitter = 100 * time.Millisecond
	rc.Handlers = []slack.RetryHandler{slack.NewConnectionErrorRetryHandler(), slack.NewServerErrorRetryHandler(rc)}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	opts := []slack.Option{
		slack.OptionHTTPClient(&http.Client{Timeout: cfg.HTTPTimeout, Transport: cfg.Metrics.Transport("slack", tr)}),
		slack.OptionRetryConfig(rc),
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	return slack.New(cfg.BotToken, opts...)
}

// gate paces the calls of one Web API method: one at a time, none before
// the Retry-After of the last 429 has passed.
type gate struct {
	turn      chan struct{} // a token: held for a call and the wait before it
	notBefore time.Time     // guarded by turn
}

func newGate() *gate { return &gate{turn: make(chan struct{}, 1)} }

// defaultRetryAfter is the wait after a 429 that does not say how long.
const defaultRetryAfter = 30 * time.Second

// do calls fn, waiting out every 429 it answers for as long as Slack asks,
// until it answers something else or ctx ends.
func (g *gate) do(ctx context.Context, fn func() error) error {
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.turn }()
	for {
		if d := time.Until(g.notBefore); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		err := fn()
		wait, limited := rateLimited(err)
		if !limited {
			return err
		}
		g.notBefore = time.Now().Add(wait)
	}
}

// rateLimited reports whether err is an HTTP 429, and how long to wait.
func rateLimited(err error) (time.Duration, bool) {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return max(rl.RetryAfter, time.Second), true
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok && sc.Code == http.StatusTooManyRequests {
		return defaultRetryAfter, true
	}
	return 0, false
}

// BackfillWake implements scheduler.Backfill: it receives when gaps are
// recorded.
func (w *backfiller) BackfillWake() <-chan struct{} { return w.wake }

// recordGaps records the gap of every open incident channel after a
// connection made at now: from prev (unix nanos, the previous connection's
// last healthy moment; 0 for a fresh process, then from the last message
// stored for the channel), less the margin, and never before the incident
// opened.
func (w *backfiller) recordGaps(ctx context.Context, prev int64, now time.Time) {
	b := w.b
	incs, err := b.store.Incidents(ctx, true)
	if err != nil {
		b.log.WithError(err).Warn("backfill: cannot list the open incidents to record what may have been missed")
		return
	}
	margin := b.cfg.BackfillMargin
	n := 0
	for _, inc := range incs {
		if inc.ChannelID == "" {
			continue
		}
		from := inc.OpenedAt
		if prev != 0 {
			from = time.Unix(0, prev).Add(-margin)
		} else if ts, err := b.store.LastEventTS(ctx, inc.ID); err == nil && ts != "" {
			from = tsTime(ts).Add(-margin)
		}
		if opened := inc.OpenedAt.Add(-time.Second); from.Before(opened) {
			from = opened
		}
		if !now.After(from) {
			continue
		}
		if _, err := b.store.RecordGap(ctx, incidentbot.Gap{IncidentID: inc.ID, Channel: inc.ChannelID, From: from, To: now, Recorded: now}); err != nil {
			b.log.WithField("incident", inc.Key()).WithField("channel", inc.ChannelID).WithError(err).Warn("backfill: cannot record what may have been missed")
			continue
		}
		n++
	}
	if n > 0 {
		b.log.WithField("channels", n).Info("backfill: recorded the gaps to read back")
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if gaps, err := b.store.PendingGaps(ctx); err == nil {
		w.report(gaps)
	}
}

// report sets the gap metrics.
func (w *backfiller) report(gaps []incidentbot.Gap) {
	var oldest time.Time
	for _, g := range gaps {
		if oldest.IsZero() || g.Recorded.Before(oldest) {
			oldest = g.Recorded
		}
	}
	w.b.cfg.Metrics.BackfillGaps(len(gaps), oldest)
}

// Backfill implements scheduler.Backfill: it works off every pending gap
// that is due, several at once, and again those recorded meanwhile, until
// none is due; it returns how long until a gap that failed is due again.
// It fails only when the gaps cannot be read.
func (w *backfiller) Backfill(ctx context.Context) (time.Duration, error) {
	for {
		gaps, err := w.b.store.PendingGaps(ctx)
		if err != nil {
			return 0, fmt.Errorf("backfill: %w", err)
		}
		w.report(gaps)
		now := time.Now()
		var due []incidentbot.Gap
		var retry time.Duration
		for _, g := range gaps {
			if d := g.NextTry.Sub(now); d > 0 {
				if retry == 0 || d < retry {
					retry = d
				}
				continue
			}
			due = append(due, g)
		}
		if len(due) == 0 || ctx.Err() != nil {
			return retry, nil
		}
		sem := make(chan struct{}, backfillParallel)
		var wg sync.WaitGroup
		for _, g := range due {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				w.work(ctx, g)
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return 0, nil
		}
	}
}

// errGapChanged says a gap was written by someone else since it was read
// (grown, or closed): read it again.
var errGapChanged = errors.New("the gap changed")

// gapWrite maps the store's refusal of a gap write to errGapChanged.
func gapWrite(err error) error {
	switch incidentbot.ErrorCode(err) {
	case "":
		return nil
	case incidentbot.EConflict, incidentbot.ENotFound:
		return errGapChanged
	}
	return fmt.Errorf("backfill: save the gap: %w", err)
}

// work works gap g off until it is done, it fails (then it is due again
// after a backoff), it changed under it or ctx ends.
func (w *backfiller) work(ctx context.Context, g incidentbot.Gap) {
	b := w.b
	log := b.log.WithField("incident", incidentbot.IncidentKey(g.IncidentID)).WithField("channel", g.Channel).WithField("gap", g.ID)
	r := &reconciler{w: w, g: g, log: log}
	err := r.load(ctx)
	for err == nil && !r.done() {
		err = r.step(ctx)
	}
	if err == nil {
		err = gapWrite(b.store.CloseGap(ctx, r.g))
		if err == nil {
			log.WithField("events", r.g.Stored).WithField("from", r.g.From.Format(time.RFC3339)).WithField("to", r.g.To.Format(time.RFC3339)).
				WithField("pending_for", time.Since(r.g.Recorded).Round(time.Millisecond).String()).Info("backfill: gap closed")
			b.cfg.Metrics.BackfillGapClosed()
			return
		}
	}
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, errGapChanged):
		return // read again by the next round (or closed)
	case slackErrorCode(err) == "channel_not_found":
		// The channel is deleted: there is nothing left to read, ever.
		log.WithError(err).Warn("backfill: the channel is gone; giving up its gap")
		if err := b.store.CloseGap(ctx, r.g); err != nil {
			log.WithError(err).Debug("backfill: could not close the gap of a deleted channel")
		}
		return
	}
	g = r.g
	g.Failures++
	back := scheduler.Backoff{First: 5 * time.Second, Max: 10 * time.Minute}
	if slackErrorCode(err) == "not_in_channel" {
		back = scheduler.Backoff{First: 5 * time.Minute, Max: time.Hour} // until the bot is invited back
	}
	g.NextTry = time.Now().Add(back.Delay(g.Failures))
	log.WithError(err).WithField("retry_at", g.NextTry.Format(time.RFC3339)).Warn("backfill: reading the gap failed; it stays pending")
	if _, serr := b.store.SaveGap(ctx, g); serr != nil && incidentbot.ErrorCode(serr) != incidentbot.EConflict {
		log.WithError(serr).Warn("backfill: could not save the gap's next attempt")
	}
}

// stored is what the store holds about one message.
type stored struct {
	text    string    // its text, or that of its latest edit
	editAt  time.Time // when that edit was made
	actor   string
	thread  string // the parent's ts, for a reply
	message bool   // the message itself is stored
	deleted bool
}

// reconciler works one gap: its progress (g) and what the store holds for
// its stretch of the channel (known, by message ts).
type reconciler struct {
	w     *backfiller
	g     incidentbot.Gap
	log   logrus.FieldLogger
	known map[string]*stored
	// parents are the threads with replies stored in the stretch.
	parents map[string]bool
}

func (r *reconciler) done() bool { return r.g.HistoryDone && len(r.g.Threads) == 0 }

func (r *reconciler) from() string { return slackTS(r.g.From) }
func (r *reconciler) to() string   { return slackTS(r.g.To) }

// load reads what the store holds for the gap's stretch of the channel.
func (r *reconciler) load(ctx context.Context) error {
	r.known, r.parents = map[string]*stored{}, map[string]bool{}
	return r.w.b.store.EventsInRange(ctx, r.g.IncidentID, r.from(), r.to(), func(e *incidentbot.TimelineEvent) error {
		r.note(e)
		return nil
	})
}

// note adds what event e says about its message to known.
func (r *reconciler) note(e *incidentbot.TimelineEvent) {
	s := r.known[e.TS]
	if s == nil {
		s = &stored{}
		r.known[e.TS] = s
	}
	switch e.Kind {
	case incidentbot.EventMessage, incidentbot.EventFileShared:
		s.message, s.actor, s.thread = true, e.Actor, e.ThreadTS
		if e.ThreadTS != "" {
			r.parents[e.ThreadTS] = true
		}
		if s.editAt.IsZero() {
			s.text = e.Text
		}
	case incidentbot.EventEdited:
		if !e.At.Before(s.editAt) {
			s.text, s.editAt = e.Text, e.At
		}
		if s.thread == "" {
			s.thread = e.ThreadTS
		}
	case incidentbot.EventDeleted:
		s.deleted = true
	}
}

// step reads and reconciles one page: of the history while it is not done,
// then of the first thread left.
func (r *reconciler) step(ctx context.Context) error {
	var events []incidentbot.TimelineEvent
	var err error
	if !r.g.HistoryDone {
		events, err = r.historyPage(ctx)
	} else {
		events, err = r.threadPage(ctx)
	}
	if err != nil {
		return err
	}
	for i := range events {
		events[i].IncidentID = r.g.IncidentID
	}
	n, err := r.w.b.store.AppendEvents(ctx, events...)
	if err != nil {
		return fmt.Errorf("backfill: store what was read: %w", err)
	}
	for i := range events {
		r.note(&events[i])
	}
	r.w.b.cfg.Metrics.EventsStored(n)
	r.g.Stored += n
	r.g.Failures, r.g.NextTry = 0, time.Time{}
	saved, err := r.w.b.store.SaveGap(ctx, r.g)
	if err = gapWrite(err); err != nil {
		return err
	}
	r.g = saved
	return nil
}

// historyPage reads the newest page of the history not read yet.
func (r *reconciler) historyPage(ctx context.Context) ([]incidentbot.TimelineEvent, error) {
	upper := r.g.Upper
	if upper == "" {
		upper = r.to()
	}
	var resp *slack.GetConversationHistoryResponse
	err := r.w.gates["conversations.history"].do(ctx, func() error {
		var err error
		resp, err = r.w.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: r.g.Channel, Oldest: r.from(), Latest: upper, Limit: backfillPageSize,
		})
		return err
	})
	if err != nil {
		return nil, r.w.b.slack.err("conversations.history", err)
	}
	var events []incidentbot.TimelineEvent
	seen := map[string]bool{}
	lower := r.from()
	for _, m := range resp.Messages {
		seen[m.Timestamp] = true
		events = append(events, r.reconcile(&m.Msg)...)
		if (m.ReplyCount > 0 && !tsBefore(m.LatestReply, r.from())) || r.hasReplies(m.Timestamp) {
			r.addThread(m.Timestamp)
		}
		if resp.HasMore && (lower == r.from() || tsBefore(m.Timestamp, lower)) {
			lower = m.Timestamp
		}
	}
	// A stored message (not a reply: those are read with their thread) of
	// the stretch this page covers that the page lacks is deleted.
	for ts, s := range r.known {
		if s.message && !s.deleted && s.thread == "" && !seen[ts] && !tsBefore(ts, lower) && tsBefore(ts, upper) {
			events = append(events, r.deletion(ts, s))
		}
	}
	if resp.HasMore && len(resp.Messages) > 0 {
		r.g.Upper = lower
		return events, nil
	}
	r.g.Upper, r.g.HistoryDone = r.from(), true
	// Threads older than the gap with replies stored in it: read them for
	// edits, deletions and new replies too.
	for parent := range r.parents {
		if tsBefore(parent, r.from()) {
			r.addThread(parent)
		}
	}
	return events, nil
}

// hasReplies reports whether replies to parent within the gap are stored.
func (r *reconciler) hasReplies(parent string) bool { return r.parents[parent] }

func (r *reconciler) addThread(parent string) {
	for _, t := range r.g.Threads {
		if t.Parent == parent {
			return
		}
	}
	r.g.Threads = append(r.g.Threads, incidentbot.GapThread{Parent: parent})
}

// threadPage reads the next page of replies of the first thread left.
func (r *reconciler) threadPage(ctx context.Context) ([]incidentbot.TimelineEvent, error) {
	t := r.g.Threads[0]
	oldest, inclusive := t.After, false
	if oldest == "" {
		oldest, inclusive = r.from(), true
	}
	var msgs []slack.Message
	var more bool
	err := r.w.gates["conversations.replies"].do(ctx, func() error {
		var err error
		msgs, more, _, err = r.w.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: r.g.Channel, Timestamp: t.Parent, Oldest: oldest, Inclusive: inclusive, Limit: backfillPageSize,
		})
		return err
	})
	gone := slackErrorCode(err) == "thread_not_found" // the parent is deleted, and so are its replies
	if err != nil && !gone {
		return nil, r.w.b.slack.err("conversations.replies", err)
	}
	var events []incidentbot.TimelineEvent
	seen := map[string]bool{}
	last, past := "", false
	for _, m := range msgs {
		if m.Timestamp == t.Parent {
			continue
		}
		if tsBefore(r.to(), m.Timestamp) {
			past = true // newer than the gap: captured live
			break
		}
		seen[m.Timestamp] = true
		events = append(events, r.reconcile(&m.Msg)...)
		if last == "" || tsBefore(last, m.Timestamp) {
			last = m.Timestamp
		}
	}
	finished := gone || !more || past || last == ""
	upper := r.to()
	if !finished {
		upper = last
	}
	for ts, s := range r.known {
		if s.thread != t.Parent || !s.message || s.deleted || seen[ts] || tsBefore(upper, ts) {
			continue
		}
		if tsBefore(ts, oldest) || (!inclusive && ts == oldest) {
			continue
		}
		events = append(events, r.deletion(ts, s))
	}
	if finished {
		r.g.Threads = r.g.Threads[1:]
	} else {
		r.g.Threads[0].After = last
	}
	return events, nil
}

// reconcile returns the events of message m from Slack's history that the
// store lacks: the message itself, its edit, its deletion (a tombstone),
// its :pushpin: marks.
func (r *reconciler) reconcile(m *slack.Msg) []incidentbot.TimelineEvent {
	b := r.w.b
	s := r.known[m.Timestamp]
	if m.SubType == "tombstone" {
		if s != nil && s.message && !s.deleted {
			return []incidentbot.TimelineEvent{r.deletion(m.Timestamp, s)}
		}
		return nil
	}
	if !capturedSubtype(m.SubType) {
		return nil
	}
	e, ok := b.newMessage(m.User, m.BotID, m.Text, m.Timestamp, m.ThreadTimestamp, m.Files)
	if !ok {
		return nil // the bot's own
	}
	events := []incidentbot.TimelineEvent{e}
	if s != nil && s.message && !s.deleted && m.Edited != nil && m.Edited.Timestamp != "" && m.Text != s.text {
		events = append(events, incidentbot.TimelineEvent{
			Kind: incidentbot.EventEdited, At: tsTime(m.Edited.Timestamp), Actor: m.User, TS: m.Timestamp, ThreadTS: e.ThreadTS,
			Text: m.Text, PrevText: s.text, DedupKey: incidentbot.EditKey(m.Timestamp, m.Edited.Timestamp),
		})
	}
	for _, re := range m.Reactions {
		if re.Name != "pushpin" {
			continue
		}
		for _, u := range re.Users {
			if u == b.botUserID {
				continue
			}
			// Slack's history does not say when the mark was made: it is
			// dated with the message it marks.
			events = append(events, incidentbot.TimelineEvent{
				Kind: incidentbot.EventKeyMarked, At: tsTime(m.Timestamp), Actor: u, TS: m.Timestamp,
				DedupKey: incidentbot.ReactionKey(m.Timestamp, u),
			})
		}
	}
	return events
}

// deletion is the event of the stored message ts found deleted; it is dated
// with the end of the gap, by when it was gone.
func (r *reconciler) deletion(ts string, s *stored) incidentbot.TimelineEvent {
	return incidentbot.TimelineEvent{
		Kind: incidentbot.EventDeleted, At: r.g.To, Actor: s.actor, TS: ts, ThreadTS: s.thread,
		PrevText: s.text, DedupKey: incidentbot.DeleteKey(ts),
	}
}

// tsBefore reports whether Slack ts a is before b.
func tsBefore(a, b string) bool { return tsTime(a).Before(tsTime(b)) }

// slackTS formats t as a Slack ts.
func slackTS(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%06d", t.Nanosecond()/1000)
}
