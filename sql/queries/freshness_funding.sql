-- `ingest status`, dataset funding: hourly rows per perpetual; columns: see freshness_perpetuals.sql.
SELECT 'funding' AS dataset, instrument_name AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 3600 AS cadence_s, true AS checked
FROM funding_rates WHERE ts > now() - INTERVAL '30 days' GROUP BY instrument_name
ORDER BY grp
