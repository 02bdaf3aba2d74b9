-- Last run and outcome of every job (job_heartbeats).
SELECT job_name, holder, last_started, last_finished, last_outcome, last_rows, last_requests,
       last_duration_ms, last_error, now() - coalesce(last_finished, last_started) AS age
FROM job_heartbeats ORDER BY job_name
