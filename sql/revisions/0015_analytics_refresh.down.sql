-- Revision 0015 down: the job, then the procedures.
DO $$
DECLARE
    job integer;
BEGIN
    IF to_regclass('timescaledb_information.jobs') IS NOT NULL THEN
        FOR job IN SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'analytics_refresh_job' LOOP
            PERFORM delete_job(job);
        END LOOP;
    END IF;
END
$$;
DROP PROCEDURE IF EXISTS analytics_refresh_job(integer, jsonb);
DROP PROCEDURE IF EXISTS refresh_analytics(timestamptz, timestamptz);
