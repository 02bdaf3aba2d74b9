-- Finished windows of one dataset, 'partial' ones included (their invalid values were confirmed by a
-- second answer): a planned window is skipped when one of these contains it.
SELECT instrument_name, window_start, window_end, rows_loaded
FROM backfill_checkpoints
WHERE dataset = %(dataset)s AND status IN ('done', 'partial')
