-- Revision 0018: roll-ups of the trade tape (docs/datasets.md, "trades"; docs/sql-layer.md).
--
--   trades_1m         continuous aggregate: per minute, currency, kind (option | future | perpetual) and
--                     direction (the taker's side): trades, amount, volume_usd, liquidations, block legs
--   trades_1h         the same per hour, built on trades_1m
--   liquidations_1h   continuous aggregate: per hour, currency, kind, instrument, liquidation side
--                     ('M' maker, 'T' taker, 'MT' both) and direction: liquidation trades and volume
--   block_trades_1h   continuous aggregate: per hour, currency and kind: block-trade legs and volume
--   block_trades      view: one row per block trade (its legs summed), from the raw tape
--
-- amount is as traded: options in contracts (coins), futures and perpetuals in USD. volume_usd is the
-- USD notional: options amount x index_price (the exchange's volume_usd of options), futures and
-- perpetuals their amount. They answer in real time (materialized_only = false): buckets newer than the
-- last refresh are computed from the raw trades. The backfill refreshes them over what it loaded.

CREATE MATERIALIZED VIEW trades_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', ts) AS ts,
       currency,
       kind,
       direction,
       count(*)                                                                     AS trades,
       sum(amount)                                                                  AS amount,
       sum(CASE WHEN kind = 'option' THEN amount::float8 * index_price ELSE amount::float8 END) AS volume_usd,
       count(*) FILTER (WHERE liquidation IS NOT NULL)                              AS liquidations,
       count(*) FILTER (WHERE block_trade_id IS NOT NULL)                           AS block_legs
FROM trades
GROUP BY 1, 2, 3, 4
WITH NO DATA;

CREATE MATERIALIZED VIEW trades_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       currency,
       kind,
       direction,
       sum(trades)::bigint        AS trades,
       sum(amount)                AS amount,
       sum(volume_usd)            AS volume_usd,
       sum(liquidations)::bigint  AS liquidations,
       sum(block_legs)::bigint    AS block_legs
FROM trades_1m
GROUP BY 1, 2, 3, 4
WITH NO DATA;

CREATE MATERIALIZED VIEW liquidations_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       currency,
       kind,
       instrument_name,
       liquidation,
       direction,
       count(*)                                                                     AS trades,
       sum(amount)                                                                  AS amount,
       sum(CASE WHEN kind = 'option' THEN amount::float8 * index_price ELSE amount::float8 END) AS volume_usd
FROM trades
WHERE liquidation IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
WITH NO DATA;

CREATE MATERIALIZED VIEW block_trades_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS ts,
       currency,
       kind,
       count(*)                                                                     AS legs,
       sum(amount)                                                                  AS amount,
       sum(CASE WHEN kind = 'option' THEN amount::float8 * index_price ELSE amount::float8 END) AS volume_usd
FROM trades
WHERE block_trade_id IS NOT NULL
GROUP BY 1, 2, 3
WITH NO DATA;

-- One row per block trade: its first leg's time, its legs, instruments and volume. A plain view over
-- the tape's block legs (a filter on its ts applies after the grouping: for one day of a large tape,
-- group the legs of trades WHERE ts ... yourself, as docs/analyst-guide.md does).
CREATE VIEW block_trades AS
SELECT min(ts)                                                                       AS ts,
       currency,
       block_trade_id,
       count(*)                                                                      AS legs,
       array_agg(DISTINCT instrument_name ORDER BY instrument_name)                  AS instruments,
       sum(CASE WHEN kind = 'option' THEN amount::float8 * index_price ELSE amount::float8 END) AS volume_usd
FROM trades
WHERE block_trade_id IS NOT NULL
GROUP BY currency, block_trade_id;

-- Refresh policies (storage_settings is what `ingest db apply-policies` re-applies). The tape is kept
-- forever, so every refresh may look back over all history (only invalidated buckets are recomputed).
INSERT INTO storage_settings
    (relation, compress_after, retain_for, refresh_start_offset, refresh_end_offset, refresh_every, note)
VALUES
    ('trades_1m',       NULL, NULL, NULL, '1 hour', '30 minutes', 'trades per minute by kind and direction'),
    ('trades_1h',       NULL, NULL, NULL, '1 hour', '1 hour',     'trades per hour by kind and direction'),
    ('liquidations_1h', NULL, NULL, NULL, '1 hour', '1 hour',     'liquidation trades per hour'),
    ('block_trades_1h', NULL, NULL, NULL, '1 hour', '1 hour',     'block-trade legs and volume per hour');
SELECT add_continuous_aggregate_policy('trades_1m', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '30 minutes', buckets_per_batch => 0);
SELECT add_continuous_aggregate_policy('trades_1h', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '1 hour', buckets_per_batch => 0);
SELECT add_continuous_aggregate_policy('liquidations_1h', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '1 hour', buckets_per_batch => 0);
SELECT add_continuous_aggregate_policy('block_trades_1h', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '1 hour', buckets_per_batch => 0);
