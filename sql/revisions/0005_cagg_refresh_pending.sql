-- Revision 0005: nothing loaded is left out of the continuous aggregates, and a window whose only
-- problem is values that stayed invalid across retries is told apart from a complete one.

-- Every load records the time range it wrote, per hypertable, in the same transaction as the rows.
-- The backfill (at the end of every run, even one that loads nothing) and the live collector refresh
-- the aggregates over these ranges and then delete them: a run killed before its refresh leaves its
-- ranges here for the next one, so the aggregates always end up complete.
CREATE TABLE cagg_refresh_pending (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hypertable   text        NOT NULL,
    range_start  timestamptz NOT NULL,
    range_end    timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (range_start <= range_end)
);
CREATE INDEX cagg_refresh_pending_table_idx ON cagg_refresh_pending (hypertable, id);

-- 'partial': loaded, except values that stayed invalid across retries (quarantined).
ALTER TABLE backfill_checkpoints DROP CONSTRAINT backfill_checkpoints_status_check;
ALTER TABLE backfill_checkpoints ADD CONSTRAINT backfill_checkpoints_status_check
    CHECK (status IN ('done', 'partial', 'failed'));
