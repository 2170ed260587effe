package slackemu

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkDelivery measures the emulator alone: envelopes queued while the
// sockets are silent, then delivered to sockets whose clients acknowledge
// each at once, as fast as they come. It is the ceiling of any capture
// measured through the emulator.
func BenchmarkDelivery(b *testing.B) {
	for _, sockets := range []int{1, 3} {
		b.Run(fmt.Sprintf("sockets=%d", sockets), func(b *testing.B) {
			s, err := New(Config{PingInterval: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			u := s.AddUser(User{Name: "alice"}).ID
			ch := s.CreateChannel("general", s.BotUserID(), u)
			var wg sync.WaitGroup
			for range sockets {
				ws := dialSocket(b, s)
				defer ws.Close()
				wg.Go(func() {
					for {
						_, data, err := ws.ReadMessage()
						if err != nil {
							return
						}
						var env struct {
							EnvelopeID string `json:"envelope_id"`
							Type       string `json:"type"`
						}
						if json.Unmarshal(data, &env) != nil || env.EnvelopeID == "" {
							continue
						}
						if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"`+env.EnvelopeID+`"}`)); err != nil {
							return
						}
					}
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.WaitConnected(ctx, sockets); err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("x", 200)
			before := s.AckedCount()
			s.SetSilent(true)
			for range b.N {
				s.PostMessage(u, ch, text)
			}
			b.ResetTimer()
			start := time.Now()
			s.SetSilent(false)
			for s.AckedCount()-before < b.N {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "envelopes/s")
		})
	}
}

// dialSocket opens a Socket Mode connection as an app would.
func dialSocket(b *testing.B, s *Server) *websocket.Conn {
	_, wsURL, err := botAPI(s).StartSocketModeContext(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	return ws
}
