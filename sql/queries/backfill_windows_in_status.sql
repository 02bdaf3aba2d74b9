-- Windows of the given datasets in one status: 'failed' (retried by the next run) or 'partial'
-- (loaded but for quarantined values), reported at the end of a run.
SELECT dataset, instrument_name, window_start, window_end, attempts, last_error
FROM backfill_checkpoints
WHERE status = %(status)s AND dataset = ANY(%(datasets)s)
ORDER BY dataset, instrument_name, window_start
