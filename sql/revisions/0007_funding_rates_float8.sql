-- Revision 0007: funding rates are stored as the exchange sends them, float64, to the last digit.
-- NUMERIC(20,12) kept two significant digits of a rate of 3.8e-11 and about six of 1.2e-7; the
-- exchange's rates are float64 values (e.g. -4.739622041017375e-07), which double precision holds
-- exactly. Rows already stored keep their rounded value until funding is backfilled again
-- (`ingest backfill funding --restart` rewrites them exactly). Index prices stay NUMERIC(18,8): the
-- exchange sends them with cents.
--
-- A column type cannot change on a hypertable with compression enabled, nor under a view that uses
-- it: the compression policy and settings are removed (chunks decompressed), funding_rates_daily is
-- dropped, the type changed, and all of it put back as it was.
SELECT remove_compression_policy('funding_rates', if_exists => true);
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('funding_rates') c;
ALTER TABLE funding_rates SET (timescaledb.compress = false);
DROP VIEW funding_rates_daily;

ALTER TABLE funding_rates
    ALTER COLUMN interest_1h TYPE double precision,
    ALTER COLUMN interest_8h TYPE double precision;

ALTER TABLE funding_rates SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_name',
                               timescaledb.compress_orderby = 'ts DESC');

-- Daily funding of the perpetuals (see docs/sql-layer.md): revision 0002's definition, summed in
-- NUMERIC over the exact float64 rates so that the view's columns keep their type (round(x, 2) and
-- friends keep working in analysts' queries).
CREATE VIEW funding_rates_daily AS
SELECT time_bucket(INTERVAL '1 day', ts)               AS ts,
       instrument_name,
       count(*)                                        AS hours,
       sum(interest_1h::numeric)                       AS funding,
       avg(interest_1h::numeric) * 24 * 365            AS annualized_funding,
       avg(interest_1h::numeric) * 24 * 365 * 100      AS annualized_pct
FROM funding_rates
GROUP BY 1, 2;

-- the compression policy again, from storage_settings
SELECT * FROM apply_storage_policies();
