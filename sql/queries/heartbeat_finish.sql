-- A job run ends: outcome ok|partial|error with its figures.
INSERT INTO job_heartbeats AS h (job_name, holder, last_started, last_finished, last_outcome, last_rows,
                                 last_requests, last_duration_ms, last_error)
VALUES (%(job)s, %(holder)s, %(started)s, now(), %(outcome)s, %(rows)s, %(requests)s, %(duration_ms)s,
        %(error)s)
ON CONFLICT (job_name) DO UPDATE SET holder = excluded.holder, last_started = excluded.last_started,
    last_finished = excluded.last_finished, last_outcome = excluded.last_outcome,
    last_rows = excluded.last_rows, last_requests = excluded.last_requests,
    last_duration_ms = excluded.last_duration_ms, last_error = excluded.last_error
