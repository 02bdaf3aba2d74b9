-- Decompress everything, then turn compression off (TimescaleDB refuses while chunks are compressed).
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('perpetuals_ohlcv') c;
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('futures_ohlcv') c;
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('options_ohlcv') c;
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('options_greeks') c;
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('funding_rates') c;
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('index_prices') c;
ALTER TABLE perpetuals_ohlcv SET (timescaledb.compress = false);
ALTER TABLE futures_ohlcv    SET (timescaledb.compress = false);
ALTER TABLE options_ohlcv    SET (timescaledb.compress = false);
ALTER TABLE options_greeks   SET (timescaledb.compress = false);
ALTER TABLE funding_rates    SET (timescaledb.compress = false);
ALTER TABLE index_prices     SET (timescaledb.compress = false);
