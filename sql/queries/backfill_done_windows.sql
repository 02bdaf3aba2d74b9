-- Finished windows of one dataset (a planned window is skipped when one of these contains it).
SELECT instrument_name, window_start, window_end, rows_loaded
FROM backfill_checkpoints
WHERE dataset = %(dataset)s AND status = 'done'
