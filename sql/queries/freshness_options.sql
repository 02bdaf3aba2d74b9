-- `ingest status`, dataset options: option candles exist only for minutes with trades, so the group is
-- never stale (checked = false); columns: see freshness_perpetuals.sql.
SELECT 'options' AS dataset, split_part(instrument_name, '-', 1) || ' options (traded minutes)' AS grp,
       max(ts) AS last_ts, count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h,
       60 AS cadence_s, false AS checked
FROM options_ohlcv WHERE ts > now() - INTERVAL '30 days' GROUP BY 2
ORDER BY grp
