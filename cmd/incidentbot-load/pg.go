package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store/postgres"
)

// pgSchemas creates the fresh schemas of one run in the database at a
// base URL and drops them all at the end.
type pgSchemas struct {
	logf  func(format string, args ...any)
	base  string // the URL given with --postgres
	admin *pgx.Conn
	names []string
}

// openSchemas connects to the database at base, for creating schemas. It
// fails when it cannot be reached; errors do not show the password.
// logf tells what it creates.
func openSchemas(ctx context.Context, base string, logf func(string, ...any)) (*pgSchemas, error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", postgres.Redact(base), redacted(base, err))
	}
	return &pgSchemas{logf: logf, base: base, admin: conn}, nil
}

// redacted is err's text without the password of url.
func redacted(url string, err error) string {
	s := err.Error()
	for _, p := range postgres.Passwords(url) {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

// create makes a new empty schema named after what and returns the URL of
// the database with it as search_path, so that the bot's migrations put
// its tables there.
func (s *pgSchemas) create(ctx context.Context, what string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "incidentbot_load_" + what + "_" + hex.EncodeToString(b[:])
	if _, err := s.admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	s.names = append(s.names, name)
	s.logf("  schema %s (dropped at the end)", name)
	u, err := url.Parse(s.base)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", postgres.Redact(s.base), err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// close drops every schema created and disconnects.
func (s *pgSchemas) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var first error
	for _, name := range s.names {
		if _, err := s.admin.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil && first == nil {
			first = fmt.Errorf("drop schema %s: %w", name, err)
		}
	}
	_ = s.admin.Close(ctx)
	return first
}

// insertEvents is the store's statement for a group of events (see
// store/postgres/timeline.go), which the raw baseline runs as it is.
const insertEvents = `INSERT INTO events (incident_id, seq, dedup_key, body)
SELECT i, s, NULLIF(k, ''), b::jsonb FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u (i, s, k, b)`

// pgBaseline is the raw PostgreSQL configuration that message capture on
// PostgreSQL is compared with: the shape the store's group commit gets
// from replicas bots, with nothing of the bot or the store around it.
// committers connections (one per replica) each run a plain group
// committer fed by callers goroutines that submit one event each (the
// bot's default MaxInFlight): it takes what is queued, at most maxGroup
// events (the store's maxGroupCalls), and commits them in one transaction
// of one statement, the store's INSERT … SELECT FROM unnest, with the
// events' JSON encoded as the store encodes a captured message. No row
// lock, no dedup read, no head update, no caller reply.
type pgBaseline struct {
	committers, callers, maxGroup int
}

// capturePGBaseline is the PostgreSQL baseline of the capture ratio: 3
// committers (the 3 replicas), 1024 callers each, groups of at most 1000.
func capturePGBaseline() pgBaseline {
	return pgBaseline{committers: 3, callers: 1024, maxGroup: 1000}
}

// String describes the configuration for BENCHMARKS.md.
func (bl pgBaseline) String() string {
	return fmt.Sprintf("raw PostgreSQL group insert: %d connections, each a plain group committer fed by %d one-event callers, at most %d events per transaction, one INSERT … SELECT FROM unnest (the store's statement) + COMMIT, synchronous_commit as configured",
		bl.committers, bl.callers, bl.maxGroup)
}

// rate runs the baseline with n events into the events table of the
// schema at dsn (migrated by the store, with one incident) and returns the
// events per second and the mean number of events per transaction. It
// fails when the database cannot be reached or an insert fails.
func (bl pgBaseline) rate(ctx context.Context, dsn string, n int) (float64, float64, error) {
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		return 0, 0, fmt.Errorf("baseline: %w", err)
	}
	inc, _, err := db.CreateIncident(ctx, &incidentbot.Incident{Title: "baseline", Severity: incidentbot.Sev3, Status: incidentbot.StatusInvestigating,
		TeamID: "T0001", Declarer: "U1", OpenedAt: time.Now().UTC(), LastUpdateAt: time.Now().UTC()}, "")
	_ = db.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("baseline: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("baseline: %s", redacted(dsn, err))
	}
	cfg.MaxConns = int32(bl.committers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("baseline: %s", redacted(dsn, err))
	}
	defer pool.Close()

	// The events, encoded beforehand (the store encodes in the caller).
	type pending struct {
		seq       int64
		key, body string
		done      chan error
	}
	bodies := make([]pending, n)
	t0 := time.Now().UTC()
	text := strings.Repeat("x", 200)
	for i := range n {
		ts := fmt.Sprintf("%d.%06d", t0.Unix()+int64(i/1000000), i%1000000)
		ev := incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventMessage, At: t0, Actor: "U0000BOB", TS: ts,
			Text: text, DedupKey: incidentbot.MessageKey(ts)}
		raw, err := json.Marshal(&ev)
		if err != nil {
			return 0, 0, err
		}
		bodies[i] = pending{seq: int64(i + 1), key: ev.DedupKey, body: string(raw), done: make(chan error, 1)}
	}

	var txs atomic.Int64
	queues := make([]chan *pending, bl.committers)
	var cwg sync.WaitGroup
	for c := range queues {
		q := make(chan *pending, bl.callers)
		queues[c] = q
		cwg.Go(func() {
			for first := range q {
				group := []*pending{first}
			drain:
				for len(group) < bl.maxGroup {
					select {
					case p, ok := <-q:
						if !ok {
							break drain
						}
						group = append(group, p)
					default:
						break drain
					}
				}
				ids, seqs := make([]int64, len(group)), make([]int64, len(group))
				keys, bs := make([]string, len(group)), make([]string, len(group))
				for i, p := range group {
					ids[i], seqs[i], keys[i], bs[i] = inc.ID, p.seq, p.key, p.body
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, insertEvents, ids, seqs, keys, bs)
					return err
				})
				txs.Add(1)
				for _, p := range group {
					p.done <- err
				}
			}
		})
	}
	took, firstErr := callAll(n, bl.committers, bl.callers, func(c, i int) error {
		p := &bodies[i]
		queues[c] <- p
		return <-p.done
	})
	for _, q := range queues {
		close(q)
	}
	cwg.Wait()
	if firstErr != nil {
		return 0, 0, fmt.Errorf("baseline: %s", redacted(dsn, firstErr))
	}
	return float64(n) / took.Seconds(), float64(n) / float64(txs.Load()), nil
}

// generatePG fills the schema at dsn, migrated by the store, with
// sz.incidents incidents (sz.openIncidents of them open, with channels in
// the emulator) and sz.events events in all, the same as generate writes
// to bbolt, straight into the tables with COPY: the records encoded as
// the store encodes them, each incident's row with its timeline head
// (event_count, last_ts), the id counter, then ANALYZE (as autovacuum
// would). It fails when the database cannot be written.
func (b *benchRun) generatePG(ctx context.Context, dsn string, sz benchSizes) error {
	start := time.Now()
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		return err
	}
	_ = db.Close()
	per := sz.events / sz.incidents
	// Every incident's timeline is the same series (timelineOf is seeded
	// by its length): its head is found once.
	var lastTS string
	if err := timelineOf(1, per, func(e incidentbot.TimelineEvent) error {
		if (e.Kind == incidentbot.EventMessage || e.Kind == incidentbot.EventFileShared) && e.TS > lastTS {
			lastTS = e.TS
		}
		return nil
	}); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("generate: %s", redacted(dsn, err))
	}
	defer conn.Close(ctx)

	var incRows [][]any
	for i := range sz.incidents {
		id := int64(i + 1)
		open := i >= sz.incidents-sz.openIncidents
		inc := loadIncident(per, open)
		inc.ID = id
		if open {
			inc.ChannelName = fmt.Sprintf("inc-%d-open", id)
			inc.ChannelID = b.emu.CreateChannel(inc.ChannelName, b.emu.BotUserID())
			inc.OpenedAt, inc.LastUpdateAt = time.Now().UTC(), time.Now().UTC()
		}
		body, err := json.Marshal(inc)
		if err != nil {
			return err
		}
		var channel any
		if inc.ChannelID != "" {
			channel = inc.ChannelID
		}
		incRows = append(incRows, []any{id, string(body), channel, !inc.Resolved(), int64(per), lastTS})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"incidents"}, []string{"id", "body", "channel_id", "open", "event_count", "last_ts"},
		pgx.CopyFromRows(incRows)); err != nil {
		return fmt.Errorf("generate: copy incidents: %w", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE counters SET value = $1 WHERE name = 'incident'`, sz.incidents); err != nil {
		return fmt.Errorf("generate: %w", err)
	}

	// The events, encoded while COPY sends them.
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan []any, 4096)
	genErr := make(chan error, 1)
	go func() {
		defer close(events)
		for i := range sz.incidents {
			id := int64(i + 1)
			var seq int64
			err := timelineOf(id, per, func(e incidentbot.TimelineEvent) error {
				seq++
				body, err := json.Marshal(&e)
				if err != nil {
					return err
				}
				var key any
				if e.DedupKey != "" {
					key = e.DedupKey
				}
				select {
				case events <- []any{id, seq, key, string(body)}:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
			if err != nil {
				genErr <- err
				return
			}
		}
	}()
	var row []any
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"incident_id", "seq", "dedup_key", "body"},
		pgx.CopyFromFunc(func() ([]any, error) {
			var ok bool
			if row, ok = <-events; !ok {
				select {
				case err := <-genErr:
					return nil, err
				default:
					return nil, nil
				}
			}
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("generate: copy events: %w", err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("generate: analyze: %w", err)
	}
	var size int64
	if err := conn.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname = current_schema() AND c.relkind = 'r'`).Scan(&size); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	b.logf("  generated %d events, %s of tables and indexes, in %s (COPY)", n, mb(size), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// pgStoreAlone is the store's own ceiling for capture: AppendEvents from
// pools of their own on one schema (one per replica), each fed by callers
// appending one captured message at a time, as the replicas' envelope
// handlers do, with no bot and no Slack. The rate the bot reaches cannot be
// higher: it is what the store's group commit, the incident's row lock,
// the dedup lookups and the numbering leave of the raw insert.
type pgStoreAlone struct {
	replicas, callers int
}

// captureStoreAlone mirrors the bot's capture on PostgreSQL: 3 replicas,
// 1024 envelopes in flight each.
func captureStoreAlone() pgStoreAlone { return pgStoreAlone{replicas: 3, callers: 1024} }

// String describes the configuration for BENCHMARKS.md.
func (sa pgStoreAlone) String() string {
	return fmt.Sprintf("AppendEvents from %d pools on one schema (one per replica), each called by %d goroutines appending one captured message at a time, no bot, no Slack",
		sa.replicas, sa.callers)
}

// rate appends n captured messages to one incident of the schema at dsn
// (migrated by the store) and returns the events per second.
func (sa pgStoreAlone) rate(ctx context.Context, dsn string, n int) (float64, error) {
	dbs := make([]*postgres.DB, sa.replicas)
	for i := range dbs {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return 0, fmt.Errorf("store alone: %w", err)
		}
		defer db.Close()
		dbs[i] = db
	}
	inc, _, err := dbs[0].CreateIncident(ctx, &incidentbot.Incident{Title: "store alone", Severity: incidentbot.Sev3, Status: incidentbot.StatusInvestigating,
		TeamID: "T0001", Declarer: "U1", OpenedAt: time.Now().UTC(), LastUpdateAt: time.Now().UTC()}, "")
	if err != nil {
		return 0, fmt.Errorf("store alone: %w", err)
	}
	evs := make([]incidentbot.TimelineEvent, n)
	t0 := time.Now().UTC()
	text := strings.Repeat("x", 200)
	for i := range evs {
		ts := fmt.Sprintf("%d.%06d", t0.Unix()+int64(i/1000000), i%1000000)
		evs[i] = incidentbot.TimelineEvent{IncidentID: inc.ID, Kind: incidentbot.EventMessage, At: t0, Actor: "U0000BOB", TS: ts,
			Text: text, DedupKey: incidentbot.MessageKey(ts)}
	}
	took, firstErr := callAll(n, len(dbs), sa.callers, func(g, i int) error {
		_, err := dbs[g].AppendEvents(ctx, evs[i])
		return err
	})
	if firstErr != nil {
		return 0, fmt.Errorf("store alone: %w", firstErr)
	}
	return float64(n) / took.Seconds(), nil
}

// callAll makes n calls, call(g, i) for i in 0..n-1, from callers
// goroutines in each of groups groups (g the caller's group), each taking
// the next i when its call returned, and returns how long they took and
// the first error (a caller stops at its error).
func callAll(n, groups, callers int, call func(g, i int) error) (time.Duration, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for g := range groups {
		for range callers {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					if err := call(g, int(i)); err != nil {
						mu.Lock()
						firstErr = cmp.Or(firstErr, err)
						mu.Unlock()
						return
					}
				}
			})
		}
	}
	wg.Wait()
	return time.Since(start), firstErr
}
