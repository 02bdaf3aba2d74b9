-- `ingest status`, dataset historical_volatility (forward-only): per currency, the newest hourly point
-- and the points of the last 24 h; and one more group per gap of the last 30 days between stored points
-- (an outage longer than the ~16 days the exchange keeps): never to be filled, so it is reported as
-- stale, with the hours lost. Columns: see freshness_perpetuals.sql.
SELECT 'historical_volatility' AS dataset, currency AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 3600 AS cadence_s, true AS checked
FROM historical_volatility WHERE ts > now() - INTERVAL '30 days' GROUP BY currency
UNION ALL
SELECT 'historical_volatility',
       currency || ' GAP after ' || to_char(gap_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC: '
           || hours_missing || ' h never collected',
       gap_after, 0, 3600, true
FROM historical_volatility_gaps WHERE gap_until > now() - INTERVAL '30 days'
ORDER BY grp
