-- `ingest status`, dataset settlements: per currency, the newest event and the events of the last 24 h;
-- columns: see freshness_perpetuals.sql. Events come once a day (08:00 UTC) and the live job runs
-- hourly: a day and an hour between them.
SELECT 'settlements' AS dataset, currency AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 90000 AS cadence_s, true AS checked
FROM settlements WHERE ts > now() - INTERVAL '30 days' GROUP BY currency
ORDER BY grp
