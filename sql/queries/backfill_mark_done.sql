-- A window's rows are loaded: written in the same transaction as the rows themselves. Status 'done',
-- or 'partial' when values that stayed invalid across answers were quarantined (last_error says why).
INSERT INTO backfill_checkpoints AS c
    (dataset, instrument_name, window_start, window_end, status, rows_loaded, attempts, last_error, updated_at)
VALUES (%(dataset)s, %(instrument)s, %(start)s, %(end)s, %(status)s, %(rows)s, 1, %(error)s, now())
ON CONFLICT (dataset, instrument_name, window_start) DO UPDATE SET
    window_end  = excluded.window_end,
    status      = excluded.status,
    rows_loaded = excluded.rows_loaded,
    attempts    = c.attempts + 1,
    last_error  = excluded.last_error,
    updated_at  = now()
