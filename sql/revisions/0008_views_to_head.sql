-- Revision 0008: databases whose revision 0002 ran older SQL get the definitions of today's 0002.
--
-- Until revision 0002 was frozen (sql/revisions/0002_views_policies/, a copy of sql/views/ and
-- sql/policies/ as 0003 was released, commit 8449bb6^), it ran whatever those folders held at the time
-- of the upgrade. They changed three times after 0002 was first released (8dd3f6c), so a database
-- migrated by an older checkout kept older objects while its revision said "head":
--
--   8926d8d  storage_settings.refresh_batch_buckets (buckets per refresh transaction, default 0: the
--            whole window in one) and apply_storage_policies() passing it as buckets_per_batch;
--            refresh policies created before it refresh bucket by bucket (~100x slower)
--   eeac158  futures_basis_1h rewritten (per-future lateral + GROUP BY ts; same columns and rows)
--   a5a0a5f  compress_chunk_time_interval (rollup of compressed chunks) on perpetuals_ohlcv and
--            futures_ohlcv
--
-- No continuous aggregate changed since 8dd3f6c (sql/views/10_aggregates.sql has one commit), so none
-- is dropped or recreated here and their materialised data stay. Every statement below leaves a
-- database that already has today's definitions as it was (the policies are recreated with the same
-- settings): on a fresh database this revision changes nothing. Later changes to 0002's objects
-- belong in new revisions, never in the files of 0002 or of this one.

-- 8926d8d: the column, where it is missing (a column added now goes last: column order is not part of
-- the schema snapshot's comparison). Its CHECK gets the name CREATE TABLE would have given it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'storage_settings'::regclass AND attname = 'refresh_batch_buckets'
                     AND NOT attisdropped) THEN
        ALTER TABLE storage_settings
            ADD COLUMN refresh_batch_buckets integer NOT NULL DEFAULT 0
            CONSTRAINT storage_settings_refresh_batch_buckets_check CHECK (refresh_batch_buckets >= 0);
    END IF;
END
$$;

-- 8926d8d: apply_storage_policies() as today's 0002 creates it (EXECUTE grants are kept by CREATE OR
-- REPLACE, so revision 0004's revoke from PUBLIC stays).

CREATE OR REPLACE FUNCTION apply_storage_policies()
RETURNS TABLE (relation text, policy text, setting text)
LANGUAGE plpgsql AS $$
DECLARE
    s          record;
    dep        record;
    is_cagg    boolean;
    is_ht      boolean;
BEGIN
    -- every row names a hypertable or continuous aggregate of schema public
    FOR s IN SELECT * FROM storage_settings ORDER BY storage_settings.relation LOOP
        is_cagg := EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates c
                           WHERE c.view_schema = 'public' AND c.view_name = s.relation);
        is_ht := EXISTS (SELECT 1 FROM timescaledb_information.hypertables h
                         WHERE h.hypertable_schema = 'public' AND h.hypertable_name = s.relation);
        IF NOT (is_cagg OR is_ht) THEN
            RAISE EXCEPTION 'storage_settings: % is neither a hypertable nor a continuous aggregate', s.relation;
        END IF;
        IF is_ht AND (s.refresh_every IS NOT NULL OR s.refresh_start_offset IS NOT NULL
                      OR s.refresh_end_offset IS NOT NULL) THEN
            RAISE EXCEPTION 'storage_settings: % is a hypertable; refresh_* apply to continuous aggregates only',
                s.relation;
        END IF;
        IF is_cagg AND s.refresh_every IS NOT NULL AND s.refresh_end_offset IS NULL THEN
            RAISE EXCEPTION 'storage_settings: % needs refresh_end_offset with refresh_every', s.relation;
        END IF;
    END LOOP;

    -- retention never drops what a refresh window still covers
    FOR dep IN
        SELECT src.relation AS source, src.retain_for, a.aggregate, agg.refresh_start_offset, agg.refresh_every
        FROM storage_settings src
        JOIN storage_aggregate_sources() a ON a.source = src.relation
        LEFT JOIN storage_settings agg ON agg.relation = a.aggregate
        WHERE src.retain_for IS NOT NULL
    LOOP
        IF dep.refresh_every IS NOT NULL AND dep.refresh_start_offset IS NULL THEN
            RAISE EXCEPTION 'storage_settings: % keeps rows for %, but the refresh policy of % covers all '
                'history (refresh_start_offset NULL); set its refresh_start_offset below %',
                dep.source, dep.retain_for, dep.aggregate, dep.retain_for;
        END IF;
        IF dep.refresh_every IS NOT NULL AND dep.retain_for <= dep.refresh_start_offset THEN
            RAISE EXCEPTION 'storage_settings: % keeps rows for % but % refreshes back to %: retain_for must '
                'exceed refresh_start_offset, or a refresh would lose the dropped rows',
                dep.source, dep.retain_for, dep.aggregate, dep.refresh_start_offset;
        END IF;
    END LOOP;

    FOR s IN SELECT * FROM storage_settings ORDER BY storage_settings.relation LOOP
        is_cagg := EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates c
                           WHERE c.view_schema = 'public' AND c.view_name = s.relation);

        IF is_cagg THEN
            PERFORM remove_continuous_aggregate_policy(s.relation::regclass, if_exists => true);
            IF s.refresh_every IS NOT NULL THEN
                PERFORM add_continuous_aggregate_policy(s.relation::regclass,
                    start_offset => s.refresh_start_offset, end_offset => s.refresh_end_offset,
                    schedule_interval => s.refresh_every, buckets_per_batch => s.refresh_batch_buckets);
                relation := s.relation; policy := 'refresh';
                setting := format('start_offset %s, end_offset %s, every %s',
                                  coalesce(s.refresh_start_offset::text, 'all history'),
                                  s.refresh_end_offset, s.refresh_every);
                RETURN NEXT;
            ELSE
                relation := s.relation; policy := 'refresh'; setting := 'removed'; RETURN NEXT;
            END IF;
        END IF;

        PERFORM remove_compression_policy(s.relation::regclass, if_exists => true);
        IF s.compress_after IS NOT NULL THEN
            IF is_cagg THEN
                EXECUTE format('ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true)', s.relation);
            END IF;
            PERFORM add_compression_policy(s.relation::regclass, compress_after => s.compress_after);
            relation := s.relation; policy := 'compression';
            setting := format('compress_after %s', s.compress_after); RETURN NEXT;
        ELSE
            relation := s.relation; policy := 'compression'; setting := 'removed'; RETURN NEXT;
        END IF;

        PERFORM remove_retention_policy(s.relation::regclass, if_exists => true);
        IF s.retain_for IS NOT NULL THEN
            PERFORM add_retention_policy(s.relation::regclass, drop_after => s.retain_for);
            relation := s.relation; policy := 'retention';
            setting := format('drop_after %s', s.retain_for); RETURN NEXT;
        ELSE
            relation := s.relation; policy := 'retention'; setting := 'keep forever'; RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

-- eeac158: futures_basis_1h as today's 0002 creates it (same columns, so CREATE OR REPLACE works).

-- futures_basis_1h is built so that its plan needs no statistics (the embedded server has no
-- autovacuum; a join of the two real-time aggregates planned without statistics became a nested loop
-- taking a minute for one contract-year). Per future (an instruments row that is not an option):
--   * r: the first and last hour of the future in futures_ohlcv_1h (an index scan of its rows);
--   * b: the future's hourly rows and the perpetual's inside [first, last], both read by index on
--     (instrument_name, ts), merged by one GROUP BY ts: no join whose strategy depends on estimates.
-- A ts range on the view is pushed into both index scans; a filter on future reads one instruments
-- row. The perpetual is read only over the future's life, never its whole history.
CREATE OR REPLACE VIEW futures_basis_1h AS
SELECT b.ts,
       i.instrument_name                                   AS future,
       b.perpetual,
       i.base_currency                                     AS currency,
       i.expiration_timestamp                              AS expiry,
       b.future_close,
       b.perpetual_close,
       b.future_close - b.perpetual_close                  AS basis,
       (b.future_close - b.perpetual_close) * 100 / b.perpetual_close AS basis_pct,
       d.days_to_expiry,
       CASE WHEN d.days_to_expiry > 0
            THEN (b.future_close - b.perpetual_close) * 100 / b.perpetual_close * 365 / d.days_to_expiry
       END                                                 AS annualized_basis_pct
FROM instruments i
CROSS JOIN LATERAL (
    SELECT min(f.ts) AS first_ts, max(f.ts) AS last_ts
    FROM futures_ohlcv_1h f
    WHERE f.instrument_name = i.instrument_name
) r
CROSS JOIN LATERAL (
    SELECT u.ts,
           i.base_currency || '-PERPETUAL'                 AS perpetual,
           max(u.close) FILTER (WHERE u.side = 'F')       AS future_close,
           max(u.close) FILTER (WHERE u.side = 'P')       AS perpetual_close
    FROM (SELECT f.ts, 'F' AS side, f.close
          FROM futures_ohlcv_1h f
          WHERE f.instrument_name = i.instrument_name
          UNION ALL
          SELECT p.ts, 'P', p.close
          FROM perpetuals_ohlcv_1h p
          WHERE p.instrument_name = i.base_currency || '-PERPETUAL'
            AND p.ts >= r.first_ts AND p.ts <= r.last_ts) u
    GROUP BY u.ts
    HAVING count(*) FILTER (WHERE u.side = 'F') > 0 AND count(*) FILTER (WHERE u.side = 'P') > 0
) b
CROSS JOIN LATERAL (
    SELECT extract(epoch FROM i.expiration_timestamp - (b.ts + INTERVAL '1 hour')) / 86400 AS days_to_expiry
) d
WHERE i.expiration_timestamp IS NOT NULL
  AND i.kind NOT IN ('option', 'option_combo')
  AND b.perpetual_close > 0;

-- a5a0a5f: the rollup of compressed chunks (allowed with chunks already compressed; it applies to
-- chunks compressed from now on).
ALTER TABLE perpetuals_ohlcv SET (timescaledb.compress_chunk_time_interval = '360 days');
ALTER TABLE futures_ohlcv    SET (timescaledb.compress_chunk_time_interval = '84 days');

-- The refresh, compression and retention jobs again from storage_settings, now with
-- buckets_per_batch (a database that had them already gets the same jobs).
SELECT * FROM apply_storage_policies();
