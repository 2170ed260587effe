// Package postgres is incidentbot's store on PostgreSQL (15 or newer), for
// several `serve` replicas on one database. It has the methods of the
// bbolt store (package store) with the same semantics and error codes, and
// passes the same conformance suite (store/storetest); the correctness
// the bot relies on with several replicas comes from the database, not
// from any one process:
//
//   - INC-<n> ids come from a counter row updated inside the creating
//     transaction: its row lock serialises creations across replicas, and
//     a rolled-back creation gives its number back (a sequence would
//     leave a gap).
//   - Create-if-absent by unique constraints: incident_creates (the
//     CreateIncident dedup key), incident_commands (UpdateIncident's, per
//     incident), events (incident_id, dedup_key).
//   - Writers of an incident (UpdateIncident, AppendEvents) lock its row
//     (SELECT … FOR UPDATE) for the rest of their transaction, so updates
//     are serialised (no lost update) and the per-incident event sequence
//     numbers (the row's event_count) follow commit order: Seq 1..n with
//     no gaps. The row also keeps last_ts, the greatest Slack ts of a
//     message, so LastEventTS reads one row.
//   - RecordGap locks the incident's row (FOR NO KEY UPDATE), then the
//     channel's gaps (FOR UPDATE), and applies incidentbot.PlanGap's plan:
//     replicas recording gaps of a channel at once merge them one after
//     the other. SaveGap and CloseGap check the gap's revision in the
//     statement that writes it (EConflict when it moved).
//
// # Group commit
//
// AppendEvents, the capture path, goes through a committer goroutine per
// DB: it takes every call queued while it committed the previous group
// and commits them in one transaction, in one round trip: BEGIN, the lock
// of the incidents' rows (in id order, so that replicas cannot deadlock),
// then one statement (appendGroup) that, with a snapshot taken after the
// lock, leaves out the calls naming a missing incident and the events
// whose dedup key is stored or earlier in the group, numbers the rest
// after each incident's event_count, inserts them and moves the heads,
// then COMMIT (one WAL flush), pipelined in a pgx.Batch. The rows stay
// locked only while the server works, which is what the replicas writing
// one incident wait for. No part of the shared transaction fails for a
// caller's reason: that caller alone gets ENotFound or a smaller count. A
// lone call commits at once; a burst shares round trips and WAL flushes in
// groups that grow with the load.
//
// UpdateIncident has a group commit of its own, an updater goroutine per
// DB (update.go), because many commands update one incident at once: in
// one transaction it locks the fences' lease rows for share and the
// incidents' rows (in id order) and reads the command keys applied, all
// in one batch; runs each call's fn, per incident in arrival order, on a
// copy of the record as the calls before it left it; then writes each
// record once, all the calls' events (Seq in call order, duplicates
// skipped) and command keys, and COMMIT, in one batch. A call's own
// failure (a lost fence, a missing incident, a key already applied, fn's
// error, a taken channel) goes to it alone and its copy is dropped; if the
// transaction fails, each call runs again in a transaction of its own.
//
// # Schema
//
// The schema is created and migrated by versioned SQL migrations embedded
// in the binary (migrations/*.sql), applied by Open with
// github.com/pressly/goose/v3 under a PostgreSQL advisory lock (replicas
// starting together migrate once), each in its own transaction. goose
// records them in goose_db_version; a database whose version is newer than
// this binary knows is refused (EConflict, "… upgrade incidentbot"). The
// tables live in the first schema of the connection's search_path.
//
//	counters           (name PK, value)             the last incident id
//	incidents          (id PK, body JSONB, channel_id UNIQUE, open,
//	                    event_count, last_ts, created_at, updated_at)
//	incident_creates   (dedup_key PK, incident_id FK)
//	incident_commands  (incident_id FK, dedup_key) PK
//	events             (incident_id FK, seq) PK, UNIQUE (incident_id,
//	                    dedup_key) (NULL when the event had none), body JSONB
//	users              (id PK, body JSONB)
//	gaps               (id PK identity, incident_id FK, channel, rev,
//	                    body JSONB)                the backfill's gaps
//	leases             (name PK, holder, epoch, expires_at)  the scheduler's lease
//	cron_firings       (job PK, fired_at)          the scheduler's last cron firings
//
// Records are the domain types' JSON, as in the bbolt store, so a bbolt
// database and a PostgreSQL one hold the same values.
//
// # Passwords
//
// The password of the connection URL never appears in an error of this
// package: errors name the database by Redact(url).
package postgres
