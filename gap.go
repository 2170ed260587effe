package incidentbot

import "time"

// Gap is a stretch of an incident channel's history that the bot may have
// missed: it was disconnected (or not running) between From and To. The
// backfill reads that stretch back from Slack and reconciles the timeline
// with it — new messages and replies, edits, deletions, :pushpin: marks,
// files — then closes the gap. Gaps are stored so that the work survives
// reconnections and restarts; the store merges overlapping gaps of a
// channel that are not started yet, so a burst of reconnections is read
// once.
//
// The history of [From, To] is read newest first, a page at a time; Upper is
// how far down that reading got: everything in [Upper, To] is reconciled.
// Threads lists the threads found meanwhile whose replies are still to be
// read.
type Gap struct {
	// ID is assigned by the store.
	ID         uint64    `json:"id"`
	IncidentID int64     `json:"incident_id"`
	Channel    string    `json:"channel"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	// Recorded is when the gap was first recorded (the oldest of the merged
	// gaps): how long the backfill lags.
	Recorded time.Time `json:"recorded"`

	// Upper is the Slack ts of the oldest message of the history read so
	// far; "" means nothing is read yet (the gap is not started).
	Upper string `json:"upper,omitempty"`
	// HistoryDone says the whole history of [From, To] is reconciled.
	HistoryDone bool `json:"history_done,omitempty"`
	// Threads are the threads still to read, the first one being read.
	Threads []GapThread `json:"threads,omitempty"`
	// Stored counts the events the backfill stored for the gap so far.
	Stored int `json:"stored,omitempty"`
	// Failures counts the failed attempts in a row, NextTry is when to try
	// again after the last one (zero: now).
	Failures int       `json:"failures,omitempty"`
	NextTry  time.Time `json:"next_try,omitzero"`

	// Rev is the store's revision of the gap, bumped by every write; a
	// write based on an older revision fails with EConflict.
	Rev uint64 `json:"rev"`
}

// GapThread is a thread whose replies a gap still has to read.
type GapThread struct {
	// Parent is the ts of the thread's parent message.
	Parent string `json:"parent"`
	// After is the ts of the last reply reconciled; "" means none yet.
	After string `json:"after,omitempty"`
}

// Started reports whether some of the gap's work is done (and saved), so
// that it may no longer grow by merging.
func (g *Gap) Started() bool {
	return g.Upper != "" || g.HistoryDone || len(g.Threads) > 0 || g.Stored > 0
}

// GapPlan is what recording a gap changes among the stored gaps, as
// PlanGap decides it; a store applies it in one transaction.
type GapPlan struct {
	// Delete are the IDs of stored gaps folded into another one.
	Delete []uint64
	// Update are stored gaps that grew: each is the stored gap with its
	// new From, To and Recorded (its ID and Rev those read; the store bumps
	// the Rev). A gap the new one lies inside is here too, unchanged but
	// for Recorded, so that a worker reading it sees a new revision.
	Update []Gap
	// Create are the new gaps, by From, with ID and Rev zero: the store
	// assigns them.
	Create []Gap
}

// PlanGap decides how recording g (its IncidentID, Channel, From, To and
// Recorded; the rest is ignored) changes existing, the stored gaps (those
// of other channels are ignored): the part of [From, To] that a started
// gap of the channel covers is dropped, since that gap reads it anyway;
// each piece left grows the first gap of the channel that is not started
// and that it overlaps or touches, folding in the others that the grown
// gap then touches (the earliest Recorded is kept), or becomes a new gap.
// Times are made UTC. PlanGap does not check g (an empty channel, To not
// after From) and does not change existing.
func PlanGap(existing []Gap, g Gap) GapPlan {
	type cand struct {
		g                  Gap
		isNew, grown, gone bool
	}
	var cands []*cand
	for _, e := range existing {
		if e.IncidentID == g.IncidentID && e.Channel == g.Channel {
			cands = append(cands, &cand{g: e})
		}
	}
	rec := g.Recorded.UTC()
	pieces := []gapSpan{{g.From.UTC(), g.To.UTC()}}
	for _, c := range cands {
		if c.g.Started() {
			pieces = subtractSpan(pieces, gapSpan{c.g.From, c.g.To})
		}
	}
	for _, p := range pieces {
		// Grow the first unstarted gap that p touches; fold into it the
		// other unstarted gaps the grown one now touches.
		var into *cand
		for changed := true; changed; {
			changed = false
			for _, c := range cands {
				if c.gone || c == into || c.g.Started() || !p.touches(gapSpan{c.g.From, c.g.To}) {
					continue
				}
				p, changed = p.union(gapSpan{c.g.From, c.g.To}), true
				if into == nil {
					into = c
					continue
				}
				into.g.Recorded = earliest(into.g.Recorded, c.g.Recorded)
				c.gone = true
			}
		}
		if into == nil {
			cands = append(cands, &cand{isNew: true, g: Gap{IncidentID: g.IncidentID, Channel: g.Channel, From: p.from, To: p.to, Recorded: rec}})
			continue
		}
		u := p.union(gapSpan{into.g.From, into.g.To})
		into.g.From, into.g.To = u.from, u.to
		into.g.Recorded = earliest(into.g.Recorded, rec)
		into.grown = true
	}
	var plan GapPlan
	for _, c := range cands {
		switch {
		case c.gone && !c.isNew:
			plan.Delete = append(plan.Delete, c.g.ID)
		case c.gone:
		case c.isNew:
			plan.Create = append(plan.Create, c.g)
		case c.grown:
			plan.Update = append(plan.Update, c.g)
		}
	}
	return plan
}

// gapSpan is a time range [from, to].
type gapSpan struct{ from, to time.Time }

// touches reports whether s and o overlap or meet.
func (s gapSpan) touches(o gapSpan) bool { return !s.from.After(o.to) && !o.from.After(s.to) }

// union is the smallest span holding s and o.
func (s gapSpan) union(o gapSpan) gapSpan {
	return gapSpan{earliest(s.from, o.from), latest(s.to, o.to)}
}

// subtractSpan removes cut from each of spans, keeping what is left longer
// than nothing, in order.
func subtractSpan(spans []gapSpan, cut gapSpan) []gapSpan {
	var out []gapSpan
	for _, s := range spans {
		if !s.touches(cut) {
			out = append(out, s)
			continue
		}
		if s.from.Before(cut.from) {
			out = append(out, gapSpan{s.from, cut.from})
		}
		if s.to.After(cut.to) {
			out = append(out, gapSpan{cut.to, s.to})
		}
	}
	return out
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
