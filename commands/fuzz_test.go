package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/slacktext"
	"github.com/incidentbot/incidentbot/store"
)

// fuzzSlack is a Slack that answers every call and keeps what the bot said,
// so that the fuzz targets can check it. Its first channel is C1, the ones
// after it C2, C3, …
type fuzzSlack struct {
	mu       sync.Mutex
	channels int
	said     []string // posted, updated and uploaded texts since the last take
}

func (s *fuzzSlack) CreateChannel(ctx context.Context, name string, private bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels++
	return fmt.Sprintf("C%d", s.channels), nil
}
func (s *fuzzSlack) Invite(ctx context.Context, ch string, users ...string) error { return nil }
func (s *fuzzSlack) Post(ctx context.Context, ch, text string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.said = append(s.said, text)
	return fmt.Sprintf("1700000000.%06d", len(s.said)), nil
}
func (s *fuzzSlack) Update(ctx context.Context, ch, ts, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.said = append(s.said, text)
	return nil
}
func (s *fuzzSlack) Pin(ctx context.Context, ch, ts string) error { return nil }
func (s *fuzzSlack) UserByEmail(ctx context.Context, email string) (incidentbot.User, error) {
	return incidentbot.User{}, &incidentbot.Error{Code: incidentbot.ENotFound, Message: "no such user"}
}
func (s *fuzzSlack) Upload(ctx context.Context, ch, name, title string, content []byte, comment string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.said = append(s.said, comment)
	return nil
}

// take returns and forgets what was said.
func (s *fuzzSlack) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	said := s.said
	s.said = nil
	return said
}

// fuzzPager accepts every page; the service only queues pages in the
// incident, and delivering them is the sweep's work, not Handle's.
type fuzzPager struct{}

func (fuzzPager) Trigger(ctx context.Context, a incidentbot.Alert) error { return nil }
func (fuzzPager) Resolve(ctx context.Context, dedupKey string) error     { return nil }

// fuzzDrafter drafts a one-line post-mortem.
type fuzzDrafter struct{}

func (fuzzDrafter) Draft(ctx context.Context, id int64) (string, []byte, error) {
	return incidentbot.IncidentKey(id) + "-postmortem.md", []byte("# " + incidentbot.IncidentKey(id) + "\n"), nil
}

// fuzzWorld is a service on a real store with one incident in channel C1.
type fuzzWorld struct {
	db    *store.DB
	path  string
	slack *fuzzSlack
	svc   *commands.Service
}

// newFuzzWorld opens a store in dir and opens the incident of channel C1.
// The store skips fsync: a fuzz target runs thousands of commands a second,
// and durability is not what it checks.
func newFuzzWorld(tb testing.TB, dir string, n int) *fuzzWorld {
	tb.Helper()
	ctx := context.Background()
	w := &fuzzWorld{path: filepath.Join(dir, fmt.Sprintf("fuzz-%d.db", n)), slack: &fuzzSlack{}}
	db, err := store.Open(w.path, store.Options{NoSync: true, BatchDelay: time.Microsecond})
	if err != nil {
		tb.Fatal(err)
	}
	w.db = db
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
	deps := commands.SlackDeps(w.slack)
	deps.Now = func() time.Time { return now }
	deps.Pager = fuzzPager{}
	deps.Drafts = fuzzDrafter{}
	w.svc = commands.New(db, commands.Config{AnnounceChannel: "CANNOUNCE", HeaderEvery: time.Microsecond}, deps)
	res, err := w.svc.Open(ctx, commands.OpenRequest{TeamID: "T1", UserID: "U1", Title: "Checkout latency spike", Severity: incidentbot.Sev2})
	if err != nil {
		tb.Fatal(err)
	}
	if err := res.Followup(ctx); err != nil {
		tb.Fatal(err)
	}
	if inc, err := db.IncidentByChannel(ctx, "C1"); err != nil || inc.ID != 1 {
		tb.Fatalf("the incident of C1: %v, %v", inc, err)
	}
	w.slack.take()
	return w
}

func (w *fuzzWorld) close() {
	w.db.Close()
	os.Remove(w.path)
}

// worn reports whether the world has drifted so far that fuzzing it teaches
// little and costs much: the incident of C1 resolved (most commands are then
// refused), or the record grown large (every change re-encodes it).
func (w *fuzzWorld) worn(ctx context.Context) bool {
	inc, err := w.db.IncidentByChannel(ctx, "C1")
	if err != nil {
		return true
	}
	return inc.Resolved() || len(inc.Actions)+len(inc.Hypotheses)+len(inc.Pager) > 64 || w.slack.channels > 32
}

// FuzzHandle runs /incident command texts against a real store with an
// open incident in channel C1, typed in C1 or in another channel (C999), and
// checks the contract of Handle: errors carry a user-facing code and a
// message that cannot notify a channel, successes a reply, and nothing the
// bot says in Slack can notify a channel either.
//
// The store is opened once per fuzz target (per fuzzing process), not per
// input; it is replaced by a new one only when the incident of C1 has been
// resolved or has grown large (see worn).
func FuzzHandle(f *testing.F) {
	seeds := []string{
		"", "help", "HELP", "  help  ", "bogus", "open", "open sev1 Checkout latency spike", "declare sev4 tiny",
		"new DB down &lt;b&gt; &amp; <@U2>", "open sev9 x", "open sev", "open sev1", "open SEV2 Upper case",
		"open " + strings.Repeat("long title ", 20), "list", "LIST extra",
		"role commander me", "role ic <@U2|bob>", "role lead <@W3>", "role pilot me", "role ops", "role comms bob",
		"role scribe <@U1>", "role commander <@u2>",
		"status identified cause found", "status", "update monitoring fix deployed", "status investigating",
		"status resolved all good", "severity sev1", "sev sev3", "sev sev2 extra", "sev 5", "severity",
		"hypothesis DNS is broken", "hyp confirm H1 yes it was", "hypothesis reject H9", "hypothesis confirm X",
		"hypothesis reject", "hyp <@U2> thinks <#C2|ops>",
		"action rollback <@U2> due:+7d", "action write docs due:2026-12-01 <@U3>", "action done A1", "action close A99",
		"action fix due:2020-01-01", "action fix due:+99999d", "action fix due:+7w", "action <@U2> due:+1d", "action list",
		"action", "action done", "action done A1 extra", "actions",
		"started 14:05", "started 23:59 UTC", "started 2026-11-23T14:05:00Z", "started 2099-01-01T00:00:00Z", "started noon",
		"started", "snooze 30m", "snooze 2h", "snooze 3h", "snooze -1m", "snooze x", "snooze",
		"page", "page DB on fire", "postmortem", "pm extra", "resolve", "resolve rolled back &lt;b&gt; @team",
		"role\tcommander\nme", "status\u00a0identified x", "ａction x",
	}
	for _, s := range seeds {
		f.Add(true, s)
		f.Add(false, s)
	}
	ctx := context.Background()
	dir := f.TempDir()
	var mu sync.Mutex
	worlds := 0
	w := newFuzzWorld(f, dir, worlds)
	f.Cleanup(func() { w.close() })

	f.Fuzz(func(t *testing.T, inChannel bool, text string) {
		mu.Lock()
		defer mu.Unlock()
		if w.worn(ctx) {
			w.close()
			worlds++
			w = newFuzzWorld(t, dir, worlds)
		}
		channel := "C999"
		if inChannel {
			channel = "C1"
		}
		res, err := w.svc.Handle(ctx, commands.Invocation{TeamID: "T1", ChannelID: channel, UserID: "U1", Text: text})
		if err != nil {
			switch code := incidentbot.ErrorCode(err); code {
			case incidentbot.EInvalid, incidentbot.ENotFound, incidentbot.EConflict, incidentbot.EUnavailable:
			default:
				t.Fatalf("Handle(%q) in %s: error of code %s: %v", text, channel, code, err)
			}
			msg := incidentbot.ErrorMessage(err)
			if msg == "" {
				t.Fatalf("Handle(%q) in %s: error without a message: %v", text, channel, err)
			}
			checkSafe(t, "the error message", text, msg)
			if said := w.slack.take(); len(said) > 0 {
				t.Fatalf("Handle(%q) in %s failed but said %q", text, channel, said)
			}
			return
		}
		if res.Reply == "" && !res.OpenModal {
			t.Fatalf("Handle(%q) in %s: no reply and no modal", text, channel)
		}
		checkSafe(t, "the reply", text, res.Reply)
		if res.Followup != nil {
			if err := res.Followup(ctx); err != nil && incidentbot.ErrorCode(err) == incidentbot.EInternal {
				t.Fatalf("Handle(%q) in %s: follow-up: %v", text, channel, err)
			}
		}
		for _, s := range w.slack.take() {
			checkSafe(t, "a message posted", text, s)
		}
	})
}

// checkSafe fails t when text the bot shows in Slack could notify people or
// carries markup that user text should not be able to make: any "<!…>"
// (channel, here, everyone, subteam), or a broadcast word without the
// zero-width joiner that slacktext.Escape adds.
func checkSafe(t *testing.T, what, input, out string) {
	t.Helper()
	if strings.Contains(out, "<!") {
		t.Fatalf("%s contains <!…> markup for input %q:\n%s", what, input, out)
	}
	if w := slacktext.Broadcast(out); w != "" {
		t.Fatalf("%s contains %q without a zero-width joiner for input %q:\n%s", what, w, input, out)
	}
}

// FuzzChannelName checks Slack's rules for channel names: at most 80
// bytes, only a-z, 0-9, '-' and '_', not empty.
func FuzzChannelName(f *testing.F) {
	f.Add("inc", int64(1), "Checkout latency spike")
	f.Add("inc", int64(12), "  DB: 500s on /api/v2 (EU)!! ")
	f.Add("INC", int64(3), "snake_case_ok")
	f.Add("inc", int64(4), "Ünïcödé only ☃")
	f.Add("inc", int64(5), "☃☃☃")
	f.Add("inc", int64(6), strings.Repeat("very long title ", 10))
	f.Add("incident_", int64(9223372036854775807), strings.Repeat("x", 200))
	f.Add("sev-", int64(-1), "R&amp;D &lt;b&gt;")
	f.Add("", int64(0), "")
	f.Add("-_-", int64(7), "-_-")
	f.Add("inc", int64(8), "\u212a\u0130 kelvin and dotted I")
	f.Fuzz(func(t *testing.T, prefix string, id int64, title string) {
		name := commands.ChannelName(prefix, id, title)
		if name == "" {
			t.Fatalf("ChannelName(%q, %d, %q) is empty", prefix, id, title)
		}
		if len(name) > 80 {
			t.Fatalf("ChannelName(%q, %d, %q) = %q is %d bytes long", prefix, id, title, name, len(name))
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("ChannelName(%q, %d, %q) = %q has %q", prefix, id, title, name, c)
			}
		}
	})
}
