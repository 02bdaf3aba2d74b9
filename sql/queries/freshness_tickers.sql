-- `ingest status`, dataset tickers: the hourly sweep of the exchange's greeks (a slice every minute);
-- columns: see freshness_perpetuals.sql.
SELECT 'tickers' AS dataset, split_part(instrument_name, '-', 1) || ' options exchange' AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 3600 AS cadence_s, true AS checked
FROM options_greeks WHERE ts > now() - INTERVAL '30 days' AND source = 'exchange'
GROUP BY 2
ORDER BY grp
