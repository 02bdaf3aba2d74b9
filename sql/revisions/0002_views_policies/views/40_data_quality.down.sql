DROP VIEW IF EXISTS storage_usage;
DROP VIEW IF EXISTS data_freshness;
DROP VIEW IF EXISTS ohlcv_sanity_violations;
DROP VIEW IF EXISTS ohlcv_gaps;
