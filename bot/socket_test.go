package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/socketmode"

	"github.com/incidentbot/incidentbot/internal/cork"
)

// TestAckFrame: the hand-made acknowledgement is byte for byte what
// socketmode.Response encodes to, whatever the id and payload.
func TestAckFrame(t *testing.T) {
	for _, tc := range []struct {
		id      string
		payload any
	}{
		{"3f1c9a2e-6b1d-4c4e-9a59-0f1e2d3c4b5a", nil},
		{"", nil},
		{`odd"id\with<chars>`, nil},
		{"ünïcode", nil},
		{"3f1c9a2e", map[string]string{"text": "ok"}},
	} {
		got, err := ackFrame(tc.id, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(socketmode.Response{EnvelopeID: tc.id, Payload: tc.payload})
		if string(got) != string(want) {
			t.Errorf("ackFrame(%q) = %s, want %s", tc.id, got, want)
		}
	}
}

// TestConnWriteCombined: acknowledgements written from many goroutines at
// once, while pongs take the write lock now and then, all reach the peer
// and all return; none waits for a later write to carry it.
func TestConnWriteCombined(t *testing.T) {
	const n = 500
	got := make(chan string, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(data)
		}
	}))
	defer srv.Close()
	var tcp *cork.Conn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tcp = cork.New(nc)
		return tcp, nil
	}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{ws: ws, tcp: tcp, closed: make(chan struct{})}
	defer c.close()

	stop := make(chan struct{})
	var pongs sync.WaitGroup
	pongs.Go(func() { // as the ping handler does
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.wmu.Lock()
			_ = ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
			c.wmu.Unlock()
			c.drain()
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- c.write([]byte(fmt.Sprintf(`{"envelope_id":"e%d"}`, i))) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes still waiting after 10s: a frame was left in the queue")
	}
	close(stop)
	pongs.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case m := <-got:
			seen[m] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("the peer read %d of %d frames", len(seen), n)
		}
	}
}
