-- `ingest status`, dataset dvol: per currency, the newest DVOL minute and the minutes of the last 24 h;
-- columns: see freshness_perpetuals.sql.
SELECT 'dvol' AS dataset, currency AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 60 AS cadence_s, true AS checked
FROM dvol WHERE ts > now() - INTERVAL '30 days' GROUP BY currency
ORDER BY grp
