-- Revert revision 0007: funding rates back to NUMERIC(20,12) (rounded to 12 decimals).
-- As in the upgrade: compression and the view that uses the columns come off and go back on.
SELECT remove_compression_policy('funding_rates', if_exists => true);
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('funding_rates') c;
ALTER TABLE funding_rates SET (timescaledb.compress = false);
DROP VIEW funding_rates_daily;

ALTER TABLE funding_rates
    ALTER COLUMN interest_1h TYPE numeric(20,12),
    ALTER COLUMN interest_8h TYPE numeric(20,12);

ALTER TABLE funding_rates SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                               timescaledb.compress_orderby = 'ts DESC');

-- Daily funding of the perpetuals (see docs/sql-layer.md): the definition of revision 0002.
CREATE VIEW funding_rates_daily AS
SELECT time_bucket(INTERVAL '1 day', ts)          AS ts,
       instrument_name,
       count(*)                                   AS hours,
       sum(interest_1h)                           AS funding,
       avg(interest_1h) * 24 * 365                AS annualized_funding,
       avg(interest_1h) * 24 * 365 * 100          AS annualized_pct
FROM funding_rates
GROUP BY 1, 2;

-- the compression policy again, from storage_settings
SELECT * FROM apply_storage_policies();
