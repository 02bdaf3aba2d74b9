-- Undo revision 0004: give PUBLIC back what PostgreSQL and TimescaleDB grant it by default.
--
-- Before 0004 PUBLIC held TEMPORARY on the database and EXECUTE on every TimescaleDB routine, on the
-- advisory-lock and large-object-creation functions and on the project's functions (the defaults;
-- tests/test_sql_roles.py checks that state at revision 0003). This grants EXECUTE again wherever
-- PUBLIC lacks it among those, so routines 0004 never touched keep their catalog entry unchanged.

DO $$
DECLARE
    db text := current_database();
    connection_limit int;
BEGIN
    -- the embedded server's "tuple concurrently deleted" on its database row: see the upgrade file
    SELECT datconnlimit INTO connection_limit FROM pg_database WHERE datname = db;
    EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT %s', db, connection_limit);
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', db);
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM ingest_writer', db);
END
$$;

DO $$
DECLARE
    routine regprocedure;
BEGIN
    FOR routine IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'timescaledb'
        WHERE NOT has_function_privilege('public', p.oid, 'EXECUTE')
        UNION ALL
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE NOT has_function_privilege('public', p.oid, 'EXECUTE')
          AND ((p.pronamespace = 'pg_catalog'::regnamespace
                AND (p.proname ~ '^pg_(try_)?advisory_' OR p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea')))
               OR (p.pronamespace = 'public'::regnamespace
                   AND p.proname IN ('apply_storage_policies', 'remove_storage_policies')))
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO PUBLIC', routine);
    END LOOP;
END
$$;
