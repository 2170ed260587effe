package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// benchSizes are the sizes of one run of the load tool.
type benchSizes struct {
	inFlight      []int
	commands      int // per in-flight level, at least 3× the level
	capture       int
	render        []int
	incidents     int
	events        int
	openIncidents int
	// rounds is how many times ack latency, capture and the raw baselines
	// are measured; each reports its median round (these machines are
	// noisy: one round's p99 varied by a third from run to run).
	rounds int
}

var fullSizes = benchSizes{inFlight: []int{10, 100, 1000}, commands: 1000, capture: 20000, render: []int{1000, 10000, 100000}, incidents: 10000, events: 1000000, openIncidents: 20, rounds: 3}

var quickSizes = benchSizes{inFlight: []int{10, 100}, commands: 200, capture: 1000, render: []int{1000, 10000}, incidents: 100, events: 5000, openIncidents: 5, rounds: 1}

// benchRow is one line of BENCHMARKS.md: a measure of the bot on bbolt
// and, with --postgres, the same measure on PostgreSQL beside it.
type benchRow struct {
	key                  string // what, unless the row was added with a key
	what, result, target string
	// With --postgres: the PostgreSQL result and target, and what the row
	// says when the two columns' measures need another description.
	pgWhat, pg, pgTarget string
}

// bench measures the bot with sizes (fullSizes or quickSizes) and writes
// the results as markdown to out. With pgURL (a PostgreSQL database the
// tool may create schemas in) it measures the bot on PostgreSQL too, with
// pgReplicas replicas, and writes both side by side.
func (b *benchRun) bench(ctx context.Context, quick bool, out, pgURL string) error {
	sizes, cmdline := fullSizes, "go run ./cmd/incidentbot-load bench"
	if quick {
		sizes, cmdline = quickSizes, cmdline+" --quick"
	}
	if buf, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.loadAvg, _, _ = strings.Cut(string(buf), " ")
	}
	b.rounds = sizes.rounds
	if err := b.run(ctx, sizes); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	md := b.markdown(cmdline)
	if pgURL != "" {
		if err := b.runPG(ctx, sizes, pgURL); err != nil {
			return fmt.Errorf("bench: PostgreSQL: %w", err)
		}
		md = b.markdownPG(cmdline + " --postgres URL")
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b.logf("results written to %s", out)
	return nil
}

// benchRun is one run of the tool: the emulator, the bot processes it
// started, and the rows measured so far.
type benchRun struct {
	exe   string // the incidentbot binary to run
	w     io.Writer
	dir   string
	emu   *slackemu.Server
	rows  []benchRow
	procs []*exec.Cmd

	// With --postgres: the server, the baseline, the store alone, the group shapes, the
	// targets, and what the figures suggest where one was missed.
	pgServer, pgBaseline, pgStoreAlone, pgShape, pgLoad, pgAnalysis string
	pgVerdicts                                                      []pgVerdict
	boltCapture                                                     float64 // the bbolt bot's capture, events/s
	loadAvg                                                         string  // /proc/loadavg's 1-minute figure when the run started
	rounds                                                          int     // benchSizes.rounds
}

func (b *benchRun) logf(format string, args ...any) {
	fmt.Fprintf(b.w, format+"\n", args...)
}

func (b *benchRun) add(what, result, target string) {
	b.addKeyed(what, what, result, target)
}

// addKeyed adds a row that PostgreSQL's figure (addPG) finds by key.
func (b *benchRun) addKeyed(key, what, result, target string) {
	b.rows = append(b.rows, benchRow{key: key, what: what, result: result, target: target})
	b.logf("  %-60s %s", what, result)
}

// addPG sets the PostgreSQL figure of the row with key, adding a row for
// it when there is none (a measure of PostgreSQL only).
func (b *benchRun) addPG(key, result, target string) *benchRow {
	b.logf("  %-60s %s", "PostgreSQL: "+key, result)
	for i := range b.rows {
		if b.rows[i].key == key {
			b.rows[i].pg, b.rows[i].pgTarget = result, target
			return &b.rows[i]
		}
	}
	b.rows = append(b.rows, benchRow{key: key, what: key, pg: result, pgTarget: target})
	return &b.rows[len(b.rows)-1]
}

// addPGAfter is addPG for a row of PostgreSQL only, placed right after the
// row with key after (at the end when there is none).
func (b *benchRun) addPGAfter(after, key, result, target string) *benchRow {
	b.addPG(key, result, target)
	row := b.rows[len(b.rows)-1]
	for i := range b.rows[:len(b.rows)-1] {
		if b.rows[i].key == after {
			copy(b.rows[i+2:], b.rows[i+1:len(b.rows)-1])
			b.rows[i+1] = row
			return &b.rows[i+1]
		}
	}
	return &b.rows[len(b.rows)-1]
}

func (b *benchRun) close() {
	for _, p := range b.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	if b.emu != nil {
		b.emu.Close()
	}
}

// The rows that bbolt and PostgreSQL share (see addPG).
const (
	keyBaseline = "baseline"
	keyRatio    = "ratio"
)

func whatAck(n int) string {
	return fmt.Sprintf("slash-command ack latency, %d in flight (p50 / p99 / max)", n)
}

func whatCapture(sz benchSizes) string {
	return fmt.Sprintf("message capture, %d messages, acked after commit", sz.capture)
}

func whatStartup(sz benchSizes) string {
	return fmt.Sprintf("start-up to ready (/readyz 200), %d incidents, %d events", sz.incidents, sz.events)
}

// ackRound is one round of ack latencies (sorted), with the database's
// load meanwhile when it was sampled.
type ackRound struct {
	lat  []time.Duration
	load dbLoad
}

func (r ackRound) p99() time.Duration { return r.lat[len(r.lat)*99/100] }

// rateRound is one round of a throughput, with the load meanwhile.
type rateRound struct {
	rate float64
	load dbLoad
}

// medianOf runs measure n times (at least once) and returns the rounds
// sorted by key, and the median one.
func medianOf[T any](n int, key func(T) float64, measure func() (T, error)) (all []T, med T, err error) {
	for range max(n, 1) {
		r, err := measure()
		if err != nil {
			return nil, med, err
		}
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return all, all[len(all)/2], nil
}

// ackMedian measures ack latency in n rounds; the median is by p99.
func ackMedian(n int, measure func() (ackRound, error)) ([]ackRound, ackRound, error) {
	return medianOf(n, func(r ackRound) float64 { return float64(r.p99()) }, measure)
}

// rateMedian measures a throughput in n rounds; the median is by rate.
func rateMedian(n int, measure func() (rateRound, error)) ([]rateRound, rateRound, error) {
	return medianOf(n, func(r rateRound) float64 { return r.rate }, measure)
}

// ackString is the median round's p50 / p99 / max and, with several
// rounds, every round's p99.
func ackString(all []ackRound, med ackRound) string {
	s := latencies(med.lat)
	if len(all) > 1 {
		p99s := make([]string, len(all))
		for i, r := range all {
			p99s[i] = msDur(r.p99())
		}
		s += fmt.Sprintf(" (median of %d rounds by p99; p99s %s)", len(all), strings.Join(p99s, ", "))
	}
	return s
}

// rateString is the median round's throughput in unit, with note and,
// with several rounds, every round's figure.
func rateString(all []rateRound, med rateRound, unit, note string) string {
	s := fmt.Sprintf("%.0f %s", med.rate, unit)
	var parts []string
	if note != "" {
		parts = append(parts, note)
	}
	if len(all) > 1 {
		each := make([]string, len(all))
		for i, r := range all {
			each[i] = fmt.Sprintf("%.0f", r.rate)
		}
		parts = append(parts, fmt.Sprintf("median of %d rounds: %s", len(all), strings.Join(each, ", ")))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, "; ") + ")"
	}
	return s
}

// latencies formats sorted latencies as p50 / p99 / max.
func latencies(lat []time.Duration) string {
	return fmt.Sprintf("%s / %s / %s", msDur(lat[len(lat)/2]), msDur(lat[len(lat)*99/100]), msDur(lat[len(lat)-1]))
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func msDur(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// startSlack replaces the run's Slack emulator (closing the one before,
// if any) with a new one that has users alice and bob in #general, and
// returns their IDs and #general's.
func (b *benchRun) startSlack() (alice, bob, general string, err error) {
	if b.emu != nil {
		b.emu.Close()
	}
	emu, err := slackemu.New(slackemu.Config{PingInterval: 5 * time.Second})
	if err != nil {
		return "", "", "", err
	}
	b.emu = emu
	alice = emu.AddUser(slackemu.User{Name: "alice", DisplayName: "Alice"}).ID
	bob = emu.AddUser(slackemu.User{Name: "bob", DisplayName: "Bob"}).ID
	return alice, bob, emu.CreateChannel("general", alice, bob), nil
}

// openLoadIncident has alice open INC-1 in general and waits up to 10s for
// its channel with the pinned header; it returns the channel's ID. It
// fails when the command is not acknowledged with INC-1 ("open: …") or
// when the channel does not come ("the incident channel: …").
func (b *benchRun) openLoadIncident(ctx context.Context, alice, general string) (string, error) {
	res, err := b.emu.SlashCommand(ctx, alice, general, "open sev3 Load test")
	if err != nil || !strings.Contains(res.AckText, "INC-1") {
		return "", fmt.Errorf("open: %v %q", err, res.AckText)
	}
	var channel string
	if err := waitFor(10*time.Second, func() bool {
		ch, ok := b.emu.ChannelByName("inc-1-load-test")
		channel = ch.ID
		return ok && len(ch.Pins) == 1
	}); err != nil {
		return "", fmt.Errorf("the incident channel: %w", err)
	}
	return channel, nil
}

func (b *benchRun) run(ctx context.Context, sz benchSizes) error {
	alice, bob, general, err := b.startSlack()
	if err != nil {
		return err
	}

	// 1. A live bot: idle memory, ack latency, capture throughput.
	b.logf("== live bot (child process) against the emulator")
	live, _, err := b.startServe(filepath.Join(b.dir, "live.db"))
	if err != nil {
		return err
	}
	channel, err := b.openLoadIncident(ctx, alice, general)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idle := live.rss()
	b.add("resident memory, idle", mb(idle), "< 40 MB")

	stopRSS := sampleMax(20*time.Millisecond, func() uint64 { return uint64(live.rss()) })

	for _, n := range sz.inFlight {
		all, med, err := ackMedian(sz.rounds, func() (ackRound, error) {
			lat, err := b.ackLatency(ctx, bob, channel, n, max(sz.commands, 3*n))
			return ackRound{lat: lat}, err
		})
		if err != nil {
			return err
		}
		target := ""
		if n == 100 {
			target = "p99 < 50 ms"
		}
		b.add(whatAck(n), ackString(all, med), target)
	}

	caps, capMed, err := rateMedian(sz.rounds, func() (rateRound, error) {
		rate, _, err := b.capture(bob, channel, sz.capture, nil)
		return rateRound{rate: rate}, err
	})
	if err != nil {
		return err
	}
	rate := capMed.rate
	b.boltCapture = rate
	peak := int64(stopRSS())
	b.add(whatCapture(sz), rateString(caps, capMed, "events/s", ""), "")
	b.add("resident memory, peak under load", mb(peak), "")
	if err := live.stop(); err != nil {
		return fmt.Errorf("live bot: %w", err)
	}

	// The baseline runs alone: the bot stopped, the sampler too.
	base := captureBaseline()
	round := 0
	raws, rawMed, err := rateMedian(sz.rounds, func() (rateRound, error) {
		round++
		raw, err := base.rate(filepath.Join(b.dir, fmt.Sprintf("raw-%d.db", round)), sz.capture)
		return rateRound{rate: raw}, err
	})
	if err != nil {
		return err
	}
	raw := rawMed.rate
	b.addKeyed(keyBaseline, fmt.Sprintf("%s, %d writes, alone (same run)", base, sz.capture), rateString(raws, rawMed, "writes/s", ""), "")
	b.addKeyed(keyRatio, "capture / raw bbolt, like for like (the headline)", fmt.Sprintf("%.2f", rate/raw), ">= 0.60")

	// 2. Post-mortem rendering.
	b.logf("== post-mortem rendering")
	if err := b.render(ctx, sz.render); err != nil {
		return err
	}

	// 3. Start-up with a large database.
	b.logf("== start-up with %d incidents and %d events", sz.incidents, sz.events)
	bigDB := filepath.Join(b.dir, "big.db")
	if err := b.generate(ctx, bigDB, sz); err != nil {
		return err
	}
	big, took, err := b.startServe(bigDB)
	if err != nil {
		return err
	}
	b.add(whatStartup(sz), msDur(took), "< 1 s")
	b.add("resident memory right after that start-up", mb(big.rss()), "")
	return big.stop()
}

// ackLatency sends total status updates with inFlight at a time and returns
// the sorted ack latencies, after the follow-ups drained.
func (b *benchRun) ackLatency(ctx context.Context, user, channel string, inFlight, total int) ([]time.Duration, error) {
	lat, err := b.ackLatencies(ctx, user, channel, inFlight, total)
	if err == nil {
		b.drain()
	}
	return lat, err
}

// ackLatencies is ackLatency without the drain.
func (b *benchRun) ackLatencies(ctx context.Context, user, channel string, inFlight, total int) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				res, err := b.emu.SlashCommand(cctx, user, channel, fmt.Sprintf("status investigating load update %d", i))
				cancel()
				mu.Lock()
				if err == nil && !strings.Contains(res.AckText, "Status update posted") {
					err = fmt.Errorf("unexpected reply %q", res.AckText)
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, res.Latency)
				mu.Unlock()
			}
		})
	}
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, nil
}

// drain lets the follow-up posts of commands finish before the next
// measurement.
func (b *benchRun) drain() {
	_ = waitFor(time.Minute, func() bool { return b.emu.UnackedCount() == 0 })
	time.Sleep(time.Second)
}

// capture queues n messages in the emulator (as Slack queues events for a
// busy app), releases them and times their acknowledgements.
func (b *benchRun) capture(user, channel string, n int, sample func() (stop func() dbLoad)) (float64, dbLoad, error) {
	before := b.emu.AckedCount()
	text := strings.Repeat("x", 200)
	b.emu.SetSilent(true)
	for range n {
		b.emu.PostMessage(user, channel, text)
	}
	stop := func() dbLoad { return dbLoad{} }
	if sample != nil {
		stop = sample()
	}
	start := time.Now()
	b.emu.SetSilent(false)
	err := waitFor(5*time.Minute, func() bool { return b.emu.AckedCount()-before >= n })
	took := time.Since(start)
	load := stop()
	if err != nil {
		return 0, load, fmt.Errorf("capture: %d of %d acknowledged", b.emu.AckedCount()-before, n)
	}
	return float64(n) / took.Seconds(), load, nil
}

// render stores incidents of each size and times rendering their
// post-mortems from the store, sampling the peak heap.
func (b *benchRun) render(ctx context.Context, sizes []int) error {
	db, err := store.Open(filepath.Join(b.dir, "render.db"), store.Options{NoSync: true, BatchDelay: 50 * time.Microsecond})
	if err != nil {
		return err
	}
	defer db.Close()
	drafts := templates.Drafts{Source: db, Template: templates.Default()}
	for _, n := range sizes {
		id, err := fillIncident(ctx, db, n, false)
		if err != nil {
			return err
		}
		runtime.GC()
		base := heapBytes()
		stopHeap := sampleMax(time.Millisecond, heapBytes)
		start := time.Now()
		var sink countWriter
		err = drafts.Render(ctx, id, &sink)
		took := time.Since(start)
		peak := max(stopHeap(), heapBytes())
		if err != nil {
			return err
		}
		target := ""
		if n == 100000 {
			target = "< 1 s, < 256 MB"
		}
		b.add(fmt.Sprintf("post-mortem render from the store, %d events (time, peak heap)", n),
			fmt.Sprintf("%s, %s (%.1f µs/event, %s markdown)", msDur(took), mb(int64(peak-min(base, peak))), float64(took.Microseconds())/float64(n), mb(sink.n)), target)
	}
	return nil
}

// sampleMax samples f every period until the returned stop is called,
// which returns the largest value seen.
func sampleMax(period time.Duration, f func() uint64) (stop func() uint64) {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
				peak = max(peak, f())
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// fillIncident creates an incident with n timeline events like a real one:
// messages, thread replies, edits, deletions, files, pins, status updates.
func fillIncident(ctx context.Context, db *store.DB, n int, open bool) (int64, error) {
	inc := loadIncident(n, open)
	stored, _, err := db.CreateIncident(ctx, inc, "")
	if err != nil {
		return 0, err
	}
	const chunk = 5000
	evs := make([]incidentbot.TimelineEvent, 0, chunk)
	err = timelineOf(stored.ID, n, func(e incidentbot.TimelineEvent) error {
		evs = append(evs, e)
		if len(evs) == chunk {
			if _, err := db.AppendEvents(ctx, evs...); err != nil {
				return err
			}
			evs = evs[:0]
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(evs) > 0 {
		if _, err := db.AppendEvents(ctx, evs...); err != nil {
			return 0, err
		}
	}
	return stored.ID, nil
}

// loadIncident is the record of a generated incident with n events:
// resolved, or open (investigating) when open.
func loadIncident(n int, open bool) *incidentbot.Incident {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inc := &incidentbot.Incident{
		Title: fmt.Sprintf("Load incident with %d events", n), Severity: incidentbot.Sev2, Status: incidentbot.StatusResolved,
		TeamID: "T0001", Declarer: "U1", OpenedAt: t0, LastUpdateAt: t0, ResolvedAt: t0.Add(time.Duration(n) * time.Second),
		Roles: map[incidentbot.Role]string{incidentbot.RoleCommander: "U2"},
	}
	if open {
		inc.Status, inc.ResolvedAt = incidentbot.StatusInvestigating, time.Time{}
	}
	return inc
}

// timelineOf calls emit with n timeline events of incident id like a real
// incident's, in order: messages, thread replies, edits, deletions, files,
// pins, status updates. Their dedup keys are distinct. It stops at emit's
// first error and returns it.
func timelineOf(id int64, n int, emit func(incidentbot.TimelineEvent) error) error {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var tops []string
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		ts := fmt.Sprintf("%d.%06d", at.Unix(), i%1000000)
		e := incidentbot.TimelineEvent{IncidentID: id, At: at, Actor: fmt.Sprintf("U%d", r.IntN(40)), TS: ts, DedupKey: incidentbot.MessageKey(ts)}
		switch p := r.IntN(100); {
		case p < 75 || len(tops) == 0:
			e.Kind, e.Text = incidentbot.EventMessage, "checking the dashboards for api-gateway, error rate at 4.2% and climbing <@U1>"
			if len(tops) > 0 && r.IntN(4) == 0 {
				e.ThreadTS = tops[len(tops)-1]
			} else {
				tops = append(tops, ts)
			}
		case p < 82:
			e.Kind, e.TS, e.Text, e.PrevText = incidentbot.EventEdited, tops[r.IntN(len(tops))], "edited text", "original text"
			e.DedupKey = incidentbot.EditKey(e.TS, ts)
		case p < 85:
			e.Kind, e.TS, e.PrevText = incidentbot.EventDeleted, tops[r.IntN(len(tops))], "deleted text"
			e.DedupKey = incidentbot.DeleteKey(ts)
		case p < 88:
			e.Kind, e.Text, e.Files = incidentbot.EventFileShared, "graph", []incidentbot.File{{Name: "graph.png", URL: "https://files.example/graph.png"}}
		case p < 90:
			e.Kind, e.TS, e.Text = incidentbot.EventPinned, tops[r.IntN(len(tops))], "pinned"
			e.DedupKey = incidentbot.PinKey(ts)
		default:
			e.Kind, e.Text, e.To, e.DedupKey = incidentbot.EventStatus, "still investigating", "investigating", ""
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

// generate writes a database with sz.incidents incidents (sz.openIncidents
// of them open, with channels in the emulator) and sz.events events in all.
func (b *benchRun) generate(ctx context.Context, path string, sz benchSizes) error {
	start := time.Now()
	db, err := store.Open(path, store.Options{NoSync: true, BatchDelay: 50 * time.Microsecond})
	if err != nil {
		return err
	}
	defer db.Close()
	per := sz.events / sz.incidents
	for i := range sz.incidents {
		open := i >= sz.incidents-sz.openIncidents
		id, err := fillIncident(ctx, db, per, open)
		if err != nil {
			return err
		}
		if open {
			chID := b.emu.CreateChannel(fmt.Sprintf("inc-%d-open", id), b.emu.BotUserID())
			if _, _, err := db.UpdateIncident(ctx, id, "", func(inc *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				inc.ChannelID, inc.ChannelName = chID, fmt.Sprintf("inc-%d-open", id)
				inc.OpenedAt, inc.LastUpdateAt = time.Now().UTC(), time.Now().UTC()
				return nil, nil
			}); err != nil {
				return err
			}
		}
	}
	fi, _ := os.Stat(path)
	b.logf("  generated %s in %s", mb(fi.Size()), time.Since(start).Round(time.Second))
	return nil
}

// markdown renders the results.
func (b *benchRun) markdown(cmdline string) string {
	var s strings.Builder
	s.WriteString("# Benchmarks\n\n")
	s.WriteString("Measured by the load tool, `cmd/incidentbot-load` (its own command, kept out of the release binary): the real bot runs as its own process (`incidentbot serve`) against the built-in Slack emulator over loopback (HTTP Web API and a Socket Mode websocket), with its database on local disk, fsync on. Ratios are taken against a baseline measured in the same run, because these machines are noisy.\n\n")
	fmt.Fprintf(&s, "Reproduce: `%s` (writes this file; about a minute, most of it generating a 400 MB database; `--quick` for small sizes, `-bin FILE` to measure a given incidentbot binary instead of building ./cmd/incidentbot). The crash soak: `go run ./cmd/incidentbot-load soak -kills 100`. Store-level write latency against plain bbolt: `go test -run XXX -bench GroupCommit ./store/`.\n\n", cmdline)
	s.WriteString(roundsNote(b.rounds))
	fmt.Fprintf(&s, "Machine: %s, %d CPUs, %s, %s/%s, measured %s.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	s.WriteString("| measure | result | target |\n|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %s | %s | %s |\n", r.what, r.result, r.target)
	}
	s.WriteString("\nNotes: ack latency is from the emulator writing the slash-command envelope to reading its acknowledgement, and includes the commit to bbolt; each command is a status update, so its follow-ups (channel post, header update) load the bot too. Capture queues the messages in the emulator first (as Slack queues events for a busy app) and times their acknowledgements, each sent after the event was committed. The capture ratio is like for like: its baseline is bbolt's own DB.Batch with a 4 ms MaxBatchDelay (the fixed delay the store had before its commits became adaptive; bbolt's default 10 ms is slower here), the same number of writes of about one message's size, run alone after the bot process stopped and with no sampler running, so the ratio is what the bot costs on top of its store. Render time is from the store (timeline read included) to the last byte of markdown.\n")
	return s.String()
}

// roundsNote says how the rounds are reported, for n > 1.
func roundsNote(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf("Ack latency, capture and the raw baselines are each measured in %d rounds, one after the other; a row gives the median round (for ack latency, the round with the median p99) and lists every round's figure.\n\n", n)
}

func cpuModel() string {
	buf, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(buf), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
