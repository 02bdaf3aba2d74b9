-- Revoke what 90_roles.sql granted in this database; the roles themselves stay (cluster-wide).
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE ON SEQUENCES FROM ingest_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM ingest_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM analyst;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ingest_writer;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ingest_writer, analyst;
REVOKE USAGE ON SCHEMA public FROM ingest_writer, analyst;
