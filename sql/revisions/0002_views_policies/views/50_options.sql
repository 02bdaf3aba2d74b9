-- The option chain now (see docs/sql-layer.md): every live option (instruments.kind = 'option',
-- expiration_timestamp > now()) with its most recent greeks snapshot, by currency, expiry, strike
-- and type. When both sources have a row at the latest ts, 'exchange' wins over 'computed'.
-- Options without any snapshot are not listed.
CREATE VIEW options_chain_latest AS
SELECT i.base_currency         AS currency,
       i.expiration_timestamp  AS expiry,
       i.strike,
       i.option_type,
       i.instrument_name,
       g.ts,
       g.source,
       g.mark_price,
       g.mark_iv,
       g.bid_iv,
       g.ask_iv,
       g.delta,
       g.gamma,
       g.vega,
       g.theta,
       g.rho,
       g.underlying_price,
       g.index_price,
       g.open_interest,
       g.interest_rate
FROM instruments i
CROSS JOIN LATERAL (
    SELECT og.* FROM options_greeks og
    WHERE og.instrument_name = i.instrument_name
    ORDER BY og.ts DESC, og.source DESC   -- 'exchange' > 'computed'
    LIMIT 1
) g
WHERE i.kind = 'option' AND i.expiration_timestamp > now()
ORDER BY currency, expiry, strike, option_type;
