-- +goose Up
-- cron_firings: the last firing of each cron job of the scheduler (the
-- action reminder cron), recorded by the lease holder before it runs the
-- firing, so that a firing is neither skipped when the lease changes hands
-- across it nor run twice.
CREATE TABLE cron_firings (
    job      text PRIMARY KEY,
    fired_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE cron_firings;
