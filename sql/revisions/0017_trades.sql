-- Revision 0017: the trade tape (docs/datasets.md, "trades").
--
-- One row per trade of BTC and ETH options, dated futures and perpetuals, as the history host serves
-- them (get_last_trades_by_currency_and_time). What is unique: trade_id within a currency (Deribit's
-- reference; every trade of a currency, whatever its kind, shares one sequence of ids: BTC ids are
-- bare numbers, ETH ids carry the prefix "ETH-"). ts is in the key because a hypertable's unique
-- index must contain its time column; a trade's timestamp never changes, so the key is as strict.
--
-- Types:
--   price, amount, contracts  NUMERIC: exact, the candles built from trades sum them (options: price in
--                             the coin, amount in contracts; futures: price in USD, amount in USD,
--                             contracts = amount / contract size; older trades carry no contracts)
--   index_price, mark_price,  double precision: the float the exchange sent, whatever its decimals
--   iv                        (options only; percent)
--   starbase_match_id,        bigint: 64-bit integers above 2^53 (a float would lose their last digits;
--   starbase_timestamp        the loader never lets them through a float); starbase_timestamp is in
--                             nanoseconds. Present on trades matched by Deribit's newer engine (2026).
--   liquidation               'M' (maker side liquidated), 'T' (taker), 'MT' (both); NULL otherwise
--   block_trade_id, combo_id, ... present on block trades / combo legs only
CREATE TABLE trades (
    ts                     timestamptz      NOT NULL,
    trade_id               text             NOT NULL,
    currency               text             NOT NULL,
    kind                   text             NOT NULL CHECK (kind IN ('option', 'future', 'perpetual')),
    instrument_name        text             NOT NULL,
    trade_seq              bigint           NOT NULL,
    price                  numeric(18,8)    NOT NULL,
    amount                 numeric(24,8)    NOT NULL,
    contracts              numeric(24,8),
    direction              text             NOT NULL CHECK (direction IN ('buy', 'sell')),
    tick_direction         smallint         CHECK (tick_direction BETWEEN 0 AND 3),
    index_price            double precision,
    mark_price             double precision,
    iv                     double precision,
    liquidation            text             CHECK (liquidation IN ('M', 'T', 'MT')),
    block_trade_id         text,
    block_trade_leg_count  integer,
    combo_id               text,
    combo_trade_id         text,
    block_rfq_id           bigint,
    starbase_match_id      bigint,
    starbase_timestamp     bigint,
    UNIQUE (currency, trade_id, ts)
);
-- a week of BTC and ETH trades per chunk (the simulator: ~70K option trades; Deribit's busiest weeks
-- of every kind: a few million)
SELECT create_hypertable('trades', by_range('ts', INTERVAL '7 days'));
-- what analysts ask (one instrument over time), and what the backfill (does this day of a currency and
-- kind hold trades yet?), the live job (the newest trade of a currency and kind) and ingest status ask
CREATE INDEX trades_instrument_ts_idx ON trades (instrument_name, ts DESC);
CREATE INDEX trades_currency_kind_ts_idx ON trades (currency, kind, ts DESC);

-- Compression: one segment per currency and kind, ordered by instrument then time (batches of one
-- instrument's trades, found by the batches' instrument bounds). Measured on 60 days of simulated BTC
-- option trades (244K): 61 bytes a trade compressed; one segment per instrument 97 (an option trades
-- a few dozen times a week: tiny segments). Compressed after a week, kept forever (the history host
-- keeps the tape, but fetching it again costs hours per year of futures).
ALTER TABLE trades SET (timescaledb.compress, timescaledb.compress_segmentby = 'currency, kind',
                        timescaledb.compress_orderby = 'instrument_name, ts DESC');
INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('trades', '7 days', NULL, 'the trade tape (options, futures, perpetuals): kept forever');
SELECT add_compression_policy('trades', compress_after => INTERVAL '7 days');
