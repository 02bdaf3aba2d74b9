-- `ingest report`, coverage heatmap: one row per perpetual or dated future and UTC day of the range
-- [%(since)s, %(until)s) (whole days: the first day starts at since's midnight), with the 1-minute
-- candles stored that day (the daily continuous aggregates' `candles`) and the minutes expected:
-- the day's minutes inside the instrument's listed life (instruments.creation_timestamp ..
-- expiration_timestamp, as ohlcv_gaps defines it), ending no later than the range's end and
-- %(tail)s before now (the newest minutes of a live instrument are lag, reported by
-- data_freshness, not missing). An instrument without an instruments row (or without a listing
-- time) lives from its first stored candle. Options are not here: options_ohlcv stores only minutes
-- with trades, by design. ingest/report/data.py classifies each cell (complete, partial, missing).
WITH bounds AS (
    SELECT date_trunc('day', %(since)s::timestamptz, 'UTC')                            AS first_day,
           %(until)s::timestamptz                                                       AS until,
           date_trunc('minute', least(%(until)s::timestamptz, now() - %(tail)s::interval)) AS expect_until
), stored AS (
    SELECT 'perpetuals_ohlcv'::text AS dataset, d.instrument_name, d.ts AS day, d.candles
    FROM perpetuals_ohlcv_1d d, bounds b
    WHERE d.ts >= b.first_day AND d.ts < b.until
    UNION ALL
    SELECT 'futures_ohlcv'::text, d.instrument_name, d.ts, d.candles
    FROM futures_ohlcv_1d d, bounds b
    WHERE d.ts >= b.first_day AND d.ts < b.until
), listed AS (
    SELECT i.instrument_name,
           CASE WHEN i.settlement_period = 'perpetual' OR i.instrument_name LIKE '%%-PERPETUAL'
                THEN 'perpetuals_ohlcv' ELSE 'futures_ohlcv' END AS dataset,
           i.base_currency AS currency,
           date_trunc('minute', i.creation_timestamp)              AS listed_at,
           date_trunc('minute', i.expiration_timestamp)            AS expires_at
    FROM instruments i, bounds b
    WHERE i.kind = 'future'
      AND (i.creation_timestamp IS NULL OR i.creation_timestamp < b.until)
      AND (i.expiration_timestamp IS NULL OR i.expiration_timestamp > b.first_day)
), series AS (
    SELECT dataset, instrument_name, currency, listed_at, expires_at FROM listed
    UNION ALL
    SELECT DISTINCT s.dataset, s.instrument_name, split_part(s.instrument_name, '-', 1), NULL::timestamptz,
           NULL::timestamptz
    FROM stored s
    WHERE NOT EXISTS (SELECT 1 FROM instruments i WHERE i.instrument_name = s.instrument_name)
), lives AS (
    SELECT s.dataset, s.instrument_name, s.currency, s.expires_at,
           coalesce(s.listed_at,
                    CASE s.dataset
                        WHEN 'perpetuals_ohlcv' THEN (SELECT min(p.ts) FROM perpetuals_ohlcv p
                                                      WHERE p.instrument_name = s.instrument_name)
                        ELSE (SELECT min(f.ts) FROM futures_ohlcv f WHERE f.instrument_name = s.instrument_name)
                    END)                                                AS life_start,
           least(coalesce(s.expires_at, 'infinity'), b.expect_until)    AS life_end
    FROM series s, bounds b
), days AS (
    SELECT generate_series(b.first_day, b.until - interval '1 microsecond', interval '1 day') AS day
    FROM bounds b
)
SELECT l.dataset, l.instrument_name, l.currency, l.expires_at AS expiry, d.day,
       coalesce(s.candles, 0)::bigint AS stored,
       greatest(0, extract(epoch FROM least(d.day + interval '1 day', l.life_end)
                                      - greatest(d.day, l.life_start)) / 60)::bigint AS expected
FROM lives l
CROSS JOIN days d
LEFT JOIN stored s ON s.dataset = l.dataset AND s.instrument_name = l.instrument_name AND s.day = d.day
ORDER BY l.dataset DESC, l.currency, l.expires_at NULLS FIRST, l.instrument_name, d.day
