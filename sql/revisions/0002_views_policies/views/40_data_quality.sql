-- Data quality: gaps, sanity violations, freshness, storage (see docs/sql-layer.md).

-- A gap is a missing 1-minute row of perpetuals_ohlcv or futures_ohlcv inside the instrument's listed
-- life. A filler candle (no trade: volume 0) is a row, so it is never a gap.
--   gap_start        first missing minute
--   gap_end          first minute present again (exclusive end); for the tail of an expired
--                    instrument: its expiry minute (end of life)
--   missing_minutes  gap_end - gap_start in minutes
-- Life = instruments.creation_timestamp .. least(expiration_timestamp, now()); without an instruments
-- row (or without timestamps) the life is bounded by the first and last stored candle. The missing
-- tail of a live instrument is lag, not a gap: see data_freshness. options_ohlcv is not checked: it
-- stores only the minutes with trades by design.
-- Filter on dataset and/or instrument_name: the conditions reach the table scans.
CREATE VIEW ohlcv_gaps AS
WITH candles AS (
    SELECT 'perpetuals_ohlcv'::text AS dataset, instrument_name, ts FROM perpetuals_ohlcv
    UNION ALL
    SELECT 'futures_ohlcv'::text AS dataset, instrument_name, ts FROM futures_ohlcv
), runs AS (
    SELECT dataset, instrument_name, ts,
           lag(ts)  OVER w AS prev_ts,
           lead(ts) OVER w AS next_ts
    FROM candles
    WINDOW w AS (PARTITION BY dataset, instrument_name ORDER BY ts)
), gaps AS (
    -- inside the stored range: a run of missing minutes between two stored candles
    SELECT r.dataset, r.instrument_name, r.ts + INTERVAL '1 minute' AS gap_start, r.next_ts AS gap_end
    FROM runs r
    WHERE r.next_ts > r.ts + INTERVAL '1 minute'
    UNION ALL
    -- before the first stored candle, from the listing
    SELECT r.dataset, r.instrument_name, date_trunc('minute', i.creation_timestamp), r.ts
    FROM runs r JOIN instruments i ON i.instrument_name = r.instrument_name
    WHERE r.prev_ts IS NULL AND date_trunc('minute', i.creation_timestamp) < r.ts
    UNION ALL
    -- after the last stored candle, up to the expiry of an expired instrument
    SELECT r.dataset, r.instrument_name, r.ts + INTERVAL '1 minute', date_trunc('minute', i.expiration_timestamp)
    FROM runs r JOIN instruments i ON i.instrument_name = r.instrument_name
    WHERE r.next_ts IS NULL AND i.expiration_timestamp <= now()
      AND date_trunc('minute', i.expiration_timestamp) > r.ts + INTERVAL '1 minute'
)
SELECT dataset, instrument_name, gap_start, gap_end,
       (extract(epoch FROM gap_end - gap_start) / 60)::bigint AS missing_minutes
FROM gaps;

-- Candles no exchange can produce. The ingester validates before loading (failures go to
-- quarantine), so a row here was written by something else. One row per (candle, violation):
--   high_below_open_close   high < greatest(open, close)
--   low_above_open_close    low > least(open, close)
--   non_positive_price      one of open, high, low, close <= 0
--   negative_volume         volume < 0 or cost < 0
CREATE VIEW ohlcv_sanity_violations AS
WITH candles AS (
    SELECT 'perpetuals_ohlcv'::text AS dataset, * FROM perpetuals_ohlcv
    UNION ALL
    SELECT 'futures_ohlcv'::text, * FROM futures_ohlcv
    UNION ALL
    SELECT 'options_ohlcv'::text, * FROM options_ohlcv
)
SELECT c.dataset, c.instrument_name, c.ts, v.violation,
       c.open, c.high, c.low, c.close, c.volume, c.cost
FROM candles c
CROSS JOIN LATERAL (VALUES
    ('high_below_open_close', c.high < greatest(c.open, c.close)),
    ('low_above_open_close',  c.low > least(c.open, c.close)),
    ('non_positive_price',    least(c.open, c.high, c.low, c.close) <= 0),
    ('negative_volume',       c.volume < 0 OR c.cost < 0)
) AS v(violation, failed)
WHERE v.failed
  AND (c.high < greatest(c.open, c.close) OR c.low > least(c.open, c.close)
       OR least(c.open, c.high, c.low, c.close) <= 0 OR c.volume < 0 OR c.cost < 0);

-- The last stored row of every series and how far behind now() it is.
--   instrument_name: the instrument; for index_prices '<index_name>/<source>'
--   expired: the instrument has expired (its lag no longer matters); NULL when not in instruments
CREATE VIEW data_freshness AS
WITH latest AS (
    SELECT 'perpetuals_ohlcv'::text AS dataset, instrument_name, max(ts) AS last_ts
    FROM perpetuals_ohlcv GROUP BY instrument_name
    UNION ALL
    SELECT 'futures_ohlcv', instrument_name, max(ts) FROM futures_ohlcv GROUP BY instrument_name
    UNION ALL
    SELECT 'options_ohlcv', instrument_name, max(ts) FROM options_ohlcv GROUP BY instrument_name
    UNION ALL
    SELECT 'options_greeks', instrument_name, max(ts) FROM options_greeks GROUP BY instrument_name
    UNION ALL
    SELECT 'funding_rates', instrument_name, max(ts) FROM funding_rates GROUP BY instrument_name
    UNION ALL
    SELECT 'index_prices', index_name || '/' || source, max(ts) FROM index_prices GROUP BY index_name, source
)
SELECT l.dataset, l.instrument_name, l.last_ts, now() - l.last_ts AS lag,
       i.expiration_timestamp <= now() AS expired
FROM latest l
LEFT JOIN instruments i ON i.instrument_name = l.instrument_name;

-- Size of every hypertable and of the materialisation of every continuous aggregate.
--   relation            the hypertable, or the continuous aggregate's view name
--   kind                'hypertable' | 'continuous_aggregate'
--   approx_rows         approximate_row_count() (statistics; run ANALYZE for fresh figures)
--   chunks, compressed_chunks
--   bytes_uncompressed  bytes the data would take uncompressed (compressed chunks: their size before
--                       compression; other chunks: their size now)
--   bytes_now           bytes it takes now (tables, indexes, toast)
--   compression_ratio   bytes_uncompressed / bytes_now
--   bytes_per_row       bytes_now / approx_rows
CREATE VIEW storage_usage AS
WITH rels AS (
    SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass AS rel,
           h.hypertable_name::text AS relation, 'hypertable'::text AS kind
    FROM timescaledb_information.hypertables h
    WHERE h.hypertable_schema NOT IN ('_timescaledb_internal', '_timescaledb_catalog')
    UNION ALL
    SELECT format('%I.%I', c.materialization_hypertable_schema, c.materialization_hypertable_name)::regclass,
           c.view_name::text, 'continuous_aggregate'
    FROM timescaledb_information.continuous_aggregates c
), sized AS (
    SELECT r.relation, r.kind,
           approximate_row_count(r.rel) AS approx_rows,
           (SELECT count(*) FROM show_chunks(r.rel)) AS chunks,
           coalesce(s.number_compressed_chunks, 0) AS compressed_chunks,
           hypertable_size(r.rel) AS bytes_now,
           coalesce(s.before_compression_total_bytes, 0) AS before_bytes,
           coalesce(s.after_compression_total_bytes, 0) AS after_bytes
    FROM rels r
    LEFT JOIN LATERAL (
        SELECT sum(x.number_compressed_chunks)::bigint AS number_compressed_chunks,
               sum(x.before_compression_total_bytes)::bigint AS before_compression_total_bytes,
               sum(x.after_compression_total_bytes)::bigint AS after_compression_total_bytes
        FROM hypertable_compression_stats(r.rel) x
    ) s ON true
)
SELECT relation, kind, approx_rows, chunks, compressed_chunks,
       before_bytes + greatest(bytes_now - after_bytes, 0) AS bytes_uncompressed,
       bytes_now,
       round((before_bytes + greatest(bytes_now - after_bytes, 0))::numeric / nullif(bytes_now, 0), 2)
           AS compression_ratio,
       round(bytes_now::numeric / nullif(approx_rows, 0), 1) AS bytes_per_row
FROM sized;
