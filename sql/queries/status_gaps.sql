-- Open gaps (missing minutes between stored candles) of the last %(days)s days, per dataset.
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
SELECT dataset, count(*) AS gaps,
       coalesce(sum((extract(epoch FROM next_ts - ts) / 60)::bigint - 1), 0) AS missing_minutes,
       max((extract(epoch FROM next_ts - ts) / 60)::bigint - 1) AS longest_minutes
FROM runs WHERE next_ts > ts + INTERVAL '1 minute'
GROUP BY dataset ORDER BY dataset
