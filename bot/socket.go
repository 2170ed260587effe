package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/incidentbot/incidentbot/internal/cork"
	"github.com/incidentbot/incidentbot/scheduler"
)

// The Socket Mode connection is run here rather than by socketmode.Client's
// managed loop, which hands every envelope through one parsing goroutine and
// one-slot channels: measured on a 2-core machine it delivers about 2,700
// envelopes/s whatever the handler does, a fifth of what the store can
// commit. Here the reader only reads; each envelope is decoded (with
// slack-go's socketmode.Request, slackevents.ParseEvent, slack.SlashCommand
// and slack.InteractionCallback) and handled on its own goroutine, and the
// connection has a watchdog: no frame (envelope or ping) for StaleAfter and
// it is replaced.

// fatalAuth lists apps.connections.open errors that retrying cannot fix.
var fatalAuth = map[string]bool{"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true, "not_allowed_token_type": true}

// conn is one Socket Mode websocket.
type conn struct {
	ws        *websocket.Conn
	tcp       *cork.Conn // under ws (and its TLS, for wss://)
	wmu       sync.Mutex
	lastFrame atomic.Int64 // unix nanos
	closed    chan struct{}
	once      sync.Once

	// Acknowledgements are queued; whoever holds wmu writes all those
	// queued, corked into one system call (flat combining): alone, an ack
	// is written at once by its own goroutine; under a burst (a group
	// commit releases hundreds of envelopes at once) the one writing takes
	// the others along. A write each was a tenth of the bot's CPU.
	qmu   sync.Mutex
	queue []frame
}

// frame is a text message queued for writing, and where its outcome goes.
type frame struct {
	data []byte
	done chan error
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

// write writes a text message, with whatever else is queued, and returns
// once it is written or failed, or the connection closed.
func (c *conn) write(data []byte) error {
	f := frame{data: data, done: make(chan error, 1)}
	c.qmu.Lock()
	c.queue = append(c.queue, f)
	c.qmu.Unlock()
	c.drain()
	select {
	case err := <-f.done:
		return err
	case <-c.closed:
		return net.ErrClosed
	}
}

// drain writes the queued frames unless another goroutine holds wmu: that
// one writes them, since every holder of wmu drains again after letting go
// (frames queued while it held it would otherwise wait for the next ack).
func (c *conn) drain() {
	for c.wmu.TryLock() {
		c.writeQueued()
		c.wmu.Unlock()
		c.qmu.Lock()
		more := len(c.queue) > 0
		c.qmu.Unlock()
		if !more {
			return
		}
	}
}

// writeQueued writes the queued frames, corked, and tells each its
// outcome. The caller holds wmu.
func (c *conn) writeQueued() {
	c.qmu.Lock()
	batch := c.queue
	c.queue = nil
	c.qmu.Unlock()
	if len(batch) == 0 {
		return
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.tcp.Cork()
	var err error
	for _, f := range batch {
		if err == nil {
			err = c.ws.WriteMessage(websocket.TextMessage, f.data)
		}
	}
	if ferr := c.tcp.Flush(); err == nil {
		err = ferr
	}
	for _, f := range batch {
		f.done <- err
	}
}

// runSocket keeps a Socket Mode connection open until ctx ends,
// reconnecting with backoff and jitter. It returns an error only when Slack
// rejects the app token.
func (b *Bot) runSocket(ctx context.Context) error {
	attempt := 0
	for ctx.Err() == nil {
		err := b.connectOnce(ctx)
		b.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if code := slackErrorCode(err); fatalAuth[code] {
			return fmt.Errorf("bot: Slack rejected the app token (%s): check SLACK_APP_TOKEN (xapp-…, with connections:write)", code)
		}
		var wait time.Duration
		if errors.Is(err, errHealthyEnd) {
			attempt = 0 // a connection that worked and ended: reconnect at once
		} else {
			attempt++
			wait = scheduler.Backoff{First: 500 * time.Millisecond, Max: 30 * time.Second}.Delay(attempt)
			if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
				wait = max(wait, rl.RetryAfter)
			}
		}
		b.log.WithError(err).WithField("retry_in", wait.String()).Warn("Socket Mode connection ended; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	return nil
}

// errHealthyEnd marks the end of a connection that had said hello.
var errHealthyEnd = errors.New("socket mode connection ended")

// connectOnce opens one connection and serves it until it ends.
func (b *Bot) connectOnce(ctx context.Context) error {
	octx, cancel := context.WithTimeout(ctx, b.cfg.HTTPTimeout)
	_, url, err := b.api.StartSocketModeContext(octx)
	cancel()
	if err != nil {
		return b.slack.err("apps.connections.open", err)
	}
	var tcp *cork.Conn
	dialer := websocket.Dialer{HandshakeTimeout: b.cfg.HTTPTimeout, Proxy: http.ProxyFromEnvironment,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tcp = cork.New(nc)
			return tcp, nil
		}}
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{"Origin": {"https://api.slack.com"}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial the Socket Mode websocket: %w", err)
	}
	c := &conn{ws: ws, tcp: tcp, closed: make(chan struct{})}
	c.lastFrame.Store(time.Now().UnixNano())
	ws.SetPingHandler(func(data string) error {
		c.lastFrame.Store(time.Now().UnixNano())
		c.wmu.Lock()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		c.wmu.Unlock()
		c.drain() // what was queued while the pong held wmu
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	go b.watch(c)
	defer c.close()
	err = b.read(ctx, c)
	if errors.Is(err, errHealthyEnd) {
		// The moment this connection was last known healthy: the next
		// connection backfills from there.
		b.lastHealthy.Store(c.lastFrame.Load())
	}
	return err
}

// watch replaces a connection that has been silent for StaleAfter: Socket
// Mode connections are known to go quiet without closing.
func (b *Bot) watch(c *conn) {
	t := time.NewTicker(max(b.cfg.StaleAfter/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			if silent := time.Since(time.Unix(0, c.lastFrame.Load())); silent > b.cfg.StaleAfter {
				b.log.WithField("silent_for", silent.Round(time.Millisecond).String()).Warn("Socket Mode connection is stale; replacing it")
				c.close()
				return
			}
		}
	}
}

// read reads frames until the connection fails or Slack asks to reconnect.
func (b *Bot) read(ctx context.Context, c *conn) error {
	helloed := false
	var buf bytes.Buffer // the frame being read; decodeFrame keeps none of it
	for {
		if buf.Cap() > maxKeptFrameBuffer {
			buf = bytes.Buffer{}
		}
		buf.Reset()
		_, r, err := c.ws.NextReader()
		if err == nil {
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if helloed {
				return fmt.Errorf("%w: %v", errHealthyEnd, err)
			}
			return fmt.Errorf("read from the Socket Mode websocket: %w", err)
		}
		c.lastFrame.Store(time.Now().UnixNano())
		// This loop is the one serial step of capture (see decodeFrame).
		req, event, err := decodeFrame(buf.Bytes())
		if err != nil {
			b.log.WithError(err).Warn("ignoring a Socket Mode frame that is not JSON")
			continue
		}
		switch req.Type {
		case socketmode.RequestTypeHello:
			helloed = true
			b.connected.Store(true)
			b.log.WithField("connections", req.NumConnections).Info("connected to Slack over Socket Mode")
			b.startBackfill()
		case socketmode.RequestTypeDisconnect:
			b.log.WithField("reason", req.Reason).Info("Slack asked to reconnect")
			return errHealthyEnd
		case socketmode.RequestTypeEventsAPI, socketmode.RequestTypeSlashCommands, socketmode.RequestTypeInteractive:
			if req.EnvelopeID == "" {
				continue
			}
			if !b.dispatch(ctx, c, req, event) {
				return errHealthyEnd
			}
		default:
			// An envelope of a type this bot does not know (Slack adds
			// some now and then) is acknowledged all the same: unacked,
			// Slack would deliver it again and again.
			b.log.WithField("type", req.Type).Debug("ignoring an unknown Socket Mode frame")
			if req.EnvelopeID != "" {
				b.ack(&envelope{req: req, conn: c, base: b.log, start: time.Now()}, nil)
			}
		}
	}
}

// maxKeptFrameBuffer is the largest read buffer a connection keeps for the
// next frame: a rare large frame (a modal's state) is not held for good.
const maxKeptFrameBuffer = 64 << 10

// envelope is one Socket Mode request being handled.
type envelope struct {
	req   socketmode.Request
	conn  *conn
	base  logrus.FieldLogger // the bot's; log adds the envelope
	start time.Time          // when it was read
	acked atomic.Bool
	// subcommand names a slash command's subcommand, for the latency metric.
	subcommand string
}

// log is the logger of what happens to the envelope. It is made when
// something is logged: a logger with a field costs a map per envelope,
// and nearly all envelopes log nothing.
func (e *envelope) log() logrus.FieldLogger {
	return e.base.WithField("envelope", e.req.EnvelopeID)
}

// ack acknowledges the envelope on the connection it came from, with an
// optional payload. A failed ack is logged: Slack will deliver it again and
// the store keeps it once.
func (b *Bot) ack(env *envelope, payload any) {
	buf, err := ackFrame(env.req.EnvelopeID, payload)
	if err == nil {
		err = env.conn.write(buf)
	}
	if err != nil {
		env.log().WithError(err).Warn("could not acknowledge the envelope; Slack will deliver it again")
		return
	}
	env.acked.Store(true)
	if env.subcommand != "" {
		b.cfg.Metrics.CommandDone(env.subcommand, time.Since(env.start))
	}
	b.acked.Add(1)
	b.cfg.Metrics.EnvelopeAcked(env.req.Type)
}

// ackFrame is the acknowledgement of envelope id, as socketmode.Response
// encodes it; the usual one, without a payload and with an id of plain
// characters, is put together without reflection.
func ackFrame(id string, payload any) ([]byte, error) {
	if payload == nil && plainID(id) {
		return append(append([]byte(`{"envelope_id":"`), id...), `"}`...), nil
	}
	return json.Marshal(socketmode.Response{EnvelopeID: id, Payload: payload})
}

// plainID reports whether id needs no escaping in JSON (Slack's envelope
// ids are UUIDs).
func plainID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// startBackfill records, after a connection, the gap of every open
// incident channel (see backfill.go): from the moment the previous
// connection was last known healthy, or, for the first connection of this
// process, from the last message stored for each channel; both less
// Config.BackfillMargin. The previous connection's last healthy moment is
// used rather than the last stored message because a late redelivery of a
// newer message must not hide an older missed one. The scheduler's backfill
// job reads the gaps back.
func (b *Bot) startBackfill() {
	prev, now := b.lastHealthy.Load(), time.Now()
	b.background(noticeTimeout, func(ctx context.Context) {
		b.backfill.recordGaps(ctx, prev, now)
	})
}
