package slackemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/incidentbot/incidentbot/internal/cork"
)

// delivery is one thing Slack sends over Socket Mode: an event, a slash
// command or an interaction. Redeliveries of an event are further envelopes
// of the same delivery.
type delivery struct {
	kind      string // "events_api", "slash_commands", "interactive"
	payload   json.RawMessage
	accepts   bool // accepts_response_payload
	eventID   string
	eventType string // inner event type (and subtype) for events
	channel   string
	envelopes []*envelope
	acked     bool
	ackedEnv  *envelope
	ack       json.RawMessage // the first acknowledgement's payload
	ackedCh   chan struct{}   // closed on the first acknowledgement
	onAck     func(e *envelope, payload json.RawMessage)
}

// envelope is one delivery attempt.
type envelope struct {
	id      string
	d       *delivery
	attempt int
	reason  string
	queued  time.Time
	sent    time.Time
	acked   time.Time
	conn    *wsConn
	timer   *time.Timer
}

// wsConn is one Socket Mode connection.
type wsConn struct {
	id       int
	ws       *websocket.Conn
	tcp      *cork.Conn // under ws
	control  [][]byte   // hello and disconnect messages, written before envelopes
	silent   bool       // no pings, no envelopes (a stale socket)
	draining bool       // told to disconnect: no new envelopes
	closed   bool
	given    envQueue // envelopes given to this socket, not yet written
	done     chan struct{}
}

// newDeliveryLocked queues the first envelope of a delivery.
func (s *Server) newDeliveryLocked(d *delivery) *envelope {
	if d.eventID != "" && s.loseEvents {
		s.lost++ // never delivered, so not a delivery at all
		return nil
	}
	d.ackedCh = make(chan struct{})
	s.deliveries = append(s.deliveries, d)
	if d.eventID != "" {
		s.events[d.eventID] = d
	}
	return s.enqueueLocked(d, 0, "")
}

// SetLoseEvents(true) makes Slack lose the events that happen from now on:
// they are in the channels' history but never delivered, as happens to apps
// whose Socket Mode connection went silent after a reconnect, or after
// Slack gave up redelivering. SetLoseEvents(false) delivers new events again.
func (s *Server) SetLoseEvents(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseEvents = on
}

// LostEvents returns how many events SetLoseEvents made Slack lose.
func (s *Server) LostEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// enqueueLocked queues a new envelope of d and wakes the socket writers.
func (s *Server) enqueueLocked(d *delivery, attempt int, reason string) *envelope {
	e := &envelope{id: newUUID(), d: d, attempt: attempt, reason: reason, queued: time.Now()}
	d.envelopes = append(d.envelopes, e)
	s.envelopes[e.id] = e
	s.queue.push(e)
	s.cond.Broadcast()
	return e
}

// wire is the envelope as Slack writes it to the socket. It is assembled
// by hand so the payload is not re-encoded on every attempt.
func (e *envelope) wire() []byte {
	b := make([]byte, 0, len(e.d.payload)+200)
	b = append(b, `{"envelope_id":"`...)
	b = append(b, e.id...)
	b = append(b, `","payload":`...)
	b = append(b, e.d.payload...)
	b = append(b, `,"type":"`...)
	b = append(b, e.d.kind...)
	b = append(b, `","accepts_response_payload":`...)
	b = strconv.AppendBool(b, e.d.accepts)
	if e.d.kind == "events_api" {
		b = append(b, `,"retry_attempt":`...)
		b = strconv.AppendInt(b, int64(e.attempt), 10)
		b = append(b, `,"retry_reason":`...)
		b = strconv.AppendQuote(b, e.reason)
	}
	return append(b, '}')
}

// apiConnectionsOpen answers apps.connections.open with a single-use
// websocket URL.
func (s *Server) apiConnectionsOpen(*apiRequest) (obj, *apiError) {
	ticket := newUUID()
	s.tickets[ticket] = true
	u := "ws" + s.base[len("http"):] + "/link/?ticket=" + ticket + "&app_id=" + randHex(32)
	return obj{"url": u}, nil
}

// serveLink upgrades a ticketed request to a Socket Mode connection, sends
// hello and serves it until it closes.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok := s.tickets[ticket]
	delete(s.tickets, ticket)
	closed := s.closed.Load()
	if ok && !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	defer s.wg.Done()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.logf("socket upgrade: %v", err)
		return
	}

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = ws.NetConn().Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.refusedConns++
		s.mu.Unlock()
		s.refuseSocket(ws)
		return
	}
	s.connSeq++
	tcp, ok := ws.NetConn().(*cork.Conn)
	if !ok {
		tcp = cork.New(ws.NetConn()) // not from the server's listener: corking keeps nothing back
	}
	c := &wsConn{id: s.connSeq, ws: ws, tcp: tcp, done: make(chan struct{})}
	s.conns[c] = struct{}{}
	hello, _ := json.Marshal(obj{
		"type":            "hello",
		"num_connections": len(s.conns),
		"debug_info": obj{
			"host":                        fmt.Sprintf("applink-emulator-%d", c.id),
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": obj{"app_id": s.cfg.AppID},
	})
	c.control = append(c.control, hello)
	s.notifyConnsLocked()
	s.wg.Add(2)
	s.mu.Unlock()
	s.logf("socket %d connected", c.id)

	go s.writeLoop(c)
	go s.pingLoop(c)
	s.readLoop(c)
}

// refuseSocket answers a connection over Config.MaxConnections as Slack
// does: {"type":"disconnect","reason":"too_many_websockets"}, then a close
// frame, then the connection is closed.
func (s *Server) refuseSocket(ws *websocket.Conn) {
	msg, _ := json.Marshal(obj{
		"type":       "disconnect",
		"reason":     "too_many_websockets",
		"debug_info": obj{"host": "applink-emulator"},
	})
	deadline := time.Now().Add(5 * time.Second)
	_ = ws.SetWriteDeadline(deadline)
	_ = ws.WriteMessage(websocket.TextMessage, msg)
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "too_many_websockets"), deadline)
	_ = ws.NetConn().Close()
	s.logf("socket refused: too_many_websockets (%d open)", s.Connections())
}

// RefusedConnections returns how many websocket connections were refused
// with too_many_websockets because Config.MaxConnections were open.
func (s *Server) RefusedConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusedConns
}

// notifyConnsLocked wakes WaitConnected and the socket writers.
func (s *Server) notifyConnsLocked() {
	close(s.connChanged)
	s.connChanged = make(chan struct{})
	s.cond.Broadcast()
}

// writeBatch is the most envelopes writeLoop writes in one go.
const writeBatch = 128

// writeLoop is the only writer of data frames on c: control messages first,
// then envelopes from the shared queue (each envelope goes to one socket).
// It takes what is ready, up to writeBatch envelopes, and writes the
// frames corked into one write to the socket, as a busy server does.
func (s *Server) writeLoop(c *wsConn) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		var msgs [][]byte
		var envs []*envelope
		for len(msgs) == 0 {
			if c.closed || s.closed.Load() {
				s.mu.Unlock()
				return
			}
			msgs, c.control = append(msgs, c.control...), nil
			for len(envs) < writeBatch {
				env := s.nextForLocked(c)
				if env == nil {
					break
				}
				msgs = append(msgs, env.wire())
				// Set before writing: the ack may be read before this
				// goroutine gets the lock back.
				env.sent, env.conn = time.Now(), c
				envs = append(envs, env)
			}
			if len(msgs) == 0 {
				s.cond.Wait()
			}
		}
		s.mu.Unlock()

		_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.tcp.Cork()
		var err error
		for _, m := range msgs {
			if err = c.ws.WriteMessage(websocket.TextMessage, m); err != nil {
				break
			}
		}
		if ferr := c.tcp.Flush(); err == nil {
			err = ferr
		}

		s.mu.Lock()
		if err != nil {
			var back []*envelope
			for _, env := range envs {
				if env.acked.IsZero() {
					env.sent, env.conn = time.Time{}, nil
					back = append(back, env)
				}
			}
			s.queue.pushFront(back...)
			s.mu.Unlock()
			s.closeConn(c)
			return
		}
		for _, env := range envs {
			s.sentLocked(env, c)
		}
		s.mu.Unlock()
	}
}

// envQueue is a FIFO of envelopes: the shared queue of those not yet
// given to a socket, and each socket's own (wsConn.given).
type envQueue struct {
	items []*envelope // items[head:]
	head  int
}

func (q *envQueue) len() int { return len(q.items) - q.head }

func (q *envQueue) push(e *envelope) { q.items = append(q.items, e) }

// pop removes and returns the first envelope, nil if there is none.
func (q *envQueue) pop() *envelope {
	if q.len() == 0 {
		return nil
	}
	e := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return e
}

// pushFront puts envelopes back at the head, in their order.
func (q *envQueue) pushFront(es ...*envelope) {
	if len(es) <= q.head {
		q.head -= len(es)
		copy(q.items[q.head:], es)
		return
	}
	q.items = append(slices.Clone(es), q.items[q.head:]...)
	q.head = 0
}

// drain removes and returns every envelope, in order.
func (q *envQueue) drain() []*envelope {
	es := slices.Clone(q.items[q.head:])
	q.items, q.head = q.items[:0], 0
	return es
}

// nextForLocked removes and returns the next envelope that c is to write,
// or nil. Each envelope goes to one live socket (not silent, not draining,
// not closed) chosen at random when a writer takes it from the shared
// queue, as Slack spreads envelopes over an app's connections; one chosen
// for another socket waits in that socket's own queue, and goes back to
// the head of the shared queue if that socket stops being live before
// writing it. Each step is O(1) in the queue's length (a burst queues
// tens of thousands).
func (s *Server) nextForLocked(c *wsConn) *envelope {
	var live []*wsConn
	for x := range s.conns {
		if !s.liveLocked(x) {
			if x.given.len() > 0 {
				s.queue.pushFront(x.given.drain()...)
			}
			continue
		}
		live = append(live, x)
	}
	if !s.liveLocked(c) {
		return nil
	}
	if e := c.given.pop(); e != nil {
		return e
	}
	for s.queue.len() > 0 {
		e := s.queue.pop()
		t := live[rand.IntN(len(live))]
		if t == c {
			return e
		}
		t.given.push(e)
		s.cond.Broadcast()
	}
	return nil
}

// liveLocked reports whether a socket may be given envelopes.
func (s *Server) liveLocked(c *wsConn) bool {
	_, open := s.conns[c]
	return open && !c.closed && !c.silent && !c.draining
}

// sentLocked logs a written envelope and arms its redelivery timer.
func (s *Server) sentLocked(e *envelope, c *wsConn) {
	s.logf("socket %d: sent %s envelope %s (attempt %d)", c.id, e.d.kind, e.id, e.attempt)
	if e.d.kind == "events_api" && s.cfg.AckTimeout > 0 && e.acked.IsZero() {
		e.timer = time.AfterFunc(s.cfg.AckTimeout, func() { s.ackTimedOut(e) })
	}
}

// ackTimedOut redelivers an event whose envelope was not acknowledged in
// time, as Slack does: same payload and event_id, new envelope_id,
// retry_attempt+1, retry_reason "timeout", at most maxRetries times.
func (s *Server) ackTimedOut(e *envelope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := e.d
	if s.closed.Load() || !e.acked.IsZero() || d.acked || d.envelopes[len(d.envelopes)-1] != e {
		return
	}
	if e.attempt >= maxRetries {
		s.logf("event %s: not acknowledged after %d retries; giving up", d.eventID, maxRetries)
		return
	}
	s.enqueueLocked(d, e.attempt+1, "timeout")
}

// pingLoop sends a WebSocket PING every PingInterval (one right after
// connecting) while the socket is not silent.
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for n := 0; ; n++ {
		s.mu.Lock()
		silent := c.silent
		s.mu.Unlock()
		if !silent {
			err := c.ws.WriteControl(websocket.PingMessage, fmt.Appendf(nil, "ping-%d", n), time.Now().Add(5*time.Second))
			if err != nil {
				s.closeConn(c)
				return
			}
		}
		select {
		case <-t.C:
		case <-c.done:
			return
		case <-s.done:
			return
		}
	}
}

// readLoop reads acknowledgements until the socket fails.
func (s *Server) readLoop(c *wsConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			break
		}
		// The moment the acknowledgement arrived, before this server's
		// own work (decoding it, waiting for its lock) adds to it.
		at := time.Now()
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.logf("socket %d: ignoring a message that is not an acknowledgement", c.id)
			continue
		}
		s.handleAck(c, ack.EnvelopeID, ack.Payload, at)
	}
	s.closeConn(c)
}

// handleAck records an acknowledgement, read at at, and, for the first one
// of a delivery, hands its payload to the delivery's handler.
func (s *Server) handleAck(c *wsConn, id string, payload json.RawMessage, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envelopes[id]
	if !ok {
		s.logf("socket %d: acknowledgement for unknown envelope %s", c.id, id)
		return
	}
	if !e.acked.IsZero() {
		return
	}
	e.acked = at
	if e.timer != nil {
		e.timer.Stop()
	}
	s.ackOrder = append(s.ackOrder, id)
	s.logf("socket %d: acknowledged %s envelope %s", c.id, e.d.kind, id)
	d := e.d
	if d.acked {
		return
	}
	d.acked, d.ackedEnv = true, e
	if p := trimPayload(payload); p != nil {
		d.ack = slices.Clone(p)
	}
	if d.onAck != nil {
		d.onAck(e, d.ack)
	}
	close(d.ackedCh)
}

// trimPayload returns nil for an absent, null or empty payload.
func trimPayload(p json.RawMessage) json.RawMessage {
	switch string(p) {
	case "", "null", "{}", `""`:
		return nil
	}
	return p
}

// closeConn closes a socket abruptly (no close frame) and forgets it.
func (s *Server) closeConn(c *wsConn) {
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	s.queue.pushFront(c.given.drain()...)
	delete(s.conns, c)
	s.notifyConnsLocked()
	s.mu.Unlock()
	_ = c.ws.NetConn().Close()
	s.logf("socket %d closed", c.id)
}

// waitAck waits for the first acknowledgement of d.
func (s *Server) waitAck(ctx context.Context, d *delivery) error {
	select {
	case <-d.ackedCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errors.New("server closed")
	}
}

// Connections returns the number of open Socket Mode connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnected waits until at least n Socket Mode connections are open
// (draining and silent ones count). It fails when ctx ends or the server
// closes first.
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := len(s.conns), s.connChanged
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("slackemu: wait for %d connections (have %d): %w", n, have, ctx.Err())
		case <-s.done:
			return fmt.Errorf("slackemu: wait for %d connections: server closed", n)
		}
	}
}

// DropSockets closes every Socket Mode connection abruptly, without a close
// frame, as a network failure would. Envelopes written to them and not
// acknowledged are redelivered (events only) after AckTimeout; queued ones
// wait for the next connection.
func (s *Server) DropSockets() {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		s.closeConn(c)
	}
}

// RequestDisconnect sends {"type":"disconnect","reason":reason} on every
// socket, as Slack does before it refreshes a connection
// ("refresh_requested", "warning", "link_disabled"). Except for "warning",
// the sockets get no further envelopes, and the emulator closes them if the
// client has not done so within 10 seconds.
func (s *Server) RequestDisconnect(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, _ := json.Marshal(obj{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": obj{"host": "applink-emulator"},
	})
	for c := range s.conns {
		c.control = append(c.control, msg)
		if reason != "warning" {
			c.draining = true
			time.AfterFunc(10*time.Second, func() { s.closeConn(c) })
		}
	}
	s.cond.Broadcast()
}

// SetSilent(true) makes every current socket stale: it gets no more pings and
// no more envelopes, which stay queued for the next socket that connects.
// Sockets that connect later are healthy. SetSilent(false) revives the
// current sockets.
func (s *Server) SetSilent(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.silent = on
	}
	s.cond.Broadcast()
}

// Acked reports whether the envelope with that id was acknowledged.
func (s *Server) Acked(envelopeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envelopes[envelopeID]
	return ok && !e.acked.IsZero()
}

// AckedCount returns how many envelopes have been acknowledged; unlike
// AckedEnvelopes it costs nothing, for load tests that poll it.
func (s *Server) AckedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ackOrder)
}

// AckedEnvelopes returns the ids of acknowledged envelopes in the order the
// acknowledgements arrived.
func (s *Server) AckedEnvelopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ackOrder)
}

// UnackedCount returns how many deliveries (events, slash commands,
// interactions) wait for an acknowledgement: those whose latest envelope,
// queued or written, is not acknowledged (including events Slack gave up
// redelivering). An event sent again by Redeliver counts until the new
// envelope is acknowledged.
func (s *Server) UnackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deliveries {
		if d.envelopes[len(d.envelopes)-1].acked.IsZero() {
			n++
		}
	}
	return n
}

// QueuedCount returns how many envelopes wait for a socket.
func (s *Server) QueuedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.queue.len()
	for c := range s.conns {
		n += c.given.len()
	}
	return n
}
