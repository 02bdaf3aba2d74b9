-- Revision 0004: the analyst role reads and nothing else (docs/sql-layer.md, "Roles").
--
-- 90_roles.sql gives analyst SELECT and nothing more, but PostgreSQL and TimescaleDB grant every role
-- more than that through PUBLIC. Measured as analyst on TimescaleDB 2.23 (PostgreSQL 15 and 17) before
-- this revision: add_job() then alter_job() created a persisted job running every second;
-- CREATE TEMP TABLE and CREATE FUNCTION pg_temp.f() worked; pg_advisory_lock() held locks;
-- lo_from_bytea() stored a large object; and TimescaleDB's internal
-- _timescaledb_functions.drop_chunk() deleted a chunk of perpetuals_ohlcv (its rows gone) while
-- freeze_chunk() made another one refuse writes -- those internal functions check no privilege.
-- This file takes those defaults away from PUBLIC (and from analyst, should someone have granted
-- them directly) and gives back to ingest_writer what the ingester uses (TEMPORARY: the loader
-- stages COPY batches in a temporary table). Owners and superusers keep everything.
--
-- Not preventable in SQL: a role can always ALTER ROLE itself ... PASSWORD (and ... SET a
-- parameter). See docs/sql-layer.md for the limit and its mitigations.
--
-- Idempotent and self-contained: run it again with psql after `ALTER EXTENSION timescaledb UPDATE`,
-- which may recreate functions with the default privileges. It needs a superuser (the pg_catalog
-- functions belong to the bootstrap superuser) or fails, saying what is left.

-- 1. Temporary tables, views, sequences and functions (pg_temp): the TEMPORARY privilege.
DO $$
DECLARE
    db text := current_database();
    connection_limit int;
BEGIN
    -- The embedded server (PGlite) fails the first GRANT/REVOKE on its database row with "tuple
    -- concurrently deleted"; rewriting the row first (setting the connection limit it already
    -- has) avoids it. On any other server this is a no-op.
    SELECT datconnlimit INTO connection_limit FROM pg_database WHERE datname = db;
    EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT %s', db, connection_limit);
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, analyst', db);
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO ingest_writer', db);
END
$$;

-- 2. Functions that create, change or run something; they keep EXECUTE for their owners and for
-- superusers (and so for the jobs the migration user owns).
DO $$
DECLARE
    -- TimescaleDB's public API (and timescaledb_experimental): every routine except these, which
    -- only compute or read. Unknown routines of a newer TimescaleDB are therefore revoked too.
    read_only_api CONSTANT name[] := ARRAY[
        'time_bucket', 'time_bucket_gapfill', 'time_bucket_ng', 'locf', 'interpolate',
        'first', 'last', 'histogram', 'approximate_row_count', 'show_chunks', 'show_tablespaces',
        'show_policies', 'hypertable_size', 'hypertable_detailed_size', 'hypertable_index_size',
        'hypertable_approximate_size', 'hypertable_approximate_detailed_size', 'chunks_detailed_size',
        'hypertable_compression_stats', 'chunk_compression_stats', 'hypertable_columnstore_stats',
        'chunk_columnstore_stats', 'by_range', 'by_hash', 'generate_uuidv7', 'to_uuidv7',
        'to_uuidv7_boundary', 'uuid_timestamp', 'uuid_timestamp_micros', 'uuid_version'];
    -- TimescaleDB's internal schemas: the routines that write catalogs, chunks, jobs or invalidation
    -- logs. The others stay: views and continuous aggregates call them as the querying role
    -- (cagg_watermark, to_timestamp, the size and statistics helpers, ...).
    internal_writers CONSTANT name[] := ARRAY[
        'accept_hypertable_invalidations', 'add_materialization_invalidations',
        'alter_job_set_hypertable_id', 'attach_osm_table_chunk', 'cagg_migrate_create_plan',
        'cagg_migrate_execute_copy_data', 'cagg_migrate_execute_copy_policies',
        'cagg_migrate_execute_create_new_cagg', 'cagg_migrate_execute_disable_policies',
        'cagg_migrate_execute_drop_old_cagg', 'cagg_migrate_execute_enable_policies',
        'cagg_migrate_execute_override_cagg', 'cagg_migrate_execute_plan',
        'cagg_migrate_execute_refresh_new_cagg', 'cagg_migrate_to_time_bucket',
        'cagg_migrate_update_watermark', 'chunk_constraint_add_table_constraint', 'constraint_clone',
        'create_chunk', 'create_compressed_chunk', 'drop_chunk', 'drop_osm_chunk', 'freeze_chunk',
        'unfreeze_chunk', 'hypertable_osm_range_update', 'policy_compression',
        'policy_compression_execute', 'policy_job_stat_history_retention',
        'policy_process_hypertable_invalidations', 'policy_recompression',
        'policy_refresh_continuous_aggregate', 'policy_reorder', 'policy_retention',
        'process_hypertable_invalidations', 'recompress_chunk_segmentwise',
        'remove_dropped_chunk_metadata', 'repair_relation_acls', 'start_background_workers',
        'stop_background_workers', 'restart_background_workers'];
    routines regprocedure[];
    routine regprocedure;
    left_over text;
BEGIN
    SELECT array_agg(revoked.routine) INTO routines FROM (
        SELECT p.oid::regprocedure AS routine
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'timescaledb'
        WHERE ((n.oid = e.extnamespace OR n.nspname = 'timescaledb_experimental')
               AND p.proname <> ALL (read_only_api))
           OR (n.nspname IN ('_timescaledb_functions', '_timescaledb_internal')
               AND p.proname = ANY (internal_writers))
        UNION ALL
        -- advisory locks (the project elects its leader with a lease row, never with these) and
        -- creating large objects (persisted storage outside every table)
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND (p.proname ~ '^pg_(try_)?advisory_' OR p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea'))
        UNION ALL
        -- the project's own writers (they fail for analyst anyway: ownership and table privileges)
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND p.proname IN ('apply_storage_policies', 'remove_storage_policies')
    ) AS revoked;

    FOREACH routine IN ARRAY routines LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC, analyst', routine);
    END LOOP;

    -- A REVOKE by a role that does not own the function only warns: make a partial result loud.
    SELECT string_agg(r::text, ', ' ORDER BY r::text) INTO left_over
    FROM unnest(routines) AS r
    WHERE has_function_privilege('analyst', r, 'EXECUTE');
    IF has_database_privilege('analyst', current_database(), 'TEMPORARY') THEN
        left_over := concat_ws(', ', 'TEMPORARY on database ' || current_database(), left_over);
    END IF;
    IF left_over IS NOT NULL THEN
        RAISE EXCEPTION 'analyst could still use: %', left_over
            USING HINT = 'Run this revision as a superuser (or the owner of the database, of '
                         'the timescaledb extension and of the functions listed).';
    END IF;
END
$$;
