-- ingest:no-transaction
-- Hierarchical aggregates first; one statement each (TimescaleDB drops one cagg per statement).
DROP MATERIALIZED VIEW IF EXISTS futures_ohlcv_1d;
DROP MATERIALIZED VIEW IF EXISTS perpetuals_ohlcv_1d;
DROP MATERIALIZED VIEW IF EXISTS options_greeks_1h;
DROP MATERIALIZED VIEW IF EXISTS options_ohlcv_1h;
DROP MATERIALIZED VIEW IF EXISTS futures_ohlcv_1h;
DROP MATERIALIZED VIEW IF EXISTS perpetuals_ohlcv_1h;
