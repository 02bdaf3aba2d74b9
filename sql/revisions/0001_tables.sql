-- Base schema: reference data, the six market-data hypertables and the bookkeeping tables.
--
-- Precision is owned here, not by the loaders:
--   * prices NUMERIC(18,8): BTC index up to 99,999,999.99999999 with satoshi resolution;
--   * volume / cost / open interest NUMERIC(24,8): a day of BTC-PERPETUAL cost is ~1e10 USD;
--   * greeks NUMERIC(12,6): Deribit reports greeks to 5 decimals; BTC vega reaches hundreds and
--     theta thousands (negative), far inside +/-999,999.999999;
--   * implied volatilities NUMERIC(10,4) in percent (Deribit shows deep OTM ask_iv as 500);
--   * funding NUMERIC(20,12): hourly rates are ~1e-6 and Deribit sends them with 8+ significant digits.
--
-- Chunk intervals follow each table's data rate (rows per chunk in the low millions at most).

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE instruments (
    instrument_name       text PRIMARY KEY,
    kind                  text NOT NULL
        CHECK (kind IN ('future', 'option', 'spot', 'future_combo', 'option_combo')),
    base_currency         text NOT NULL,
    quote_currency        text,
    settlement_currency   text,
    settlement_period     text,
    creation_timestamp    timestamptz,
    expiration_timestamp  timestamptz,
    strike                numeric(18,8),
    option_type           text CHECK (option_type IN ('call', 'put')),
    tick_size             numeric(18,8),
    contract_size         numeric(18,8),
    is_active             boolean,
    state                 text,
    -- 'exchange': seen in get_instruments; 'calendar': reconstructed from the expiry calendar and
    -- confirmed by the history host (Deribit's expired=true only lists recent expiries)
    source                text NOT NULL DEFAULT 'exchange' CHECK (source IN ('exchange', 'calendar')),
    first_seen            timestamptz NOT NULL DEFAULT now(),
    last_seen             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instruments_kind_expiry_idx ON instruments (base_currency, kind, expiration_timestamp);

-- 1-minute candles. A filler candle (no trade in the minute: O=H=L=C=previous close, volume 0)
-- is stored as a row: it is not a gap. A missing minute is.
CREATE TABLE perpetuals_ohlcv (
    ts               timestamptz    NOT NULL,
    instrument_name  text           NOT NULL,
    open             numeric(18,8)  NOT NULL,
    high             numeric(18,8)  NOT NULL,
    low              numeric(18,8)  NOT NULL,
    close            numeric(18,8)  NOT NULL,
    volume           numeric(24,8)  NOT NULL,
    cost             numeric(24,8)  NOT NULL,
    UNIQUE (instrument_name, ts)
);
SELECT create_hypertable('perpetuals_ohlcv', by_range('ts', INTERVAL '30 days'));

CREATE TABLE futures_ohlcv (LIKE perpetuals_ohlcv INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                            UNIQUE (instrument_name, ts));
SELECT create_hypertable('futures_ohlcv', by_range('ts', INTERVAL '7 days'));

-- Options: only candles with trades are stored (see docs/datasets.md).
CREATE TABLE options_ohlcv (LIKE perpetuals_ohlcv INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                            UNIQUE (instrument_name, ts));
SELECT create_hypertable('options_ohlcv', by_range('ts', INTERVAL '7 days'));

-- Chain snapshots: the whole chain every minute (~1,500 options) -> one day per chunk.
CREATE TABLE options_greeks (
    ts                timestamptz    NOT NULL,
    instrument_name   text           NOT NULL,
    source            text           NOT NULL CHECK (source IN ('exchange', 'computed')),
    delta             numeric(12,6),
    gamma             numeric(12,6),
    vega              numeric(12,6),
    theta             numeric(12,6),
    rho               numeric(12,6),
    mark_iv           numeric(10,4),
    bid_iv            numeric(10,4),
    ask_iv            numeric(10,4),
    mark_price        numeric(18,8),
    underlying_price  numeric(18,8),
    index_price       numeric(18,8),
    open_interest     numeric(24,8),
    interest_rate     numeric(12,6),
    UNIQUE (instrument_name, ts, source)
);
SELECT create_hypertable('options_greeks', by_range('ts', INTERVAL '1 day'));

-- Hourly funding of the perpetuals, with the index it was computed against.
CREATE TABLE funding_rates (
    ts                timestamptz    NOT NULL,
    instrument_name   text           NOT NULL,
    interest_1h       numeric(20,12) NOT NULL,
    interest_8h       numeric(20,12) NOT NULL,
    index_price       numeric(18,8),
    prev_index_price  numeric(18,8),
    UNIQUE (instrument_name, ts)
);
SELECT create_hypertable('funding_rates', by_range('ts', INTERVAL '365 days'));

-- The real index (never a perpetual's close). One series per source:
--   'ticker' get_index_price every minute, 'funding' hourly from funding history,
--   'delivery' daily 08:00 UTC delivery prices, 'trades' index_price carried by trades.
CREATE TABLE index_prices (
    ts          timestamptz    NOT NULL,
    index_name  text           NOT NULL,
    price       numeric(18,8)  NOT NULL,
    source      text           NOT NULL CHECK (source IN ('ticker', 'funding', 'delivery', 'trades')),
    UNIQUE (index_name, source, ts)
);
SELECT create_hypertable('index_prices', by_range('ts', INTERVAL '30 days'));

-- Bookkeeping -----------------------------------------------------------------------------------

-- One row per (dataset, instrument, window) a backfill has planned; 'done' windows are not fetched
-- again on resume, 'failed' ones are retried on the next run.
CREATE TABLE backfill_checkpoints (
    dataset          text        NOT NULL,
    instrument_name  text        NOT NULL,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    status           text        NOT NULL CHECK (status IN ('done', 'failed')),
    rows_loaded      integer     NOT NULL DEFAULT 0,
    attempts         integer     NOT NULL DEFAULT 1,
    last_error       text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, instrument_name, window_start)
);

-- Payloads that failed validation: never loaded into the data tables, kept with the reason.
CREATE TABLE quarantine (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    dataset          text        NOT NULL,
    instrument_name  text,
    reason           text        NOT NULL,
    payload          jsonb       NOT NULL
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at);

-- Last run of each scheduled job (written by `ingest run`, read by `ingest status`).
CREATE TABLE job_heartbeats (
    job_name         text PRIMARY KEY,
    holder           text,
    last_started     timestamptz,
    last_finished    timestamptz,
    last_outcome     text CHECK (last_outcome IN ('ok', 'partial', 'error', 'running')),
    last_rows        integer,
    last_requests    integer,
    last_duration_ms integer,
    last_error       text
);

-- Leadership of `ingest run`: a lease row renewed by heartbeat (session advisory locks do not work
-- behind transaction poolers nor on the embedded server).
CREATE TABLE leader_lease (
    name          text PRIMARY KEY,
    holder        text        NOT NULL,
    acquired_at   timestamptz NOT NULL,
    renewed_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
