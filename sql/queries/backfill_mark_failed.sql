-- A window kept failing: recorded, reported at the end, retried on the next run.
INSERT INTO backfill_checkpoints AS c
    (dataset, instrument_name, window_start, window_end, status, rows_loaded, attempts, last_error, updated_at)
VALUES (%(dataset)s, %(instrument)s, %(start)s, %(end)s, 'failed', 0, 1, %(error)s, now())
ON CONFLICT (dataset, instrument_name, window_start) DO UPDATE SET
    window_end  = excluded.window_end,
    status      = 'failed',
    rows_loaded = 0,
    attempts    = c.attempts + 1,
    last_error  = excluded.last_error,
    updated_at  = now()
