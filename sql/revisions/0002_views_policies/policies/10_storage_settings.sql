-- Storage settings in one place, and the function that turns them into TimescaleDB jobs.
--
-- storage_settings has one row per hypertable and per continuous aggregate:
--   compress_after        compression policy: chunks older than this are compressed (NULL: none)
--   retain_for            retention policy: chunks older than this are dropped (NULL: kept forever)
--   refresh_start_offset  continuous aggregates: how far back each refresh looks (NULL: all history;
--                         only buckets invalidated by new or changed rows are recomputed)
--   refresh_end_offset    continuous aggregates: newest buckets left to real-time computation
--   refresh_every         continuous aggregates: schedule of the refresh policy (NULL: no policy)
--   refresh_batch_buckets continuous aggregates: buckets per refresh transaction (0: the whole window
--                         in one; TimescaleDB's own default batches bucket by bucket, ~100x slower)
-- Change a row, then run `SELECT * FROM apply_storage_policies()` (or `ingest db apply-policies`).
-- Defaults: docs/sql-layer.md.

CREATE TABLE storage_settings (
    relation              text PRIMARY KEY,
    compress_after        interval,
    retain_for            interval,
    refresh_start_offset  interval,
    refresh_end_offset    interval,
    refresh_every         interval,
    refresh_batch_buckets integer NOT NULL DEFAULT 0 CHECK (refresh_batch_buckets >= 0),
    note                  text,
    CHECK (compress_after IS NULL OR compress_after > INTERVAL '0'),
    CHECK (retain_for IS NULL OR retain_for > INTERVAL '0')
);

INSERT INTO storage_settings
    (relation, compress_after, retain_for, refresh_start_offset, refresh_end_offset, refresh_every, note)
VALUES
    ('perpetuals_ohlcv',    '7 days',  NULL,      NULL, NULL, NULL, 'raw 1-minute candles: kept forever'),
    ('futures_ohlcv',       '7 days',  NULL,      NULL, NULL, NULL, 'raw 1-minute candles: kept forever'),
    ('options_ohlcv',       '7 days',  '90 days', NULL, NULL, NULL, 'raw option candles; options_ohlcv_1h stays'),
    ('options_greeks',      '2 days',  '30 days', NULL, NULL, NULL, 'chain snapshots every minute; options_greeks_1h stays'),
    ('funding_rates',       '30 days', NULL,      NULL, NULL, NULL, 'hourly funding: kept forever'),
    ('index_prices',        '7 days',  NULL,      NULL, NULL, NULL, 'index series: kept forever'),
    ('perpetuals_ohlcv_1h', NULL, NULL, NULL,      '1 hour', '30 minutes', 'hourly candles'),
    ('futures_ohlcv_1h',    NULL, NULL, NULL,      '1 hour', '30 minutes', 'hourly candles'),
    ('options_ohlcv_1h',    NULL, NULL, '7 days',  '1 hour', '30 minutes', 'must look back less than options_ohlcv.retain_for'),
    ('options_greeks_1h',   NULL, NULL, '3 days',  '1 hour', '30 minutes', 'must look back less than options_greeks.retain_for'),
    ('perpetuals_ohlcv_1d', NULL, NULL, NULL,      '1 day',  '1 hour', 'daily candles from the hourly ones'),
    ('futures_ohlcv_1d',    NULL, NULL, NULL,      '1 day',  '1 hour', 'daily candles from the hourly ones');

-- What each continuous aggregate reads from: a hypertable, or (hierarchical) another aggregate.
CREATE FUNCTION storage_aggregate_sources()
RETURNS TABLE (aggregate text, source text)
LANGUAGE sql STABLE AS $$
    SELECT c.view_name::text, coalesce(parent.view_name::text, c.hypertable_name::text)
    FROM timescaledb_information.continuous_aggregates c
    LEFT JOIN timescaledb_information.continuous_aggregates parent
           ON parent.materialization_hypertable_schema = c.hypertable_schema
          AND parent.materialization_hypertable_name = c.hypertable_name
    WHERE c.view_schema = 'public'
$$;

-- Check storage_settings and (re)create every policy from it; idempotent. Returns one row per
-- policy set or removed. Raises (and changes nothing, being one statement) when a retention would
-- drop rows that a continuous aggregate's refresh window still covers.
CREATE FUNCTION apply_storage_policies()
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

-- Remove every policy storage_settings manages (the downgrade uses it; data is not touched).
CREATE FUNCTION remove_storage_policies()
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT st.relation FROM storage_settings st
             WHERE to_regclass(st.relation) IS NOT NULL LOOP
        IF EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates c
                   WHERE c.view_schema = 'public' AND c.view_name = s.relation) THEN
            PERFORM remove_continuous_aggregate_policy(s.relation::regclass, if_exists => true);
        END IF;
        PERFORM remove_compression_policy(s.relation::regclass, if_exists => true);
        PERFORM remove_retention_policy(s.relation::regclass, if_exists => true);
    END LOOP;
END
$$;
