-- `ingest status`, dataset perpetuals: per perpetual, the last candle, the rows of the last 24 h.
-- Columns of every freshness_<dataset>.sql: dataset, grp, last_ts, rows_24h, cadence_s (how often the
-- group is written: the staleness threshold adds it), checked (false: sparse by nature, never stale).
-- Only the last 30 days are looked at.
SELECT 'perpetuals' AS dataset, instrument_name AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 60 AS cadence_s, true AS checked
FROM perpetuals_ohlcv WHERE ts > now() - INTERVAL '30 days' GROUP BY instrument_name
ORDER BY grp
