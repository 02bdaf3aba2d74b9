-- Revert revision 0005 (a 'partial' window becomes 'failed': it is fetched again).
UPDATE backfill_checkpoints SET status = 'failed' WHERE status = 'partial';
ALTER TABLE backfill_checkpoints DROP CONSTRAINT backfill_checkpoints_status_check;
ALTER TABLE backfill_checkpoints ADD CONSTRAINT backfill_checkpoints_status_check
    CHECK (status IN ('done', 'failed'));
DROP TABLE cagg_refresh_pending;
