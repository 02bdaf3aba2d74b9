-- Revision 0019: DVOL, Deribit's volatility index (docs/datasets.md, "dvol").
--
--   dvol       1-minute OHLC of BTC and ETH DVOL since its launch (2021-03-24), in percent, as the
--              exchange sends them (double precision: no rounding)
--   dvol_1h    continuous aggregate: hourly OHLC (open = first minute's open, close = last minute's
--              close), minutes = the 1-minute rows the hour holds
--   dvol_1d    continuous aggregate: daily (UTC) OHLC, built on dvol_1h
CREATE TABLE dvol (
    ts        timestamptz      NOT NULL,
    currency  text             NOT NULL,
    open      double precision NOT NULL,
    high      double precision NOT NULL,
    low       double precision NOT NULL,
    close     double precision NOT NULL,
    UNIQUE (currency, ts)
);
-- two currencies x 1,440 minutes a day: ~260K rows per 90-day chunk
SELECT create_hypertable('dvol', by_range('ts', INTERVAL '90 days'));
ALTER TABLE dvol SET (timescaledb.compress, timescaledb.compress_segmentby = 'currency',
                      timescaledb.compress_orderby = 'ts DESC');

CREATE MATERIALIZED VIEW dvol_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       currency,
       first(open, ts)  AS open,
       max(high)        AS high,
       min(low)         AS low,
       last(close, ts)  AS close,
       count(*)         AS minutes
FROM dvol
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW dvol_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', ts) AS ts,
       currency,
       first(open, ts)       AS open,
       max(high)             AS high,
       min(low)              AS low,
       last(close, ts)       AS close,
       sum(minutes)::bigint  AS minutes
FROM dvol_1h
GROUP BY 1, 2
WITH NO DATA;

INSERT INTO storage_settings
    (relation, compress_after, retain_for, refresh_start_offset, refresh_end_offset, refresh_every, note)
VALUES
    ('dvol',    '7 days', NULL, NULL, NULL,     NULL,         'DVOL 1-minute OHLC: kept forever'),
    ('dvol_1h', NULL,     NULL, NULL, '1 hour', '30 minutes', 'hourly DVOL'),
    ('dvol_1d', NULL,     NULL, NULL, '1 day',  '1 hour',     'daily DVOL from the hourly one');
SELECT add_compression_policy('dvol', compress_after => INTERVAL '7 days');
SELECT add_continuous_aggregate_policy('dvol_1h', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '30 minutes', buckets_per_batch => 0);
SELECT add_continuous_aggregate_policy('dvol_1d', start_offset => NULL, end_offset => INTERVAL '1 day',
                                       schedule_interval => INTERVAL '1 hour', buckets_per_batch => 0);
