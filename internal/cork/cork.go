// Package cork holds back a network connection's writes and sends them in
// one. A websocket library writes each frame with its own write, a system
// call each; under a burst of small frames (Socket Mode envelopes and
// their acknowledgements) those calls were a large share of the CPU. The
// single writer of a connection corks it, writes its queued frames, and
// flushes them together.
package cork

import (
	"net"
	"sync"
)

// Conn is a net.Conn whose writes, while corked, are kept until Flush. A
// write that comes while corked from another goroutine (a websocket
// library's control frame, say) is kept with the others, in order.
type Conn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Write writes p, or keeps it while corked.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Cork keeps the writes from now on until Flush.
func (c *Conn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Flush writes what was kept, in one write, and uncorks.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 1<<20 {
		c.buf = nil // a burst's buffer is not kept for good
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// Listener wraps each accepted connection in a Conn.
type Listener struct {
	net.Listener
}

// Accept accepts a connection, wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return New(c), nil
}
