-- +goose Up
-- leases: the replica that runs scheduled work (reminders, overdue DMs, the
-- outbox, channel repair, backfill). epoch grows each time a lease changes
-- hands (or is taken again); writes made as scheduled work are fenced by it.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE leases;
