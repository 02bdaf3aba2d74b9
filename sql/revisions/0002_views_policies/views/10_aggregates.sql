-- ingest:no-transaction
-- Continuous aggregates of the 1-minute candles (see docs/sql-layer.md).
--
--   perpetuals_ohlcv_1h, futures_ohlcv_1h, options_ohlcv_1h   hourly, from the raw 1-minute tables
--   perpetuals_ohlcv_1d, futures_ohlcv_1d                     daily (UTC), built on the hourly ones
--   options_greeks_1h                                         the last greeks snapshot of each hour
--
-- Columns: ts (bucket start), instrument_name, open (first open), high, low, close (last close),
-- volume and cost (sums), candles (how many 1-minute rows the bucket holds; fillers count).
-- They are created empty; their refresh policies come from storage_settings
-- (sql/policies/10_storage_settings.sql) and materialise them. They answer in real time
-- (materialized_only = false): buckets newer than the last refresh are computed from the raw rows.

CREATE MATERIALIZED VIEW perpetuals_ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       instrument_name,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       sum(volume)      AS volume,
       sum(cost)        AS cost,
       count(*)         AS candles
FROM perpetuals_ohlcv
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW futures_ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       instrument_name,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       sum(volume)      AS volume,
       sum(cost)        AS cost,
       count(*)         AS candles
FROM futures_ohlcv
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW options_ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       instrument_name,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       sum(volume)      AS volume,
       sum(cost)        AS cost,
       count(*)         AS candles
FROM options_ohlcv
GROUP BY 1, 2
WITH NO DATA;

-- The last snapshot of each hour per option and source: what stays when raw greeks expire.
CREATE MATERIALIZED VIEW options_greeks_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       instrument_name,
       source,
       last(delta, ts)            AS delta,
       last(gamma, ts)            AS gamma,
       last(vega, ts)             AS vega,
       last(theta, ts)            AS theta,
       last(rho, ts)              AS rho,
       last(mark_iv, ts)          AS mark_iv,
       last(bid_iv, ts)           AS bid_iv,
       last(ask_iv, ts)           AS ask_iv,
       last(mark_price, ts)       AS mark_price,
       last(underlying_price, ts) AS underlying_price,
       last(index_price, ts)      AS index_price,
       last(open_interest, ts)    AS open_interest,
       count(*)                   AS snapshots
FROM options_greeks
GROUP BY 1, 2, 3
WITH NO DATA;

-- Daily aggregates on the hourly ones (hierarchical continuous aggregates).
CREATE MATERIALIZED VIEW perpetuals_ohlcv_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', ts) AS ts,
       instrument_name,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       sum(volume)      AS volume,
       sum(cost)        AS cost,
       sum(candles)::bigint AS candles
FROM perpetuals_ohlcv_1h
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW futures_ohlcv_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', ts) AS ts,
       instrument_name,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       sum(volume)      AS volume,
       sum(cost)        AS cost,
       sum(candles)::bigint AS candles
FROM futures_ohlcv_1h
GROUP BY 1, 2
WITH NO DATA;
