-- The backfill's gaps (incidentbot.Gap); see doc.go.

-- +goose Up
-- gaps: the pending backfill gaps, one row each until closed. body is the
-- gap's JSON without the columns (id, incident_id, channel, rev), which
-- are authoritative. rev is bumped by every write; SaveGap and CloseGap
-- write only the revision they read. RecordGap locks the incident's row,
-- then the channel's gaps, so that replicas recording gaps of a channel at
-- once merge them one after the other.
CREATE TABLE gaps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id),
    channel     text NOT NULL CHECK (channel <> ''),
    body        jsonb NOT NULL,
    rev         bigint NOT NULL CHECK (rev > 0)
);
CREATE INDEX gaps_channel ON gaps (incident_id, channel);

-- +goose Down
DROP TABLE gaps;
