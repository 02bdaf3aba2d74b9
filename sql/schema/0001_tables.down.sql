DROP TABLE IF EXISTS leader_lease, job_heartbeats, quarantine, backfill_checkpoints,
    index_prices, funding_rates, options_greeks, options_ohlcv, futures_ohlcv, perpetuals_ohlcv,
    instruments;
