-- Compression (columnstore) layout of every hypertable: one segment per instrument (per index for
-- index_prices), newest first inside a segment. When to compress is storage_settings.compress_after.
-- Upserts (INSERT ... ON CONFLICT) into compressed chunks keep working.
--
-- compress_chunk_time_interval (rollup): compressing a chunk merges it into the previous compressed
-- chunk while the merged one spans at most this interval. Every compressed chunk carries a fixed
-- ~60-90 KB (TOAST pages and index, heap, index, the emptied raw chunk's indexes), so with one or
-- two instruments per chunk fewer, larger compressed chunks save bytes per candle: for a year of one
-- instrument's 1-minute candles (benchmarks/bench_sql.py) 7-day chunks 35 -> 24 B with 84 days,
-- 30-day chunks 28 -> 26 B with 360 days. Only for tables kept forever: retention drops whole chunks,
-- so merged chunks would make it coarser. Must be a multiple of the table's chunk interval.
ALTER TABLE perpetuals_ohlcv SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC',
                                  timescaledb.compress_chunk_time_interval = '360 days');
ALTER TABLE futures_ohlcv    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC',
                                  timescaledb.compress_chunk_time_interval = '84 days');
ALTER TABLE options_ohlcv    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE options_greeks   SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC, source');
ALTER TABLE funding_rates    SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                                  timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE index_prices     SET (timescaledb.compress, timescaledb.compress_segmentby = 'index_name',
                                  timescaledb.compress_orderby = 'ts DESC, source');
