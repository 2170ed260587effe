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
