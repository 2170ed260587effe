package templates

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

// bigInput returns a resolved incident with n timeline events, mostly
// messages, with threads, edits, deletions, files, pins, status updates and
// reminders, the same for the same n.
func bigInput(n int) Input {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	users := make(map[string]incidentbot.User)
	for i := range 50 {
		id := fmt.Sprintf("U%03d", i)
		users[id] = incidentbot.User{ID: id, Name: fmt.Sprintf("Responder %d", i)}
	}
	user := func() string { return fmt.Sprintf("U%03d", r.IntN(60)) } // some unknown
	inc := &incidentbot.Incident{
		ID: 9, Title: "Large incident", Severity: incidentbot.Sev1, Status: incidentbot.StatusResolved,
		ChannelName: "inc-9-large", Declarer: "U000", OpenedAt: t0, AcknowledgedAt: t0.Add(time.Minute),
		Roles:       map[incidentbot.Role]string{incidentbot.RoleCommander: "U001"},
		MitigatedAt: t0.Add(time.Duration(n/2) * time.Second), ResolvedAt: t0.Add(time.Duration(n) * time.Second),
	}
	texts := []string{
		"checking the dashboards for `api-gateway`, error rate at 4.2% <@U001>",
		"## not a heading | just text with *stars* and _underscores_",
		"restarted pod payments-7f9c; latency back to p99=180ms?\nsecond line",
		"<https://grafana.example.com/d/abc?from=now-1h&amp;to=now|dashboard> looks bad",
		"ok",
	}
	events := make([]incidentbot.TimelineEvent, 0, n)
	var msgs, tops []string
	for i := range n {
		ev := incidentbot.TimelineEvent{IncidentID: 9, Seq: uint64(i + 1), At: t0.Add(time.Duration(i) * time.Second), Actor: user()}
		ts := fmt.Sprintf("%d.%06d", t0.Unix()+int64(i), i)
		switch p := r.IntN(100); {
		case p < 68 || len(msgs) == 0:
			ev.Kind, ev.TS, ev.Text = incidentbot.EventMessage, ts, texts[r.IntN(len(texts))]
			if len(tops) > 0 && r.IntN(4) == 0 {
				ev.ThreadTS = tops[len(tops)-1-r.IntN(min(len(tops), 20))]
			} else {
				tops = append(tops, ts)
			}
			msgs = append(msgs, ts)
		case p < 73:
			ev.Kind, ev.TS = incidentbot.EventEdited, msgs[r.IntN(len(msgs))]
			ev.Text, ev.PrevText = "edited: "+texts[r.IntN(len(texts))], texts[r.IntN(len(texts))]
		case p < 75:
			ev.Kind, ev.TS, ev.PrevText = incidentbot.EventDeleted, msgs[r.IntN(len(msgs))], texts[r.IntN(len(texts))]
		case p < 77:
			ev.Kind, ev.TS, ev.Text = incidentbot.EventFileShared, ts, "graph"
			ev.Files = []incidentbot.File{{ID: "F" + ts, Name: "graph.png", URL: "https://files.example.com/" + ts + "/graph.png"}}
			msgs, tops = append(msgs, ts), append(tops, ts)
		case p < 78:
			ev.Kind, ev.TS = incidentbot.EventKeyMarked, msgs[r.IntN(len(msgs))]
		case p < 79:
			ev.Kind, ev.TS = incidentbot.EventPinned, msgs[r.IntN(len(msgs))]
		case p < 85:
			ev.Kind, ev.To, ev.Text = incidentbot.EventStatus, "identified", "still working on it; next update in 15 minutes"
		case p < 87:
			ev.Kind, ev.Actor, ev.Text = incidentbot.EventReminder, "", "no status update for 15m"
		case p < 90:
			ev.Kind, ev.Ref, ev.To = incidentbot.EventRole, "scribe", user()
		default:
			ev.Kind, ev.Ref, ev.Text = incidentbot.EventHypothesis, fmt.Sprintf("H%d", i), "maybe the cache"
		}
		events = append(events, ev)
	}
	return Input{Incident: inc, Events: events, Users: users}
}

func benchmarkRender(b *testing.B, n int) {
	in := bigInput(n)
	p := Default()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Render(io.Discard, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
}

func BenchmarkRender1k(b *testing.B)   { benchmarkRender(b, 1_000) }
func BenchmarkRender10k(b *testing.B)  { benchmarkRender(b, 10_000) }
func BenchmarkRender100k(b *testing.B) { benchmarkRender(b, 100_000) }

// measureRender renders in once and returns how long it took, the bytes it
// allocated, and the peak of the live heap while it ran, sampled.
func measureRender(t *testing.T, p *PostMortem, in Input) (time.Duration, uint64, uint64) {
	t.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	start := time.Now()
	err := p.Render(io.Discard, in)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return elapsed, after.TotalAlloc - before.TotalAlloc, peak
}

// TestRenderLargeBudget checks the speed and memory budget: 100,000 events
// render in under a second with a peak heap under 256 MB, and the cost grows
// linearly.
func TestRenderLargeBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 100,000 events")
	}
	p := Default()
	small, large := bigInput(10_000), bigInput(100_000)
	_, allocSmall, _ := measureRender(t, p, small)
	best := time.Hour
	var allocLarge, peak uint64
	runs := 3
	if raceEnabled {
		runs = 1
	}
	for range runs {
		d, a, pk := measureRender(t, p, large)
		best, allocLarge, peak = min(best, d), a, max(peak, pk)
	}
	t.Logf("100k events: %v (best of %d), %d MB allocated, peak heap %d MB (input included); 10k events: %d MB allocated",
		best, runs, allocLarge>>20, peak>>20, allocSmall>>20)
	if peak > 256<<20 {
		t.Errorf("peak heap %d MB, budget 256 MB", peak>>20)
	}
	if ratio := float64(allocLarge) / float64(allocSmall); ratio > 15 {
		t.Errorf("10x the events allocate %.1fx the memory: not linear", ratio)
	}
	if !raceEnabled && best > time.Second {
		t.Errorf("100k events took %v, budget 1s", best)
	}
}
