-- TimescaleDB refuses to drop a hypertable together with other objects: one statement each.
DROP TABLE IF EXISTS leader_lease;
DROP TABLE IF EXISTS job_heartbeats;
DROP TABLE IF EXISTS quarantine;
DROP TABLE IF EXISTS backfill_checkpoints;
DROP TABLE IF EXISTS index_prices;
DROP TABLE IF EXISTS funding_rates;
DROP TABLE IF EXISTS options_greeks;
DROP TABLE IF EXISTS options_ohlcv;
DROP TABLE IF EXISTS futures_ohlcv;
DROP TABLE IF EXISTS perpetuals_ohlcv;
DROP TABLE IF EXISTS instruments;
