-- A window's rows are loaded: written in the same transaction as the rows themselves.
INSERT INTO backfill_checkpoints AS c
    (dataset, instrument_name, window_start, window_end, status, rows_loaded, attempts, last_error, updated_at)
VALUES (%(dataset)s, %(instrument)s, %(start)s, %(end)s, 'done', %(rows)s, 1, NULL, now())
ON CONFLICT (dataset, instrument_name, window_start) DO UPDATE SET
    window_end  = excluded.window_end,
    status      = 'done',
    rows_loaded = excluded.rows_loaded,
    attempts    = c.attempts + 1,
    last_error  = NULL,
    updated_at  = now()
