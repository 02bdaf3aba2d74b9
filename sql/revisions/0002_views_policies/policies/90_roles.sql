-- Access: the ingester's writer role and the read-only analyst role (see docs/sql-layer.md).
--
-- Roles belong to the cluster, not to this database: they are created only when missing and a
-- downgrade revokes what this file granted but keeps the roles (another database may use them).
-- Both are LOGIN roles without a password here; migration 0003 (and `ingest db apply-policies`) set
-- the passwords from INGEST_WRITER_PASSWORD / INGEST_ANALYST_PASSWORD when those are set.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ingest_writer') THEN
        CREATE ROLE ingest_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analyst') THEN
        CREATE ROLE analyst LOGIN;
    END IF;
END
$$;

-- Nobody but the owner creates objects in public (already the default from PostgreSQL 15 on).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ingest_writer, analyst;

-- analyst: reads every table, view and continuous aggregate, now and in the future; writes nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO analyst;

-- ingest_writer: reads everything, writes the data, reference and bookkeeping tables. Tables created
-- later are writable by default; storage settings and the migration bookkeeping are not.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ingest_writer;
GRANT INSERT, UPDATE, DELETE ON
    instruments, perpetuals_ohlcv, futures_ohlcv, options_ohlcv, options_greeks, funding_rates,
    index_prices, backfill_checkpoints, quarantine, job_heartbeats, leader_lease
TO ingest_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ingest_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ingest_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO ingest_writer;
