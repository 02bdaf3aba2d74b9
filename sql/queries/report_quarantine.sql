-- `ingest report`, quarantine summary: payloads rejected by validation in [%(since)s, %(until)s)
-- (by received_at), one row per dataset and reason.
SELECT dataset, reason,
       count(*)                        AS payloads,
       count(DISTINCT instrument_name) AS instruments,
       min(received_at)                AS first_received,
       max(received_at)                AS last_received
FROM quarantine
WHERE received_at >= %(since)s::timestamptz AND received_at < %(until)s::timestamptz
GROUP BY dataset, reason
ORDER BY payloads DESC, dataset, reason
