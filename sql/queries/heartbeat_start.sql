-- A job run starts (job_heartbeats, read by `ingest status`).
INSERT INTO job_heartbeats AS h (job_name, holder, last_started, last_outcome)
VALUES (%(job)s, %(holder)s, now(), 'running')
ON CONFLICT (job_name) DO UPDATE SET holder = excluded.holder, last_started = excluded.last_started,
    last_outcome = 'running'
