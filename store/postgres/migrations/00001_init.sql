-- The first schema of incidentbot's PostgreSQL store; see doc.go.

-- +goose Up
-- counters holds the last incident id handed out. It is a row, not a
-- sequence: a sequence keeps the numbers of rolled-back transactions, and
-- INC-<n> must be 1, 2, 3... with no gaps. Updating it locks it until the
-- creating transaction ends, which serialises incident creation (rare).
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

-- incidents: one row per incident, the record as JSONB plus the columns
-- that are queried or locked. event_count and last_ts are the timeline's
-- head, changed only by a transaction that holds the row lock.
CREATE TABLE incidents (
    id          bigint PRIMARY KEY CHECK (id > 0),
    body        jsonb NOT NULL,
    channel_id  text UNIQUE CHECK (channel_id <> ''),
    open        boolean NOT NULL,
    event_count bigint NOT NULL DEFAULT 0,
    last_ts     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_open ON incidents (id) WHERE open;

-- incident_creates: the dedup keys of CreateIncident (a redelivered
-- command creates nothing).
CREATE TABLE incident_creates (
    dedup_key   text PRIMARY KEY CHECK (dedup_key <> ''),
    incident_id bigint NOT NULL REFERENCES incidents (id)
);

-- incident_commands: the dedup keys UpdateIncident applied, per incident.
CREATE TABLE incident_commands (
    incident_id bigint NOT NULL REFERENCES incidents (id),
    dedup_key   text NOT NULL CHECK (dedup_key <> ''),
    PRIMARY KEY (incident_id, dedup_key)
);

-- events: the timelines. seq is 1..n per incident in commit order; a
-- NULL dedup_key (the event had none) is never a duplicate.
CREATE TABLE events (
    incident_id bigint NOT NULL REFERENCES incidents (id),
    seq         bigint NOT NULL CHECK (seq > 0),
    dedup_key   text CHECK (dedup_key <> ''),
    body        jsonb NOT NULL,
    PRIMARY KEY (incident_id, seq),
    UNIQUE (incident_id, dedup_key)
);

CREATE TABLE users (
    id   text PRIMARY KEY CHECK (id <> ''),
    body jsonb NOT NULL
);

-- +goose Down
DROP TABLE users;
DROP TABLE events;
DROP TABLE incident_commands;
DROP TABLE incident_creates;
DROP TABLE incidents;
DROP TABLE counters;
