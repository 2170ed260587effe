package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// eventsPerRead is how many events Events decodes per read transaction. It
// reads in chunks so that a slow fn (rendering, an upload) holds no
// transaction open.
const eventsPerRead = 512

// Page fill factors of the timeline buckets; see timeline.fill.
const (
	eventsFill = 0.95
	dedupFill  = 0.8
)

// AppendEvents stores captured events, each with IncidentID set, in one
// durable transaction shared with concurrent writers, and returns how many
// it stored. An event whose (IncidentID, DedupKey) is already stored, or
// appears earlier in the same call, is skipped; an empty DedupKey is never
// skipped. Seq is assigned by the store.
//
// It fails with ENotFound, storing nothing, when an event names an incident
// that does not exist; with EUnavailable when the database cannot be
// written; and with ctx's error if ctx is done before it starts.
func (db *DB) AppendEvents(ctx context.Context, events ...incidentbot.TimelineEvent) (stored int, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	op := fmt.Sprintf("store: append events to %s", incidentbot.IncidentKey(events[0].IncidentID))
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	encoded := make([]encodedEvent, len(events))
	for i := range events {
		if encoded[i], err = encodeEvent(&events[i]); err != nil {
			return 0, wrap(op, err)
		}
	}
	var userErr error
	err = db.write(op, func(tx *bolt.Tx) error {
		stored, userErr = 0, nil
		// Look every incident up before writing anything: a missing one
		// must leave the shared transaction untouched.
		var tls []*timeline
		for i := range events {
			if findTimeline(tls, events[i].IncidentID) != nil {
				continue
			}
			tl := openTimeline(tx, events[i].IncidentID)
			if tl == nil {
				userErr = notFound(op, events[i].IncidentID)
				return nil
			}
			tls = append(tls, tl)
		}
		for i := range encoded {
			ok, err := findTimeline(tls, events[i].IncidentID).appendEncoded(&encoded[i])
			if err != nil {
				return err
			}
			if ok {
				stored++
			}
		}
		for _, tl := range tls {
			if err := tl.finish(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if userErr != nil {
		return 0, userErr
	}
	return stored, nil
}

// Events calls fn with each event of incident id in Seq order, each a fresh
// copy. It sees the events committed when it starts. fn runs outside any
// transaction, so it may be slow or write to the store; its error stops the
// iteration and is returned unchanged.
//
// It fails with ENotFound when the incident does not exist, with a wrapped
// error when the file cannot be read or an event cannot be decoded, and
// with ctx's error if ctx is done before it starts or between chunks.
func (db *DB) Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error {
	op := fmt.Sprintf("store: read the timeline of %s", incidentbot.IncidentKey(id))
	var after, last uint64
	first := true
	for {
		if err := ctxErr(ctx, op); err != nil {
			return err
		}
		chunk := make([]incidentbot.TimelineEvent, 0, eventsPerRead)
		err := db.view(op, func(tx *bolt.Tx) error {
			tl := openTimeline(tx, id)
			if tl == nil {
				return notFound(op, id)
			}
			if first {
				last, first = tl.events.Sequence(), false
			}
			c := tl.events.Cursor()
			for k, v := c.Seek(itob(after + 1)); k != nil && len(chunk) < eventsPerRead; k, v = c.Next() {
				seq := btoi(k)
				if seq > last {
					break
				}
				chunk = append(chunk, incidentbot.TimelineEvent{})
				ev := &chunk[len(chunk)-1]
				if err := json.Unmarshal(v, ev); err != nil {
					return fmt.Errorf("%s: decode event %d: %w", op, seq, err)
				}
				ev.Seq = seq
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range chunk {
			if err := fn(&chunk[i]); err != nil {
				return err
			}
		}
		if len(chunk) < eventsPerRead {
			return nil
		}
		after = chunk[len(chunk)-1].Seq
	}
}

// EventCount returns how many events incident id has. It reads one bucket
// header, not the events. It fails with ENotFound when the incident does
// not exist, and with ctx's error if ctx is done.
func (db *DB) EventCount(ctx context.Context, id int64) (int, error) {
	op := fmt.Sprintf("store: count the events of %s", incidentbot.IncidentKey(id))
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	var n int
	err := db.view(op, func(tx *bolt.Tx) error {
		tl := openTimeline(tx, id)
		if tl == nil {
			return notFound(op, id)
		}
		n = int(tl.events.Sequence())
		return nil
	})
	return n, err
}

// LastEventTS returns the greatest Slack ts among the incident's stored
// message events (kinds message and file_shared: new messages, thread
// replies included), or "" if there is none; the bot backfills missed
// messages from there. It reads one key. It fails with ENotFound when the
// incident does not exist, and with ctx's error if ctx is done.
func (db *DB) LastEventTS(ctx context.Context, id int64) (string, error) {
	op := fmt.Sprintf("store: read the last message of %s", incidentbot.IncidentKey(id))
	if err := ctxErr(ctx, op); err != nil {
		return "", err
	}
	var ts string
	err := db.view(op, func(tx *bolt.Tx) error {
		tl := openTimeline(tx, id)
		if tl == nil {
			return notFound(op, id)
		}
		ts = string(tl.root.Get(keyLastTS))
		return nil
	})
	return ts, err
}

// timeline is the buckets of one incident's timeline within a transaction.
type timeline struct {
	id      int64
	root    *bolt.Bucket
	events  *bolt.Bucket
	dedup   *bolt.Bucket
	applied *bolt.Bucket
	// lastTS is the greatest message ts, read from the root bucket when
	// first needed; tsLoaded says it was, tsDirty that finish must store it.
	lastTS   string
	tsLoaded bool
	tsDirty  bool
}

// openTimeline returns incident id's timeline, or nil if there is none.
func openTimeline(tx *bolt.Tx, id int64) *timeline {
	if id <= 0 {
		return nil
	}
	root := tx.Bucket(bucketTimeline).Bucket(itob(uint64(id)))
	if root == nil {
		return nil
	}
	tl := &timeline{
		id:      id,
		root:    root,
		events:  root.Bucket(bucketEvents),
		dedup:   root.Bucket(bucketDedup),
		applied: root.Bucket(bucketApplied),
	}
	tl.fill()
	return tl
}

// fill sets how full bbolt packs the pages it splits, for this
// transaction. Events are only ever appended, with increasing keys, so
// their pages can be packed full instead of half (bbolt's default, which
// suits random inserts); dedup keys made from Slack timestamps arrive
// nearly in order too. Fuller pages mean fewer pages written per commit.
func (tl *timeline) fill() {
	tl.events.FillPercent = eventsFill
	tl.dedup.FillPercent = dedupFill
}

// createTimeline creates the timeline buckets of a new incident.
func createTimeline(tx *bolt.Tx, id int64) (*timeline, error) {
	root, err := tx.Bucket(bucketTimeline).CreateBucket(itob(uint64(id)))
	if err != nil {
		return nil, err
	}
	tl := &timeline{id: id, root: root}
	for _, b := range []struct {
		name []byte
		dst  **bolt.Bucket
	}{{bucketEvents, &tl.events}, {bucketDedup, &tl.dedup}, {bucketApplied, &tl.applied}} {
		if *b.dst, err = root.CreateBucket(b.name); err != nil {
			return nil, err
		}
	}
	tl.fill()
	return tl, nil
}

// findTimeline returns the timeline of incident id among tls, or nil.
func findTimeline(tls []*timeline, id int64) *timeline {
	for _, tl := range tls {
		if tl.id == id {
			return tl
		}
	}
	return nil
}

// append stores ev (its IncidentID already set) under the next sequence
// number unless its DedupKey is already stored; it reports whether it
// stored it. Its errors are storage failures.
func (tl *timeline) append(ev *incidentbot.TimelineEvent) (bool, error) {
	enc, err := encodeEvent(ev)
	if err != nil {
		return false, err
	}
	return tl.appendEncoded(&enc)
}

// appendEncoded is append for an event encoded beforehand.
func (tl *timeline) appendEncoded(enc *encodedEvent) (bool, error) {
	ev := enc.ev
	var dk []byte
	if ev.DedupKey != "" {
		dk = []byte(ev.DedupKey)
		if tl.dedup.Get(dk) != nil {
			return false, nil
		}
	}
	seq, err := tl.events.NextSequence()
	if err != nil {
		return false, err
	}
	key := itob(seq)
	if err := tl.events.Put(key, enc.withSeq(seq)); err != nil {
		return false, err
	}
	if dk != nil {
		if err := tl.dedup.Put(dk, key); err != nil {
			return false, err
		}
	}
	if (ev.Kind == incidentbot.EventMessage || ev.Kind == incidentbot.EventFileShared) && ev.TS != "" {
		if !tl.tsLoaded {
			tl.lastTS, tl.tsLoaded = string(tl.root.Get(keyLastTS)), true
		}
		if tsLess(tl.lastTS, ev.TS) {
			tl.lastTS, tl.tsDirty = ev.TS, true
		}
	}
	return true, nil
}

// encodedEvent is an event encoded to JSON with Seq 0, split where the
// sequence number goes. AppendEvents encodes before its transaction, which
// every writer waits for, and the transaction only splices the number in.
type encodedEvent struct {
	ev         *incidentbot.TimelineEvent
	head, tail []byte // the encoding is head + decimal Seq + tail
}

// seqField is how encoding/json writes a zero Seq. It comes right after
// incident_id, a number, and cannot occur inside a JSON string, whose
// quotes are escaped.
var seqField = []byte(`,"seq":0`)

// encodeEvent encodes ev (ignoring its Seq) for appendEncoded.
func encodeEvent(ev *incidentbot.TimelineEvent) (encodedEvent, error) {
	c := *ev
	c.Seq = 0
	raw, err := json.Marshal(&c)
	if err != nil {
		return encodedEvent{}, &encodeError{err}
	}
	i := bytes.Index(raw, seqField)
	if i < 0 {
		return encodedEvent{}, &encodeError{fmt.Errorf("no seq field in %.40q", raw)}
	}
	n := i + len(seqField) - 1 // the offset of the 0
	return encodedEvent{ev: ev, head: raw[:n], tail: raw[n+1:]}, nil
}

// withSeq returns the encoding with Seq seq, in a new slice (bbolt keeps
// values until the transaction ends).
func (e *encodedEvent) withSeq(seq uint64) []byte {
	b := make([]byte, 0, len(e.head)+20+len(e.tail))
	b = append(b, e.head...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, e.tail...)
}

// finish stores what append gathered for the whole transaction.
func (tl *timeline) finish() error {
	if !tl.tsDirty {
		return nil
	}
	if err := tl.root.Put(keyLastTS, []byte(tl.lastTS)); err != nil {
		return err
	}
	tl.tsDirty = false
	return nil
}

// tsLess is incidentbot.TSLess.
var tsLess = incidentbot.TSLess
