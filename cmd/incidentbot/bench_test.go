package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
)

// benchWorld starts a bot with an open incident and returns its channel.
func benchWorld(b *testing.B) (*world, string) {
	w, _, ch := benchBot(b)
	return w, ch
}

func benchBot(b *testing.B) (*world, *running, string) {
	w := newWorld(b, slackemu.Config{PingInterval: time.Second})
	r := w.start(map[string]string{"INCIDENTBOT_LOG_LEVEL": "error", "INCIDENTBOT_ANNOUNCE_CHANNEL": ""})
	w.cmd(w.alice, w.general, "open sev2 Benchmark incident")
	var ch slackemu.Channel
	w.eventually("the channel", func() bool {
		var ok bool
		ch, ok = w.emu.ChannelByName("inc-1-benchmark-incident")
		return ok && len(ch.Pins) == 1
	})
	w.eventually("quiet", func() bool { return w.emu.UnackedCount() == 0 })
	return w, r, ch.ID
}

// BenchmarkSlashCommandAck measures how long Slack waits for the
// acknowledgement of a slash command that writes to the incident (commit
// included), with 100 commands in flight, through the emulator's socket.
func BenchmarkSlashCommandAck(b *testing.B) {
	w, channel := benchWorld(b)
	const inFlight = 100
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan int)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := w.emu.SlashCommand(ctx, w.bob, channel, fmt.Sprintf("status investigating still looking, update %d", i))
				cancel()
				if err != nil || !strings.Contains(res.AckText, "Status update posted") {
					b.Errorf("command %d: %v %q", i, err, res.AckText)
					return
				}
				mu.Lock()
				lat = append(lat, res.Latency)
				mu.Unlock()
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
		b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCapture measures messages captured per second (each
// acknowledged after its commit) through the emulator's socket, beside raw
// bbolt batched writes of the same size by 256 writers measured in the same
// run, and reports their ratio (target >= 0.5). The burst is queued in the
// emulator first (as Slack queues events for a busy app), so that the figure
// is the bot's rate, not the emulator's rate of making messages.
func BenchmarkCapture(b *testing.B) {
	w, r, channel := benchBot(b)
	const burst = 4000
	text := strings.Repeat("x", 200)
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		w.emu.SetSilent(true)
		for range burst {
			w.emu.PostMessage(w.bob, channel, text)
		}
		before := r.m.Bot.Stats().Acked
		b.StartTimer()
		start := time.Now()
		w.emu.SetSilent(false)
		deadline := start.Add(2 * time.Minute)
		for r.m.Bot.Stats().Acked-before < burst {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d acknowledged", r.m.Bot.Stats().Acked-before, burst)
			}
			time.Sleep(time.Millisecond)
		}
		elapsed += time.Since(start)
	}
	b.StopTimer()
	capture := float64(b.N*burst) / elapsed.Seconds()
	raw := RawBoltRate(filepath.Join(b.TempDir(), "raw.db"), burst, 256, 300, store.DefaultBatchDelay)
	b.ReportMetric(capture, "captured/s")
	b.ReportMetric(raw, "raw-bbolt/s")
	b.ReportMetric(capture/raw, "ratio")
}
