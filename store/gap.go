package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// bucketGaps holds the pending backfill gaps (see doc.go). It is created by
// the first RecordGap, not by Open, so that files written before it existed
// still open read-only; a missing bucket reads as no gaps.
var bucketGaps = []byte("gaps")

// RecordGap records that g.Channel of incident g.IncidentID may have missed
// messages between g.From and g.To (g's other fields are ignored; Recorded
// is g.Recorded, or now when zero). The part of [From, To] that a started
// gap of the channel already covers is dropped, since that gap reads it
// anyway; what is left is merged with the channel's gaps that are not
// started and overlap or touch it, or recorded as a new gap (as
// incidentbot.PlanGap decides, the store applying its plan in one
// transaction). It returns the gaps written (new or grown), by From, with
// their IDs and revisions.
//
// It fails with EInvalid when the channel is empty or To is not after From,
// with ENotFound when the incident does not exist, with EUnavailable when
// the database cannot be written, and with ctx's error if ctx is done
// before it starts.
func (db *DB) RecordGap(ctx context.Context, g incidentbot.Gap) ([]incidentbot.Gap, error) {
	op := fmt.Sprintf("store: record a backfill gap of %s", incidentbot.IncidentKey(g.IncidentID))
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if g.Channel == "" || !g.To.After(g.From) {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: fmt.Sprintf("a backfill gap needs a channel and an end after its start (channel %q, %s to %s)", g.Channel, g.From, g.To)}
	}
	if g.Recorded.IsZero() {
		g.Recorded = time.Now()
	}
	var written []incidentbot.Gap
	var userErr error
	err := db.write(op, func(tx *bolt.Tx) error {
		written, userErr = nil, nil
		if openTimeline(tx, g.IncidentID) == nil {
			userErr = notFound(op, g.IncidentID)
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(bucketGaps)
		if err != nil {
			return err
		}
		all, err := readGaps(b)
		if err != nil {
			return err
		}
		plan := incidentbot.PlanGap(all, incidentbot.Gap{IncidentID: g.IncidentID, Channel: g.Channel, From: g.From, To: g.To, Recorded: g.Recorded})
		for _, id := range plan.Delete {
			if err := b.Delete(itob(id)); err != nil {
				return err
			}
		}
		for _, u := range plan.Update {
			if err := putGap(b, &u); err != nil {
				return err
			}
			written = append(written, u)
		}
		for _, n := range plan.Create {
			if n.ID, err = b.NextSequence(); err != nil {
				return err
			}
			if err := putGap(b, &n); err != nil {
				return err
			}
			written = append(written, n)
		}
		sortGaps(written)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if userErr != nil {
		return nil, userErr
	}
	return written, nil
}

// PendingGaps returns the backfill gaps not closed yet, oldest first (by
// ID). It fails with a wrapped error when the file cannot be read or a gap
// cannot be decoded, and with ctx's error if ctx is done.
func (db *DB) PendingGaps(ctx context.Context) ([]incidentbot.Gap, error) {
	op := "store: read the backfill gaps"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	var out []incidentbot.Gap
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGaps)
		if b == nil {
			return nil
		}
		var err error
		out, err = readGaps(b)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// SaveGap stores the progress of pending gap g (everything but its ID,
// incident and channel) and returns it with its new revision. g.Rev must be
// the revision read: a gap written since (grown by RecordGap, saved by
// another worker) fails with EConflict and is left as it is, so that the
// caller reads it again. It fails with ENotFound when the gap is closed or
// never existed, with EUnavailable when the database cannot be written, and
// with ctx's error if ctx is done before it starts.
func (db *DB) SaveGap(ctx context.Context, g incidentbot.Gap) (incidentbot.Gap, error) {
	op := fmt.Sprintf("store: save backfill gap %d", g.ID)
	err := db.changeGap(ctx, op, g, func(b *bolt.Bucket, cur *incidentbot.Gap) error {
		g.IncidentID, g.Channel = cur.IncidentID, cur.Channel
		g.Rev = cur.Rev
		return putGap(b, &g)
	})
	if err != nil {
		return incidentbot.Gap{}, err
	}
	return g, nil
}

// CloseGap removes pending gap g, whose work is done. g.Rev must be the
// revision read; it fails with EConflict, closing nothing, when the gap was
// written since (it grew: there is more to read), with ENotFound when it is
// closed already or never existed, with EUnavailable when the database
// cannot be written, and with ctx's error if ctx is done before it starts.
func (db *DB) CloseGap(ctx context.Context, g incidentbot.Gap) error {
	op := fmt.Sprintf("store: close backfill gap %d", g.ID)
	return db.changeGap(ctx, op, g, func(b *bolt.Bucket, _ *incidentbot.Gap) error {
		return b.Delete(itob(g.ID))
	})
}

// changeGap runs fn on the stored gap g.ID if its revision is g.Rev.
func (db *DB) changeGap(ctx context.Context, op string, g incidentbot.Gap, fn func(b *bolt.Bucket, cur *incidentbot.Gap) error) error {
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	var userErr error
	err := db.write(op, func(tx *bolt.Tx) error {
		userErr = nil
		var raw []byte
		b := tx.Bucket(bucketGaps)
		if b != nil {
			raw = b.Get(itob(g.ID))
		}
		if raw == nil {
			userErr = &incidentbot.Error{Code: incidentbot.ENotFound, Op: op, Message: fmt.Sprintf("backfill gap %d is closed or never existed", g.ID)}
			return nil
		}
		var cur incidentbot.Gap
		if err := json.Unmarshal(raw, &cur); err != nil {
			return fmt.Errorf("decode gap %d: %w", g.ID, err)
		}
		if cur.Rev != g.Rev {
			userErr = &incidentbot.Error{Code: incidentbot.EConflict, Op: op,
				Message: fmt.Sprintf("backfill gap %d changed since it was read (revision %d, read %d)", g.ID, cur.Rev, g.Rev)}
			return nil
		}
		return fn(b, &cur)
	})
	if err != nil {
		return err
	}
	return userErr
}

// putGap stores g with its revision bumped (in g too).
func putGap(b *bolt.Bucket, g *incidentbot.Gap) error {
	g.Rev++
	raw, err := json.Marshal(g)
	if err != nil {
		return &encodeError{err}
	}
	return b.Put(itob(g.ID), raw)
}

// readGaps decodes every gap of the bucket, by ID.
func readGaps(b *bolt.Bucket) ([]incidentbot.Gap, error) {
	var out []incidentbot.Gap
	err := b.ForEach(func(k, v []byte) error {
		var g incidentbot.Gap
		if err := json.Unmarshal(v, &g); err != nil {
			return fmt.Errorf("decode gap %d: %w", btoi(k), err)
		}
		g.ID = btoi(k)
		out = append(out, g)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// sortGaps orders the gaps RecordGap wrote by From: the order of the
// pieces of the recorded gap they hold.
func sortGaps(gs []incidentbot.Gap) {
	sort.Slice(gs, func(i, j int) bool { return gs[i].From.Before(gs[j].From) })
}

// EventsInRange calls fn, in Seq order, with each event of incident id whose
// Slack ts (TS) lies within [from, to] (Slack ts strings, compared as
// numbers): the messages the bot captured in that stretch of the channel
// and what it recorded about them (edits, deletions, marks, pins). The
// backfill compares them with Slack's history. Events without a TS are
// skipped. It fails like Events.
func (db *DB) EventsInRange(ctx context.Context, id int64, from, to string, fn func(*incidentbot.TimelineEvent) error) error {
	return db.Events(ctx, id, func(ev *incidentbot.TimelineEvent) error {
		if ev.TS == "" || tsLess(ev.TS, from) || tsLess(to, ev.TS) {
			return nil
		}
		return fn(ev)
	})
}
