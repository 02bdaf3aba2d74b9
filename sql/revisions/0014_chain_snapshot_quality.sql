-- Revision 0014: the quality of every chain snapshot, per expiry (see docs/sql-layer.md,
-- "Volatility analytics").
--
--   chain_snapshot_quality   one row per snapshot minute, currency and expiry (from vol_expiry_1m)
--
--   options_listed      options of the expiry in instruments, listed at the snapshot time
--   options_priced      options with a row in the snapshot (each carries the exchange's mark price)
--   missing_options     options_listed - options_priced: strikes absent from the book summary
--   ivs_from_mark_iv    IVs as the exchange sent them (iv_source 'exchange'; rows older than revision
--                       0006 have no iv_source and count here when they have an IV)
--   ivs_inverted        IVs recovered from the mark price (iv_source 'inverted')
--   options_without_iv  rows whose mark says nothing about volatility (IV and greeks NULL)
--   atm_strike_below    the strike below the forward whose IV the ATM interpolation used
--   atm_strike_above    the strike at or above the forward it used
--   atm_bracketed       both exist: atm_iv is not NULL
CREATE VIEW chain_snapshot_quality AS
SELECT ts, currency, expiry,
       analytics_round(years_to_expiry * 365, 3)         AS days_to_expiry,
       round(forward, 2)                                  AS forward,
       options_listed,
       options                                            AS options_priced,
       options_listed - options                           AS missing_options,
       ivs_exchange                                       AS ivs_from_mark_iv,
       ivs_inverted,
       options - ivs_exchange - ivs_inverted              AS options_without_iv,
       atm_strike_below,
       atm_strike_above,
       atm_iv IS NOT NULL                                 AS atm_bracketed
FROM vol_expiry_1m;
