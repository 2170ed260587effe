// Package storetest is the contract of incidentbot's store: a conformance
// suite that any backend (bbolt today, PostgreSQL later) must pass, because
// the bot relies on each behaviour it checks. Run it from the backend's own
// tests with a Backend that opens fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{Open: ..., Reopen: ..., OpenBackup: ...})
//	}
//
// It checks: incident ids from a sequence (1, 2, 3..., unique under
// concurrent CreateIncident); create-if-absent of incidents (CreateIncident
// with a dedup key) and of commands (UpdateIncident with a dedup key is
// applied once); events stored once per dedup key, with the count of those
// stored returned; timelines in Seq order, Seq 1..n in commit order, and
// LastEventTS the greatest Slack ts whatever the arrival order; updates
// whose fn fails leave nothing changed, and concurrent updates are
// serialised (no lost update); the channel index and a channel taken by two
// incidents; open and all incidents; users; event counts; a context done
// before a call starts; backups that hold what was committed before they
// began; durability across a reopen; the backfill's gaps (recorded,
// merged, not re-read once started, saved and closed on the revision read,
// durable, none in an old file) and the events of a stretch of ts; and the
// failure codes of
// incidentbot.ErrorCode: ENotFound for a missing incident, EConflict for a
// taken channel, EInvalid for a user without an ID, EUnavailable for writes
// to a closed or read-only store.
//
// The suite uses only the methods of Store, never a backend's types.
// Ordering the timeline by Slack ts for display is the templates' job, not
// the store's: the store keeps arrival (Seq) order.
package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// Store is everything the bot, its commands, the post-mortem and the
// command line ask of the store: the union of their interfaces, plus Backup
// and Close.
type Store interface {
	// CreateIncident stores a new incident with the next id, once per
	// non-empty dedupKey.
	CreateIncident(ctx context.Context, inc *incidentbot.Incident, dedupKey string, events ...incidentbot.TimelineEvent) (*incidentbot.Incident, bool, error)
	// UpdateIncident applies fn to incident id, once per non-empty dedupKey.
	UpdateIncident(ctx context.Context, id int64, dedupKey string, fn func(*incidentbot.Incident) ([]incidentbot.TimelineEvent, error)) (*incidentbot.Incident, bool, error)
	// Incident reads incident id.
	Incident(ctx context.Context, id int64) (*incidentbot.Incident, error)
	// IncidentByChannel reads the incident whose channel is channelID.
	IncidentByChannel(ctx context.Context, channelID string) (*incidentbot.Incident, error)
	// Incidents lists the incidents, or the open ones, by id.
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
	// AppendEvents stores captured events, once per (incident, dedup key).
	AppendEvents(ctx context.Context, events ...incidentbot.TimelineEvent) (int, error)
	// Events calls fn with each event of incident id in Seq order.
	Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error
	// EventCount counts the events of incident id.
	EventCount(ctx context.Context, id int64) (int, error)
	// LastEventTS returns the greatest Slack ts of a stored message.
	LastEventTS(ctx context.Context, id int64) (string, error)
	// PutUsers stores users by ID.
	PutUsers(ctx context.Context, users ...incidentbot.User) error
	// Users reads every stored user.
	Users(ctx context.Context) (map[string]incidentbot.User, error)
	// Backup writes a consistent copy of the whole store to w.
	Backup(w io.Writer) (int64, error)
	// Close releases the store; closing twice is harmless.
	Close() error
	// Gaps are the backfill's gaps (gaps.go).
	Gaps
	// LastFiring and RecordFiring remember the scheduler's last cron
	// firing per job.
	LastFiring(ctx context.Context, job string) (time.Time, error)
	RecordFiring(ctx context.Context, job string, at time.Time) error
}

// Backend opens stores of one implementation for the suite.
type Backend struct {
	// Open returns a new, empty store, closed by the test's cleanup
	// (which may also check its consistency). Close may already have been
	// called by then.
	Open func(t *testing.T) Store
	// Reopen closes s and opens the same data again, read-only if
	// readOnly; the store returned is closed by the test's cleanup. Nil
	// skips the durability and read-only checks.
	Reopen func(t *testing.T, s Store, readOnly bool) Store
	// OpenBackup opens, read-only, a copy that Backup wrote; the store
	// returned is closed by the test's cleanup. Nil skips the backup check.
	OpenBackup func(t *testing.T, backup []byte) Store
}

// Run runs the conformance suite against be, one subtest per behaviour.
func Run(t *testing.T, be Backend) {
	if be.Open == nil {
		t.Fatal("storetest: Backend.Open is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"CreateIncident", testCreateIncident},
		{"CreateIncidentChannelTaken", testCreateIncidentChannelTaken},
		{"CreateIncidentDedup", testCreateIncidentDedup},
		{"CreateIncidentConcurrentDedup", testCreateIncidentConcurrentDedup},
		{"CreateIncidentConcurrentSequence", testCreateIncidentConcurrentSequence},
		{"UpdateIncident", testUpdateIncident},
		{"UpdateIncidentEventDedup", testUpdateIncidentEventDedup},
		{"UpdateIncidentFnErrorWritesNothing", testUpdateIncidentFnErrorWritesNothing},
		{"UpdateIncidentFnErrorsConcurrent", testUpdateIncidentFnErrorsConcurrent},
		{"UpdateIncidentConcurrentDedup", testUpdateIncidentConcurrentDedup},
		{"UpdateIncidentNoLostUpdate", testUpdateIncidentNoLostUpdate},
		{"AppendEvents", testAppendEvents},
		{"AppendEventsUnknownIncident", testAppendEventsUnknownIncident},
		{"AppendEventsConcurrent", testAppendEventsConcurrent},
		{"AppendEventsConcurrentDuplicates", testAppendEventsConcurrentDuplicates},
		{"Events", testEvents},
		{"EventsArrivalOrder", testEventsArrivalOrder},
		{"LastEventTS", testLastEventTS},
		{"Users", testUsers},
		{"Firings", testFirings},
		{"ContextDoneBeforeStart", testContextDoneBeforeStart},
		{"Closed", testClosed},
		{"ReopenFindsEverything", testReopenFindsEverything},
		{"ReadOnly", testReadOnly},
		{"BackupDuringWrites", testBackupDuringWrites},
	}
	tests = append(tests, gapCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, be) })
	}
}

// code returns err's incidentbot error code.
func code(err error) string { return incidentbot.ErrorCode(err) }

// NewIncident returns an incident as the commands layer would open it.
func NewIncident(title, channel string) *incidentbot.Incident {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &incidentbot.Incident{
		Title:        title,
		Severity:     incidentbot.Sev2,
		Status:       incidentbot.StatusInvestigating,
		ChannelID:    channel,
		Declarer:     "U1",
		Roles:        map[incidentbot.Role]string{incidentbot.RoleCommander: "U1"},
		OpenedAt:     at,
		LastUpdateAt: at,
	}
}

// Message returns a captured message event of incident id.
func Message(id int64, dedup, ts, text string) incidentbot.TimelineEvent {
	return incidentbot.TimelineEvent{
		IncidentID: id,
		Kind:       incidentbot.EventMessage,
		At:         time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Actor:      "U2",
		Text:       text,
		TS:         ts,
		DedupKey:   dedup,
	}
}

// MustCreate creates an incident (NewIncident) or fails the test.
func MustCreate(t testing.TB, db Store, title, channel string, events ...incidentbot.TimelineEvent) *incidentbot.Incident {
	t.Helper()
	inc, created, err := db.CreateIncident(context.Background(), NewIncident(title, channel), "", events...)
	if err != nil || !created {
		t.Fatalf("CreateIncident(%q) = %v, %v", title, created, err)
	}
	return inc
}

// AllEvents returns incident id's timeline, or fails the test.
func AllEvents(t testing.TB, db Store, id int64) []incidentbot.TimelineEvent {
	t.Helper()
	var out []incidentbot.TimelineEvent
	if err := db.Events(context.Background(), id, func(ev *incidentbot.TimelineEvent) error {
		out = append(out, *ev)
		return nil
	}); err != nil {
		t.Fatalf("Events(%d): %v", id, err)
	}
	return out
}
