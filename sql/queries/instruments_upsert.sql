-- Upsert instruments from the staging table filled by COPY (ingest/datasets/instruments.py).
-- first_seen is kept; last_seen moves forward; an instrument once seen on the exchange is never
-- downgraded to a calendar reconstruction; exchange fields are refreshed when they change.
INSERT INTO instruments AS t (instrument_name, kind, base_currency, quote_currency, settlement_currency,
    settlement_period, creation_timestamp, expiration_timestamp, strike, option_type, tick_size,
    contract_size, is_active, state, source)
SELECT DISTINCT ON (instrument_name) instrument_name, kind, base_currency, quote_currency,
    settlement_currency, settlement_period, creation_timestamp, expiration_timestamp, strike, option_type,
    tick_size, contract_size, is_active, state, source
FROM _stage_instruments
ORDER BY instrument_name, (source = 'exchange') DESC
ON CONFLICT (instrument_name) DO UPDATE SET
    kind                 = excluded.kind,
    base_currency        = excluded.base_currency,
    quote_currency       = coalesce(excluded.quote_currency, t.quote_currency),
    settlement_currency  = coalesce(excluded.settlement_currency, t.settlement_currency),
    settlement_period    = coalesce(excluded.settlement_period, t.settlement_period),
    creation_timestamp   = coalesce(excluded.creation_timestamp, t.creation_timestamp),
    expiration_timestamp = coalesce(excluded.expiration_timestamp, t.expiration_timestamp),
    strike               = coalesce(excluded.strike, t.strike),
    option_type          = coalesce(excluded.option_type, t.option_type),
    tick_size            = coalesce(excluded.tick_size, t.tick_size),
    contract_size        = coalesce(excluded.contract_size, t.contract_size),
    is_active            = coalesce(excluded.is_active, t.is_active),
    state                = coalesce(excluded.state, t.state),
    source               = CASE WHEN t.source = 'exchange' THEN 'exchange' ELSE excluded.source END,
    last_seen            = now()
