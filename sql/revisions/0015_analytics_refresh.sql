-- Revision 0015: one refresh for every analytics table, and the TimescaleDB job that runs it (see
-- docs/sql-layer.md, "Refreshing the analytics").
--
--   refresh_analytics(s, e)               refresh_vol_expiry_1m, refresh_vol_expiry_1h,
--                                         refresh_vol_surface_cm_1h, refresh_basis_cm_1h over [s, e),
--                                         in that order, in the caller's transaction
--   analytics_refresh_job(job_id, config) the job: refresh_analytics over the last
--                                         config.lookback (default 3 hours), hour by hour, each hour
--                                         committed on its own
--
-- Two refreshes never interleave: refresh_analytics locks vol_expiry_1m in SHARE ROW EXCLUSIVE mode
-- (readers are not blocked; a second refresh, the live collector's or the job's, waits for the first
-- to commit). Upserts only: a refresh never deletes a row.
--
-- The job is registered where TimescaleDB runs jobs (its TSL build: native servers and the embedded
-- one; an Apache-only build has no jobs, and the live collector's ingest.storage.analytics.refresh() does the
-- work alone). The embedded server has no background workers: there the job runs only through
-- CALL run_job(<id>).

CREATE PROCEDURE refresh_analytics(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start >= range_end THEN
        RAISE EXCEPTION 'refresh_analytics: empty or invalid range [%, %)', range_start, range_end;
    END IF;
    LOCK TABLE vol_expiry_1m IN SHARE ROW EXCLUSIVE MODE;
    CALL refresh_vol_expiry_1m(range_start, range_end);
    CALL refresh_vol_expiry_1h(range_start, range_end);
    CALL refresh_vol_surface_cm_1h(range_start, range_end);
    CALL refresh_basis_cm_1h(range_start, range_end);
END
$$;

CREATE PROCEDURE analytics_refresh_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    lookback  interval    := coalesce((config ->> 'lookback')::interval, INTERVAL '3 hours');
    range_end timestamptz := date_trunc('minute', now()) + INTERVAL '1 minute';
    slice     timestamptz := time_bucket(INTERVAL '1 hour', now() - lookback);
BEGIN
    WHILE slice < range_end LOOP
        CALL refresh_analytics(slice, least(slice + INTERVAL '1 hour', range_end));
        COMMIT;
        slice := slice + INTERVAL '1 hour';
    END LOOP;
END
$$;

REVOKE ALL ON PROCEDURE refresh_analytics(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON PROCEDURE analytics_refresh_job(integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_analytics(timestamptz, timestamptz) TO ingest_writer;

DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale'
       AND NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'analytics_refresh_job') THEN
        PERFORM add_job('analytics_refresh_job', INTERVAL '5 minutes', config => '{"lookback": "3 hours"}');
    END IF;
END
$$;
