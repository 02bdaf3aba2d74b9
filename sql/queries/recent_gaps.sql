-- Missing minutes between stored candles of perpetuals and futures in the last %(days)s days
-- (the same definition as the ohlcv_gaps view of sql/views/40_data_quality.sql, bounded in time so
-- it stays cheap to run every few minutes). gap_start inclusive, gap_end exclusive (the next candle).
-- Used by the gap-repair job (newest first, %(limit)s of them) and by `ingest status` (limit NULL: all).
WITH candles AS (
    SELECT 'perpetuals_ohlcv'::text AS dataset, instrument_name, ts FROM perpetuals_ohlcv
    WHERE ts > now() - make_interval(secs => %(days)s * 86400)
    UNION ALL
    SELECT 'futures_ohlcv'::text, instrument_name, ts FROM futures_ohlcv
    WHERE ts > now() - make_interval(secs => %(days)s * 86400)
), runs AS (
    SELECT dataset, instrument_name, ts, lead(ts) OVER (PARTITION BY dataset, instrument_name ORDER BY ts) AS next_ts
    FROM candles
)
SELECT dataset, instrument_name, ts + INTERVAL '1 minute' AS gap_start, next_ts AS gap_end,
       (extract(epoch FROM next_ts - ts) / 60)::bigint - 1 AS missing_minutes
FROM runs
WHERE next_ts > ts + INTERVAL '1 minute'
ORDER BY gap_start DESC
LIMIT %(limit)s
