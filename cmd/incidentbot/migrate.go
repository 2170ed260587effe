package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/store/postgres"
)

// migrate copies the bbolt database --from into the PostgreSQL database
// --to, one transaction per incident (postgres.DB.Import: its own id, its
// timeline with the same Seq and dedup keys, its pending gaps), then the
// users, and checks by reading back: each incident's events in PostgreSQL
// must be the file's. Run again, it copies only what is missing. It prints
// a row per incident and the totals, and fails when an incident conflicts
// or any count or event differs. The URL's password is never printed.
func (m *Main) migrate(ctx context.Context) error {
	from, to := m.opts.from, m.opts.to
	if from == "" || to == "" {
		return usageError{fmt.Errorf("migrate needs --from FILE and --to URL: incidentbot %s", m.sub.usage)}
	}
	if !strings.HasPrefix(to, "postgres://") && !strings.HasPrefix(to, "postgresql://") {
		return usageError{fmt.Errorf("--to %s: give the PostgreSQL database as a postgres:// or postgresql:// URL", postgres.Redact(to))}
	}
	src, err := store.Open(from, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, to, postgres.Options{}) // its errors hide the password
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dst.Close()
	fmt.Fprintf(m.Stdout, "migrating %s to %s\n", from, dst.URL())
	s, err := migrateAll(ctx, src, dst, m.Stdout)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(s.bad) > 0 {
		return fmt.Errorf("migrate: %d incident(s) differ between %s and PostgreSQL (%s); see above", len(s.bad), from, strings.Join(s.bad, ", "))
	}
	if s.usersBad > 0 {
		return fmt.Errorf("migrate: %d user(s) differ between %s and PostgreSQL", s.usersBad, from)
	}
	return nil
}

// migrateStats are migrate's totals.
type migrateStats struct {
	incidents                    int
	outcomes                     map[postgres.ImportOutcome]int
	conflicts                    int
	fileEvents, pgEvents, copied int
	gaps, gapsCopied             int
	usersBad                     int
	bad                          []string // incidents that conflict or differ
}

// migrateAll copies and checks every incident, then the users, printing a
// row per incident and the totals to out. It returns an error only when it
// cannot go on (a database unreachable, a record unreadable); conflicts and
// differences are counted in the stats.
func migrateAll(ctx context.Context, src *store.DB, dst *postgres.DB, out io.Writer) (*migrateStats, error) {
	s := &migrateStats{outcomes: map[postgres.ImportOutcome]int{}}
	incs, err := src.Incidents(ctx, false)
	if err != nil {
		return nil, err
	}
	pending, err := src.PendingGaps(ctx)
	if err != nil {
		return nil, err
	}
	gaps := map[int64][]incidentbot.Gap{}
	for _, g := range pending {
		gaps[g.IncidentID] = append(gaps[g.IncidentID], g)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tRESULT\tEVENTS IN FILE\tIN POSTGRESQL\tCHECK")
	for _, inc := range incs {
		var evs []incidentbot.TimelineEvent
		if err := src.Events(ctx, inc.ID, func(e *incidentbot.TimelineEvent) error { evs = append(evs, *e); return nil }); err != nil {
			return nil, err
		}
		s.incidents++
		s.fileEvents += len(evs)
		s.gaps += len(gaps[inc.ID])
		result, check := "", "ok"
		res, err := dst.Import(ctx, inc, evs, gaps[inc.ID])
		switch {
		case incidentbot.ErrorCode(err) == incidentbot.EConflict:
			s.conflicts++
			result, check = "CONFLICT", incidentbot.ErrorMessage(err)
		case err != nil:
			tw.Flush()
			return nil, err
		default:
			s.outcomes[res.Outcome]++
			s.copied += res.Added
			s.gapsCopied += res.Gaps
			result = res.Outcome.String()
		}
		// The check: read the timeline back and compare, event by event.
		var got []incidentbot.TimelineEvent
		err = dst.Events(ctx, inc.ID, func(e *incidentbot.TimelineEvent) error { got = append(got, *e); return nil })
		if err != nil && incidentbot.ErrorCode(err) != incidentbot.ENotFound {
			tw.Flush()
			return nil, err
		}
		s.pgEvents += len(got)
		if d := timelineDiff(evs, got); d != "" && check == "ok" {
			check = d
		}
		if check != "ok" {
			s.bad = append(s.bad, inc.Key())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", inc.Key(), result, len(evs), len(got), check)
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}

	users, err := src.Users(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]incidentbot.User, 0, len(users))
	for _, u := range users {
		list = append(list, u)
	}
	if err := dst.PutUsers(ctx, list...); err != nil {
		return nil, err
	}
	back, err := dst.Users(ctx)
	if err != nil {
		return nil, err
	}
	for id, u := range users {
		if back[id] != u {
			s.usersBad++
		}
	}
	check := "ok"
	if s.usersBad > 0 {
		check = fmt.Sprintf("%d missing or different in PostgreSQL", s.usersBad)
	}
	fmt.Fprintf(out, "users: %d in the file, %d of them in PostgreSQL: %s\n", len(users), len(users)-s.usersBad, check)
	fmt.Fprintf(out, "backfill gaps: %d pending in the file, %d copied\n", s.gaps, s.gapsCopied)

	next, err := dst.IncidentCounter(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "total: %d incidents (%d copied, %d completed, %d unchanged, %d conflicts); events: %d in the file, %d in PostgreSQL, %d copied now; the next new incident is %s\n",
		s.incidents, s.outcomes[postgres.ImportCreated], s.outcomes[postgres.ImportCompleted], s.outcomes[postgres.ImportUnchanged], s.conflicts,
		s.fileEvents, s.pgEvents, s.copied, incidentbot.IncidentKey(next+1))
	return s, nil
}

// timelineDiff compares a timeline read from the file with the one read
// back from PostgreSQL and says how they differ, or "".
func timelineDiff(want, got []incidentbot.TimelineEvent) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d events in the file, %d in PostgreSQL", len(want), len(got))
	}
	for i := range want {
		w, errW := json.Marshal(&want[i])
		g, errG := json.Marshal(&got[i])
		if err := errors.Join(errW, errG); err != nil {
			return fmt.Sprintf("event %d: %v", want[i].Seq, err)
		}
		if string(w) != string(g) {
			return fmt.Sprintf("event %d differs in PostgreSQL", want[i].Seq)
		}
	}
	return ""
}
