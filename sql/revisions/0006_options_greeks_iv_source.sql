-- Revision 0006: how each options_greeks row's implied volatility was obtained.
--   'exchange'  mark_iv as the exchange sent it (book summary or ticker)
--   'inverted'  recovered from mark_price by inverting Black-76 (book summaries without mark_iv)
--   NULL        no IV: the mark says nothing about volatility (at the minimum tick, within one tick of
--               intrinsic value, outside the no-arbitrage bounds); the greeks are NULL too.
-- Rows written before this revision keep NULL: their mark_iv was always the exchange's (the code then
-- required it), and rewriting them would decompress every compressed chunk of the table.
--
-- options_greeks has compression enabled (sql/policies/20_compression.sql): adding a nullable column
-- without a default is allowed on a compressed hypertable (compressed chunks read it as NULL), and so is
-- a CHECK constraint that the existing rows (all NULL) satisfy. The greek and IV columns have been
-- nullable since 0001, so NULL greeks need no change.
ALTER TABLE options_greeks
    ADD COLUMN iv_source text
    CONSTRAINT options_greeks_iv_source_check CHECK (iv_source IN ('exchange', 'inverted'));
