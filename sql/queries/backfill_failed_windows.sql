-- Windows still failed for the given datasets (reported at the end of a run).
SELECT dataset, instrument_name, window_start, window_end, attempts, last_error
FROM backfill_checkpoints
WHERE status = 'failed' AND dataset = ANY(%(datasets)s)
ORDER BY dataset, instrument_name, window_start
