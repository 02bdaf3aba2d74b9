-- `ingest status`, dataset chain: a chain snapshot covers every option of the currency at its minute,
-- so the group's last_ts is the newest snapshot minute (options that expired stop by design);
-- columns: see freshness_perpetuals.sql.
SELECT 'chain' AS dataset, split_part(instrument_name, '-', 1) || ' options computed' AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 60 AS cadence_s, true AS checked
FROM options_greeks WHERE ts > now() - INTERVAL '30 days' AND source = 'computed'
GROUP BY 2
ORDER BY grp
