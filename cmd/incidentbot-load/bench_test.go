package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackemu"
)

// liveBot starts the bot binary against a new emulator with an open
// incident, as the load tool does, and returns the run, the process, a
// user and the incident channel.
func liveBot(b *testing.B) (*benchRun, *serveProc, string, string) {
	b.Helper()
	emu, err := slackemu.New(slackemu.Config{PingInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	r := &benchRun{w: io.Discard, dir: b.TempDir(), exe: botBinary(b), emu: emu}
	b.Cleanup(r.close)
	alice := emu.AddUser(slackemu.User{Name: "alice", DisplayName: "Alice"}).ID
	general := emu.CreateChannel("general", alice)
	p, _, err := r.startServe(filepath.Join(r.dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := emu.SlashCommand(context.Background(), alice, general, "open sev2 Benchmark incident"); err != nil {
		b.Fatal(err)
	}
	var channel string
	if err := waitFor(10*time.Second, func() bool {
		ch, ok := emu.ChannelByName("inc-1-benchmark-incident")
		channel = ch.ID
		return ok && len(ch.Pins) == 1
	}); err != nil {
		b.Fatal("the incident channel: ", err)
	}
	return r, p, alice, channel
}

// BenchmarkSlashCommandAck measures how long Slack waits for the
// acknowledgement of a slash command that writes to the incident (commit
// included), with 100 commands in flight, through the emulator's socket, to
// the bot running as its own process.
func BenchmarkSlashCommandAck(b *testing.B) {
	r, _, user, channel := liveBot(b)
	b.ResetTimer()
	lat, err := r.ackLatency(context.Background(), user, channel, 100, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCapture measures messages captured per second (each
// acknowledged after its commit) by the bot process, then, with the bot
// stopped, the like-for-like raw bbolt baseline of the same count, and
// reports their ratio (the load tool's headline). The burst is queued in the
// emulator first (as Slack queues events for a busy app), so that the figure
// is the bot's rate, not the emulator's rate of making messages.
func BenchmarkCapture(b *testing.B) {
	r, p, user, channel := liveBot(b)
	const burst = 4000
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		rate, _, err := r.capture(user, channel, burst, nil)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Duration(float64(burst) / rate * float64(time.Second))
	}
	b.StopTimer()
	if err := p.stop(); err != nil {
		b.Fatal(err)
	}
	capture := float64(b.N*burst) / elapsed.Seconds()
	raw, err := captureBaseline().rate(filepath.Join(b.TempDir(), "raw.db"), burst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(capture, "captured/s")
	b.ReportMetric(raw, "raw-bbolt/s")
	b.ReportMetric(capture/raw, "ratio")
}
