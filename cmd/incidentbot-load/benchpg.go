package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incidentbot/incidentbot/store/postgres"
)

// pgReplicas is how many `serve` replicas the PostgreSQL run starts on one
// schema, each with its own Socket Mode connection.
const pgReplicas = 3

// The PostgreSQL targets (issue 12).
const (
	pgAckTarget     = 50 * time.Millisecond // p99 at 100 in flight, 3 replicas
	pgRatioTarget   = 0.50                  // capture / raw batched insert
	pgStartupTarget = 2 * time.Second       // 10,000 incidents, 1,000,000 events
)

// pgVerdict is one PostgreSQL target, met or not, for BENCHMARKS.md.
type pgVerdict struct {
	what, figure string
	met          bool
}

// runPG measures the bot on PostgreSQL after run measured it on bbolt,
// adding the PostgreSQL column of the rows: pgReplicas replicas of the
// bot on one fresh schema of the database at base (ack latency, capture,
// memory), then, alone, the raw baseline (capturePGBaseline) on another,
// then the start-up of one replica on a third schema filled with
// sz.incidents incidents and sz.events events. Every schema it created is
// dropped at the end. It uses a new emulator (the bbolt run's closed), so
// that channel names start afresh.
func (b *benchRun) runPG(ctx context.Context, sz benchSizes, base string) (err error) {
	schemas, err := openSchemas(ctx, base, b.logf)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := schemas.close(); err == nil {
			err = cerr
		}
	}()
	var version string
	if err := schemas.admin.QueryRow(ctx, `SELECT current_setting('server_version') || ' on the same machine over loopback (synchronous_commit ' || current_setting('synchronous_commit') || ', fsync ' || current_setting('fsync') || ')'`).Scan(&version); err != nil {
		return err
	}
	b.pgServer = "PostgreSQL " + version

	alice, bob, general, err := b.startSlack()
	if err != nil {
		return err
	}

	// 1. Replicas on one schema: idle memory, ack latency, capture.
	b.logf("== %d replicas (child processes) on PostgreSQL %s, one schema, against the emulator", pgReplicas, postgres.Redact(base))
	liveURL, err := schemas.create(ctx, "live")
	if err != nil {
		return err
	}
	var reps []*serveProc
	for i := range pgReplicas {
		p, _, err := b.startServe(liveURL, fmt.Sprintf("INCIDENTBOT_REPLICA_ID=load-%d", i+1))
		if err != nil {
			return fmt.Errorf("replica %d: %w", i+1, err)
		}
		reps = append(reps, p)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = b.emu.WaitConnected(cctx, pgReplicas)
	cancel()
	if err != nil {
		return fmt.Errorf("%d sockets: %w", pgReplicas, err)
	}
	channel, err := b.openLoadIncident(ctx, alice, general)
	if err != nil {
		return err
	}
	largest := func() uint64 {
		var m int64
		for _, p := range reps {
			m = max(m, p.rss())
		}
		return uint64(m)
	}
	time.Sleep(2 * time.Second)
	b.addPG("resident memory, idle", mb(int64(largest()))+" (largest replica)", "")
	stopRSS := sampleMax(20*time.Millisecond, largest)

	var ackLoad dbLoad
	for _, n := range sz.inFlight {
		all, med, err := ackMedian(sz.rounds, func() (ackRound, error) {
			stopLoad := samplePG(ctx, liveURL, reps)
			lat, err := b.ackLatencies(ctx, bob, channel, n, max(sz.commands, 3*n))
			load := stopLoad()
			b.drain()
			return ackRound{lat: lat, load: load}, err
		})
		if err != nil {
			return fmt.Errorf("ack latency, %d in flight: %w", n, err)
		}
		target := ""
		if n == 100 {
			ackLoad = med.load
			target = fmt.Sprintf("p99 < %d ms (%d replicas)", pgAckTarget.Milliseconds(), pgReplicas)
			b.pgVerdicts = append(b.pgVerdicts, pgVerdict{fmt.Sprintf("slash-command ack p99 < %d ms at 100 in flight, %d replicas", pgAckTarget.Milliseconds(), pgReplicas), msDur(med.p99()), med.p99() < pgAckTarget})
		}
		b.addPG(whatAck(n), ackString(all, med), target)
	}

	caps, capMed, err := rateMedian(sz.rounds, func() (rateRound, error) {
		rate, load, err := b.capture(bob, channel, sz.capture, func() func() dbLoad { return samplePG(ctx, liveURL, reps) })
		return rateRound{rate: rate, load: load}, err
	})
	if err != nil {
		return err
	}
	rate, captureLoad := capMed.rate, capMed.load
	peak := int64(stopRSS())
	b.addPG(whatCapture(sz), rateString(caps, capMed, "events/s", fmt.Sprintf("%d replicas", pgReplicas)), "")
	b.addPG("resident memory, peak under load", mb(peak)+" (largest replica)", "")
	for i, p := range reps {
		if err := p.stop(); err != nil {
			return fmt.Errorf("replica %d: %w", i+1, err)
		}
	}
	captureTx, captureGroup, err := groupShape(ctx, liveURL)
	if err != nil {
		return err
	}

	// 2. The baseline, alone: the replicas stopped, the sampler too.
	base0 := capturePGBaseline()
	var rawURL string
	raws, rawMed, err := rateMedian(sz.rounds, func() (rateRound, error) {
		u, err := schemas.create(ctx, "raw")
		if err != nil {
			return rateRound{}, err
		}
		rawURL = u
		raw, _, err := base0.rate(ctx, u, sz.capture)
		return rateRound{rate: raw}, err
	})
	if err != nil {
		return err
	}
	raw := rawMed.rate
	rawTx, rawGroup, err := groupShape(ctx, rawURL)
	if err != nil {
		return err
	}
	// 2b. The store alone, the ceiling of capture on it.
	alone0 := captureStoreAlone()
	alones, aloneMed, err := rateMedian(sz.rounds, func() (rateRound, error) {
		u, err := schemas.create(ctx, "alone")
		if err != nil {
			return rateRound{}, err
		}
		r, err := alone0.rate(ctx, u, sz.capture)
		return rateRound{rate: r}, err
	})
	if err != nil {
		return err
	}
	alone := aloneMed.rate
	b.pgStoreAlone = alone0.String()
	b.pgBaseline = base0.String()
	b.pgShape = fmt.Sprintf("The group commit put the %d captured messages (%d rounds) in %d transactions (%.0f events per transaction on average, counted from the rows' xmin); the raw baseline's last round, in %d (%.0f per transaction).",
		len(caps)*sz.capture, len(caps), captureTx, captureGroup, rawTx, rawGroup)
	b.pgLoad = fmt.Sprintf("While the commands at 100 in flight were timed (the median round): %s. While the messages were captured (the median round): %s.", ackLoad, captureLoad)
	b.logf("  %s", b.pgShape)
	b.logf("  %s", b.pgLoad)
	row := b.addPG(keyBaseline, rateString(raws, rawMed, "writes/s", ""), "")
	row.pgWhat = fmt.Sprintf("raw batched writes to bbolt or PostgreSQL without the store's code (same run), %d writes of about one message's size (each baseline described below)", sz.capture)
	row = b.addPGAfter(keyBaseline, "store alone", rateString(alones, aloneMed, "events/s", fmt.Sprintf("%.2f of the raw baseline", alone/raw)), "")
	row.pgWhat = fmt.Sprintf("the store alone, no bot and no Slack (same run), %d captured messages (described below): the ceiling of capture on this store", sz.capture)
	row = b.addPG(keyRatio, fmt.Sprintf("%.2f", rate/raw), fmt.Sprintf(">= %.2f", pgRatioTarget))
	row.pgWhat = "capture / raw baseline of the same store, like for like (the headline)"
	b.pgVerdicts = append(b.pgVerdicts, pgVerdict{fmt.Sprintf("capture >= %.0f%% of the raw batched PostgreSQL insert", pgRatioTarget*100),
		fmt.Sprintf("%.0f%% (%.0f / %.0f events/s)", 100*rate/raw, rate, raw), rate/raw >= pgRatioTarget})
	b.pgAnalysis = b.analysis(ackLoad, captureLoad, rate, raw, alone)

	// 3. Start-up of one replica on a large database.
	b.logf("== PostgreSQL start-up with %d incidents and %d events", sz.incidents, sz.events)
	bigURL, err := schemas.create(ctx, "big")
	if err != nil {
		return err
	}
	if err := b.generatePG(ctx, bigURL, sz); err != nil {
		return err
	}
	big, took, err := b.startServe(bigURL, "INCIDENTBOT_REPLICA_ID=load-big")
	if err != nil {
		return err
	}
	b.addPG(whatStartup(sz), msDur(took)+" (one replica)", fmt.Sprintf("< %.0f s", pgStartupTarget.Seconds()))
	b.pgVerdicts = append(b.pgVerdicts, pgVerdict{fmt.Sprintf("start-up to ready < %.0f s with %d incidents and %d events", pgStartupTarget.Seconds(), sz.incidents, sz.events), msDur(took), took < pgStartupTarget})
	b.addPG("resident memory right after that start-up", mb(big.rss()), "")
	return big.stop()
}

// groupShape counts the transactions that inserted the captured messages
// (events whose text is the capture's, told apart by their rows' xmin) in
// the schema at dsn, and returns it with the mean events per transaction.
func groupShape(ctx context.Context, dsn string) (int64, float64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("group shape: %s", redacted(dsn, err))
	}
	defer conn.Close(ctx)
	var txs, rows int64
	err = conn.QueryRow(ctx, `SELECT count(DISTINCT xmin::text), count(*) FROM events WHERE body->>'text' = $1`, strings.Repeat("x", 200)).Scan(&txs, &rows)
	if err != nil {
		return 0, 0, fmt.Errorf("group shape: %w", err)
	}
	if txs == 0 {
		return 0, 0, nil
	}
	return txs, float64(rows) / float64(txs), nil
}

// markdownPG renders the results of a run with --postgres: bbolt and
// PostgreSQL side by side, then whether PostgreSQL met its targets.
func (b *benchRun) markdownPG(cmdline string) string {
	var s strings.Builder
	s.WriteString("# Benchmarks\n\n")
	fmt.Fprintf(&s, "Measured by the load tool, `cmd/incidentbot-load` (its own command, kept out of the release binary), in one run: the real bot runs as its own process (`incidentbot serve`) against the built-in Slack emulator over loopback (HTTP Web API and Socket Mode websockets), first on bbolt (one process, its database on local disk, fsync on), then on PostgreSQL (%d replicas on one schema, each with its own Socket Mode connection; the emulator gives each envelope to one of them at random, as Slack does). Ratios are taken against a baseline of the same store measured in the same run, alone, because these machines are noisy.\n\n", pgReplicas)
	fmt.Fprintf(&s, "Reproduce: `%s` (writes this file; a few minutes, most of it generating the two large databases; URL is a PostgreSQL database in which the tool creates fresh schemas, `incidentbot_load_*`, dropped at the end; without `--postgres` it measures bbolt alone; `--quick` for small sizes, `-bin FILE` to measure a given incidentbot binary instead of building ./cmd/incidentbot). The crash soak: `go run ./cmd/incidentbot-load soak -kills 100`. Store-level benchmarks: `go test -run XXX -bench GroupCommit ./store/` (bbolt) and `INCIDENTBOT_TEST_POSTGRES=URL go test -run XXX -bench . ./store/postgres/`.\n\n", cmdline)
	s.WriteString(roundsNote(b.rounds))
	fmt.Fprintf(&s, "Machine: %s, %d CPUs, %s, %s/%s, %s, load average %s when the run started (the machine is shared), measured %s.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, b.pgServer, b.loadAvg, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&s, "| measure | bbolt (1 process) | PostgreSQL (%d replicas, one schema) | target |\n|---|---|---|---|\n", pgReplicas)
	for _, r := range b.rows {
		what := r.what
		if r.pgWhat != "" {
			what = r.pgWhat
		}
		target := r.target
		switch {
		case r.pgTarget == "" || r.pgTarget == r.target:
		case r.target == "":
			target = "PostgreSQL: " + r.pgTarget
		default:
			target = "bbolt: " + r.target + "; PostgreSQL: " + r.pgTarget
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s |\n", what, dash(r.result), dash(r.pg), target)
	}
	s.WriteString("\n## PostgreSQL targets\n\n")
	for _, v := range b.pgVerdicts {
		verdict := "met"
		if !v.met {
			verdict = "**MISSED**"
		}
		fmt.Fprintf(&s, "- %s: %s — %s\n", v.what, v.figure, verdict)
	}
	if b.pgLoad != "" {
		s.WriteString("\nSampled in the same run (pg_stat_activity every 10 ms, /proc): " + b.pgLoad + " " + b.pgShape + "\n")
	}
	if b.pgAnalysis != "" {
		s.WriteString("\n" + strings.TrimRight(b.pgAnalysis, "\n") + "\n")
	}
	s.WriteString("\n## Notes\n\n")
	s.WriteString("Ack latency is from the emulator writing the slash-command envelope to reading its acknowledgement, and includes the commit to the store; each command is a status update of the same incident, so on PostgreSQL the replicas' updates queue on that incident's row lock, and each command's follow-ups (channel post, header update) load the bot too. Capture queues the messages in the emulator first (as Slack queues events for a busy app) and times their acknowledgements, each sent after the event was committed; on PostgreSQL the emulator spreads them over the replicas. The sampler (pg_stat_activity, CPU) covers exactly the timed part: from the queued messages' release to the last acknowledgement.\n\n")
	fmt.Fprintf(&s, "The capture ratios are like for like, each against a raw baseline of its own store, measured in the same run, alone (the bot stopped, no sampler running), with the same number of writes of about one message's size:\n\n")
	fmt.Fprintf(&s, "- bbolt: %s. It is bbolt's own DB.Batch with a 4 ms MaxBatchDelay (the fixed delay the store had before its commits became adaptive; bbolt's default 10 ms is slower here).\n", captureBaseline())
	fmt.Fprintf(&s, "- PostgreSQL: %s, on a fresh schema made by the store's migrations (so the events table has its primary key and its unique (incident_id, dedup_key) index), one incident, bodies encoded as the store encodes a captured message. This is the concurrency shape the group commit gets from %d replicas — one committer per replica, each taking whatever its callers queued (the bot handles up to 1024 envelopes at once) — without what the store adds per group: locking the incident's row, reading which dedup keys are stored, updating the timeline head, answering each caller.\n\n", b.pgBaseline, pgReplicas)
	fmt.Fprintf(&s, "- The store alone (the middle rung, between the raw insert and the bot): %s, on a fresh schema of its own, one incident, the same messages. What it adds to the raw insert is what the store's contract asks: dedup (a stored key is not stored again), a timeline numbered 1..n in commit order under the incident's row lock, the head (event count, last message ts) moved in the same transaction.\n\n", b.pgStoreAlone)
	fmt.Fprintf(&s, "Start-up on PostgreSQL is one replica starting on a schema filled beforehand straight into the tables by COPY (the same incidents and timelines as the bbolt database, encoded as the store encodes them, then ANALYZE as autovacuum would), up to /readyz answering 200, which on PostgreSQL includes a ping that the database takes writes. Render time (bbolt only) is from the store (timeline read included) to the last byte of markdown.\n")
	return s.String()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// dbLoad is what samplePG saw of the database's client backends (the
// sampler's own excluded), averaged over its samples, and the machine's
// CPU use over the same time.
type dbLoad struct {
	active, lockWait, walWait float64 // backends running a statement; of them, waiting for a lock; in a WAL write or flush
	cpuBusy                   float64 // fraction of all CPUs busy (from /proc/stat)
	botCPU                    float64 // CPUs used by the bot processes given
	toolCPU                   float64 // CPUs used by this process: the emulator, the load, the sampler
}

// String says it in a sentence's words.
func (l dbLoad) String() string {
	return fmt.Sprintf("on average %.1f PostgreSQL backends running a statement, %.1f of them waiting for a lock and %.1f in a WAL write or flush; the machine's CPUs %.0f%% busy, the bot replicas using %.2f of its %d CPUs and the load tool (the emulator) %.2f",
		l.active, l.lockWait, l.walWait, 100*l.cpuBusy, l.botCPU, runtime.NumCPU(), l.toolCPU)
}

// samplePG samples pg_stat_activity of the database at dsn every 10 ms
// until the returned stop is called, which returns the averages, with the
// CPU used meanwhile by the machine and by procs. Sampling errors leave
// the figures at zero.
func samplePG(ctx context.Context, dsn string, procs []*serveProc) (stop func() dbLoad) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return func() dbLoad { return dbLoad{} }
	}
	busy0, total0 := machineCPU()
	bot0, tool0 := procsCPU(procs), selfCPU()
	start := time.Now()
	done, result := make(chan struct{}), make(chan dbLoad)
	go func() {
		defer conn.Close(ctx)
		var sum dbLoad
		var n int
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				busy1, total1 := machineCPU()
				if n > 0 {
					sum.active, sum.lockWait, sum.walWait = sum.active/float64(n), sum.lockWait/float64(n), sum.walWait/float64(n)
				}
				if total1 > total0 {
					sum.cpuBusy = float64(busy1-busy0) / float64(total1-total0)
				}
				sum.botCPU = (procsCPU(procs) - bot0).Seconds() / time.Since(start).Seconds()
				sum.toolCPU = (selfCPU() - tool0).Seconds() / time.Since(start).Seconds()
				result <- sum
				return
			case <-t.C:
			}
			var a, l, w float64
			err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'active'),
				count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),
				count(*) FILTER (WHERE state = 'active' AND wait_event IN ('WALWrite', 'WALSync', 'WALInsert'))
				FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&a, &l, &w)
			if err == nil {
				sum.active, sum.lockWait, sum.walWait = sum.active+a, sum.lockWait+l, sum.walWait+w
				n++
			}
		}
	}()
	return func() dbLoad { close(done); return <-result }
}

// machineCPU returns the busy and total jiffies of all CPUs, from
// /proc/stat (zero where it cannot be read).
func machineCPU() (busy, total int64) {
	buf, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(buf), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 7 { // guest time is counted in user already
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// procsCPU returns the CPU time (user and system) the processes used so
// far, from /proc (100 ticks a second, Linux's USER_HZ).
func procsCPU(procs []*serveProc) time.Duration {
	var ticks int64
	for _, p := range procs {
		buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(buf), ") ")
		if f := strings.Fields(rest); ok && len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// selfCPU returns the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// analysis says, for each PostgreSQL target missed, what the figures of
// the run suggest.
func (b *benchRun) analysis(ack, capture dbLoad, rate, raw, alone float64) string {
	var s strings.Builder
	for _, v := range b.pgVerdicts {
		if v.met {
			continue
		}
		switch {
		case strings.HasPrefix(v.what, "slash-command ack"):
			fmt.Fprintf(&s, "- Ack latency: the slowest commands are those of the start, when the 100 commands arrive at once. While they were in flight, %.1f of the %.1f busy PostgreSQL backends waited for a lock and the machine's CPUs were %.0f%% busy (the replicas %.2f CPUs, the emulator %.2f). Every command is a status update of the same incident: each replica group-commits its queued UpdateIncident calls in one transaction (two round trips with the incident's row locked, the calls applied in order in between), and the replicas' groups take turns on that lock, so a lock holder that waits for a CPU keeps the other replicas waiting. The store alone is under the target (go test -bench UpdateIncident ./store/postgres/, 100 in flight, 3 pools on one schema). Measured and not kept: an optimistic update (read unlocked, write under a version check: worse, almost every group conflicted), a larger connection pool (worse: more backends contending), a writer pool apart from the readers (no change).\n",
				ack.lockWait, ack.active, 100*ack.cpuBusy, ack.botCPU, ack.toolCPU)
		case strings.HasPrefix(v.what, "capture"):
			busy := capture.cpuBusy * float64(runtime.NumCPU())
			perMsg := func(cpus float64) float64 { return cpus / max(rate, 1) * 1e6 }
			fmt.Fprintf(&s, "- Capture: the bot on PostgreSQL (%d replicas) captured %.0f events/s, %.2f× the bot on bbolt (one process) in the same run; the raw PostgreSQL baseline, alone, wrote %.0f/s, and the store alone (AppendEvents from %d pools, no bot, no Slack) %.0f/s, %.2f of the raw baseline: the ceiling of capture on this store, of which the bot captured %.2f. The store's share of the gap: each group's insert runs under the incident's row lock (the store numbers a timeline 1..n in commit order, and a group's numbers are known only once the group before it committed), so the replicas' inserts into one incident run one at a time where the raw baseline runs %d at once, and each group also looks up its dedup keys and moves the timeline head. The bot's share: CPU per captured message while capturing (the timed part only): the replicas %.0f µs, the emulator and load tool %.0f µs, PostgreSQL and the rest of the machine %.0f µs (%.0f%% of the %d CPUs busy); the raw baseline had the CPUs to itself. For scale: Slack delivers an app at most 30,000 events an hour from one workspace (the Events API's rate limit, about 8 a second), so these rates are headroom for a burst or the backlog after a reconnect, not a rate real traffic reaches.\n",
				pgReplicas, rate, rate/max(b.boltCapture, 1), raw, pgReplicas, alone, alone/max(raw, 1), rate/max(alone, 1), pgReplicas,
				perMsg(capture.botCPU), perMsg(capture.toolCPU), perMsg(max(busy-capture.botCPU-capture.toolCPU, 0)),
				100*capture.cpuBusy, runtime.NumCPU())
		case strings.HasPrefix(v.what, "start-up"):
			s.WriteString("- Start-up: longer than the target; see the replica's log at debug level for what it reads before it is ready.\n")
		}
	}
	if s.Len() == 0 {
		return ""
	}
	return "What the figures suggest about the targets missed (the bot and the store are as they are; nothing was tuned for this run):\n\n" + s.String()
}
