-- Compression (columnstore) layout of every hypertable: one segment per instrument (per index for
-- index_prices), newest first inside a segment. When to compress is storage_settings.compress_after.
-- Upserts (INSERT ... ON CONFLICT) into compressed chunks keep working.
ALTER TABLE perpetuals_ohlcv SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE futures_ohlcv    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE options_ohlcv    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE options_greeks   SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC, source');
ALTER TABLE funding_rates    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE index_prices     SET (timescaledb.compress, timescaledb.compress_segmentby = 'index_name',
                                  timescaledb.compress_orderby = 'ts DESC, source');
