"""Roles: analyst reads every table and view and writes nothing; ingest_writer writes the data.

The embedded server accepts any user, so privileges are exercised with SET LOCAL ROLE inside a
transaction that is rolled back (session state is shared by all clients there)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ingest.storage.policies import set_role_passwords
from ingest.storage.sqlfiles import run_file, sql_path


class Rollback(Exception):
    pass


@contextmanager
def as_role(db, role):
    try:
        with db.transaction():
            db.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            yield
            raise Rollback
    except Rollback:
        pass


def denied(db, statement, params=None):
    try:
        with db.transaction():  # a savepoint: the role set before it stays
            db.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def relations(db):
    return [
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1"
        )
    ]


def test_analyst_can_select_from_every_table_and_view(db):
    names = relations(db)
    for view in (
        "perpetuals_ohlcv_1h",
        "futures_ohlcv_1d",
        "futures_basis_1h",
        "futures_term_structure",
        "ohlcv_gaps",
        "storage_usage",
        "options_chain_latest",
        "funding_rates_daily",
        "instruments",
    ):
        assert view in names
    with as_role(db, "analyst"):
        assert db.execute("SELECT current_user").fetchone()[0] == "analyst"
        for name in names:
            db.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(name))).fetchall()
    assert db.execute("SELECT current_user").fetchone()[0] != "analyst"


def test_analyst_cannot_insert_update_delete_or_create(db):
    with as_role(db, "analyst"):
        assert denied(db, "INSERT INTO perpetuals_ohlcv VALUES (now(), 'X', 1, 1, 1, 1, 0, 0)")
        assert denied(
            db, "INSERT INTO instruments (instrument_name, kind, base_currency) VALUES ('X', 'future', 'BTC')"
        )
        assert denied(db, "UPDATE storage_settings SET retain_for = NULL")
        assert denied(db, "UPDATE instruments SET is_active = false")
        assert denied(db, "DELETE FROM funding_rates")
        assert denied(db, "DELETE FROM quarantine")
        assert denied(db, "TRUNCATE options_greeks")
        assert denied(db, "CREATE TABLE analyst_scratch (x int)")
        assert denied(db, "CREATE VIEW analyst_view AS SELECT 1")
        assert denied(db, "CREATE SCHEMA analyst_schema")
        assert denied(db, "SELECT apply_storage_policies()")
    assert "analyst_scratch" not in relations(db)


def test_tables_created_later_are_readable_by_analyst(db):
    with db.transaction():
        db.execute("CREATE TABLE later_table (x int)")
        db.execute("INSERT INTO later_table VALUES (1)")
        with as_role(db, "analyst"):
            assert db.execute("SELECT x FROM later_table").fetchall() == [(1,)]
            assert denied(db, "INSERT INTO later_table VALUES (2)")
        db.execute("DROP TABLE later_table")


def test_writer_writes_the_data_tables_only(db):
    with as_role(db, "ingest_writer"):
        db.execute("INSERT INTO perpetuals_ohlcv VALUES ('2024-01-01', 'BTC-PERPETUAL', 1, 1, 1, 1, 0, 0)")
        db.execute("INSERT INTO quarantine (dataset, reason, payload) VALUES ('x', 'y', '{}')")
        db.execute("INSERT INTO job_heartbeats (job_name) VALUES ('j') ON CONFLICT DO NOTHING")
        db.execute("SELECT * FROM futures_basis_1h LIMIT 1")
        assert denied(db, "UPDATE storage_settings SET retain_for = NULL")
        assert denied(db, "DELETE FROM alembic_version")
        assert denied(db, "CREATE TABLE writer_scratch (x int)")


def test_the_loader_works_as_the_writer_role(db):
    from ingest.storage.load import copy_upsert
    from ingest.storage.tables import PERPETUALS_OHLCV

    from .test_sql_support import day, minute_series

    with as_role(db, "ingest_writer"):
        assert (
            copy_upsert(
                db, PERPETUALS_OHLCV, minute_series("BTC-PERPETUAL", day(2024, 1, 1), 5, lambda i: 1.0)
            )
            == 5
        )


@pytest.mark.parametrize("role", ["ingest_writer", "analyst"])
def test_passwords_come_from_the_environment_and_only_when_set(db, role):
    variable = {"ingest_writer": "INGEST_WRITER_PASSWORD", "analyst": "INGEST_ANALYST_PASSWORD"}[role]

    def password():
        return db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]

    db.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(role)))
    assert set_role_passwords(db, {}) == []
    assert password() is None
    assert set_role_passwords(db, {variable: "it's a 'secret'"}) == [role]
    assert password() is not None and "secret" not in password()  # stored hashed (SCRAM)
    db.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(role)))


# --- revision 0004: analyst reads and nothing else ------------------------------------------------
# Each check runs as analyst: a real login where the server honours the user name (a native server;
# the fixture gives analyst a password for the test), else SET LOCAL ROLE (the embedded server runs
# every session as its superuser, whatever user connects). Every statement runs in a savepoint of a
# transaction that is rolled back, so nothing an unexpected success does survives the test.

REVISION_0004 = "revisions/0004_analyst_read_only"


class RoleSession:
    def __init__(self, conn: psycopg.Connection, set_role: str | None):
        self.conn = conn
        self.set_role = set_role  # None: conn is logged in as the role

    @contextmanager
    def statements(self):
        with self.conn.transaction(force_rollback=True):
            if self.set_role:
                # the shared embedded session may already have a temporary schema: make sure it
                # does, so the checks also cover a pg_temp that exists before analyst arrives
                self.conn.execute("CREATE TEMP TABLE owner_scratch (x int) ON COMMIT DROP")
                self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.set_role)))
            yield self

    def denied(self, statement, params=None) -> bool:
        return denied(self.conn, statement, params)

    def rows(self, statement, params=None):
        with self.conn.transaction():
            return self.conn.execute(statement, params).fetchall()

    def commit(self, statement) -> None:
        """Run one statement as the role and commit it."""
        with self.conn.transaction():
            if self.set_role:
                self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.set_role)))
            self.conn.execute(statement)


@pytest.fixture
def analyst(db, migrated_url):
    token = secrets.token_hex(16)
    db.execute(sql.SQL("ALTER ROLE analyst PASSWORD {}").format(sql.Literal(token)))
    try:
        try:
            conn = psycopg.connect(make_conninfo(migrated_url, user="analyst", password=token), autocommit=True)
        except psycopg.OperationalError:  # a server whose pg_hba.conf lets analyst in from elsewhere only
            conn = None
        if conn is not None and conn.execute("SELECT session_user").fetchone()[0] == "analyst":
            with conn:
                yield RoleSession(conn, None)
        else:
            if conn is not None:
                conn.close()
            yield RoleSession(db, "analyst")
    finally:
        db.execute("ALTER ROLE analyst PASSWORD NULL")


@pytest.fixture
def one_chunk(db):
    """One candle in perpetuals_ohlcv, so the hypertable has a chunk; returns the chunk's name."""
    db.execute("INSERT INTO perpetuals_ohlcv VALUES ('2024-01-01', 'BTC-PERPETUAL', 1, 1, 1, 1, 0, 0)")
    return db.execute("SELECT show_chunks('perpetuals_ohlcv')::text").fetchone()[0]


def jobs(db):
    return db.execute("SELECT job_id, schedule_interval, scheduled FROM timescaledb_information.jobs "
                      "ORDER BY job_id").fetchall()


def tables(db):
    return [r[0] for r in db.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'p') ORDER BY 1")]


def test_analyst_selects_every_relation_and_the_functions_analysts_use(analyst, one_chunk):
    with analyst.statements() as s:
        assert s.rows("SELECT current_user")[0][0] == "analyst"
        for name in relations(analyst.conn):
            s.rows(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(name)))
        for view in ("jobs", "job_stats", "hypertables", "chunks", "continuous_aggregates", "dimensions"):
            s.rows(sql.SQL("SELECT * FROM timescaledb_information.{} LIMIT 1").format(sql.Identifier(view)))
        # time_bucket, time_bucket_gapfill with locf and interpolate, first/last, histogram
        rows = s.rows("""
            SELECT time_bucket_gapfill('1 minute', ts) AS minute,
                   locf(last(close, ts)) AS close, interpolate(avg(volume)::float8) AS volume
            FROM perpetuals_ohlcv
            WHERE ts >= '2024-01-01' AND ts < '2024-01-01 00:03'
            GROUP BY 1 ORDER BY 1""")
        assert [r[1] for r in rows] == [1, 1, 1]
        assert s.rows("SELECT time_bucket('1 hour', ts), first(open, ts), histogram(close::float8, 0, 2, 2) "
                      "FROM perpetuals_ohlcv GROUP BY 1")[0][1] == 1
        assert s.rows("SELECT timescaledb_experimental.time_bucket_ng('1 day', now()) IS NOT NULL")[0][0]
        assert s.rows("SELECT count(*) FROM show_chunks('perpetuals_ohlcv')")[0][0] == 1
        s.rows("SELECT hypertable_size('perpetuals_ohlcv'), approximate_row_count('perpetuals_ohlcv')")
        s.rows("SELECT * FROM chunks_detailed_size('perpetuals_ohlcv')")
        s.rows("SELECT * FROM hypertable_compression_stats('perpetuals_ohlcv')")
        s.rows("SELECT * FROM timescaledb_experimental.show_policies('perpetuals_ohlcv_1h')")


def test_analyst_changes_no_row_of_any_table(analyst):
    names = tables(analyst.conn)
    assert {"perpetuals_ohlcv", "instruments", "storage_settings", "leader_lease"} <= set(names)
    with analyst.statements() as s:
        for name in names:
            table = sql.Identifier(name)
            assert s.denied(sql.SQL("INSERT INTO {} DEFAULT VALUES").format(table)), name
            assert s.denied(sql.SQL("UPDATE {} SET {} = DEFAULT WHERE false").format(
                table, sql.Identifier(first_column(s, name)))), name
            assert s.denied(sql.SQL("DELETE FROM {} WHERE false").format(table)), name
            assert s.denied(sql.SQL("TRUNCATE {}").format(table)), name
            assert s.denied(sql.SQL("SELECT * FROM {} FOR SHARE").format(table)), name
            assert s.denied(sql.SQL("SELECT * FROM {} FOR UPDATE").format(table)), name
            assert s.denied(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table)), name


def first_column(s, table):
    return s.rows("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1", (table,))[0][0]


def test_analyst_creates_runs_and_changes_no_job(analyst, db, one_chunk):
    before = jobs(db)
    job_id = before[-1][0]
    assert job_id >= 1000  # a policy job of migration 0002
    with analyst.statements() as s:
        assert s.denied("SELECT add_job('pg_catalog.pg_sleep'::regproc, '1 second')")
        assert s.denied("SELECT alter_job(%s, schedule_interval => '1 second')", (job_id,))
        assert s.denied("SELECT delete_job(%s)", (job_id,))
        assert s.denied("CALL run_job(%s)", (job_id,))
        assert s.denied("SELECT add_retention_policy('perpetuals_ohlcv', INTERVAL '1 day')")
        assert s.denied("SELECT remove_retention_policy('options_ohlcv')")
        assert s.denied("SELECT add_compression_policy('perpetuals_ohlcv', INTERVAL '1 day', if_not_exists => true)")
        assert s.denied("SELECT remove_compression_policy('perpetuals_ohlcv')")
        assert s.denied("SELECT add_continuous_aggregate_policy('perpetuals_ohlcv_1h', NULL, INTERVAL '1 hour', "
                        "INTERVAL '1 second', if_not_exists => true)")
        assert s.denied("SELECT remove_continuous_aggregate_policy('perpetuals_ohlcv_1h')")
        assert s.denied("SELECT timescaledb_experimental.add_policies('perpetuals_ohlcv_1h', true)")
        assert s.denied("SELECT timescaledb_experimental.remove_all_policies('perpetuals_ohlcv_1h')")
        assert s.denied("CALL refresh_continuous_aggregate('perpetuals_ohlcv_1h', NULL, NULL)")
        assert s.denied("SELECT create_hypertable('storage_settings', by_range('relation'))")
        assert s.denied("SELECT set_chunk_time_interval('perpetuals_ohlcv', INTERVAL '1 day')")
        assert s.denied("SELECT drop_chunks('perpetuals_ohlcv', older_than => now())")
        assert s.denied("SELECT compress_chunk(%s::regclass)", (one_chunk,))
        assert s.denied("SELECT timescaledb_pre_restore()")
        # TimescaleDB's internal routines check no privilege themselves: before revision 0004
        # analyst dropped a chunk with drop_chunk and made one refuse writes with freeze_chunk
        assert s.denied("SELECT _timescaledb_functions.drop_chunk(%s::regclass)", (one_chunk,))
        assert s.denied("SELECT _timescaledb_functions.freeze_chunk(%s::regclass)", (one_chunk,))
        assert s.denied("SELECT _timescaledb_functions.unfreeze_chunk(%s::regclass)", (one_chunk,))
        assert s.denied("SELECT _timescaledb_functions.remove_dropped_chunk_metadata(1)")
        assert s.denied("CALL _timescaledb_functions.policy_recompression(%s, '{}')", (job_id,))
        assert s.denied("CALL _timescaledb_functions.policy_process_hypertable_invalidations(%s, '{}')", (job_id,))
        assert s.denied("SELECT _timescaledb_functions.attach_osm_table_chunk('perpetuals_ohlcv', "
                        "'perpetuals_ohlcv')")
        assert s.denied("SELECT _timescaledb_internal.drop_chunk(%s::regclass)", (one_chunk,))
    assert jobs(db) == before
    assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == 1


def test_analyst_creates_no_temporary_object(analyst):
    with analyst.statements() as s:
        assert s.denied("CREATE TEMP TABLE analyst_tmp (x int)")
        assert s.denied("CREATE TEMPORARY VIEW analyst_tmp_view AS SELECT 1")
        assert s.denied("CREATE TEMP SEQUENCE analyst_tmp_seq")
        assert s.denied("SELECT 1 AS x INTO TEMP analyst_tmp_into")
        assert s.denied("CREATE TABLE pg_temp.analyst_tmp (x int)")
        assert s.denied("CREATE FUNCTION pg_temp.analyst_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        assert s.denied("CREATE FUNCTION pg_temp.analyst_fn() RETURNS int LANGUAGE plpgsql "
                        "AS 'BEGIN RETURN 1; END'")


def test_analyst_creates_nothing_in_public(analyst):
    with analyst.statements() as s:
        assert s.denied("CREATE TABLE public.analyst_t (x int)")
        assert s.denied("CREATE VIEW public.analyst_v AS SELECT 1")
        assert s.denied("CREATE SEQUENCE public.analyst_s")
        assert s.denied("CREATE FUNCTION public.analyst_f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        assert s.denied("CREATE INDEX analyst_i ON perpetuals_ohlcv (close)")
        assert s.denied("CREATE SCHEMA analyst_schema")


@pytest.mark.parametrize("call", [
    "pg_advisory_lock(1)", "pg_advisory_lock(1, 2)", "pg_advisory_lock_shared(1)",
    "pg_try_advisory_lock(1)", "pg_try_advisory_lock_shared(1, 2)", "pg_advisory_xact_lock(1)",
    "pg_advisory_xact_lock_shared(1)", "pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock(1, 2)",
    "pg_try_advisory_xact_lock_shared(1)",
])
def test_analyst_takes_no_advisory_lock(analyst, call):
    with analyst.statements() as s:
        assert s.denied(f"SELECT {call}")


def test_analyst_stores_no_large_object(analyst):
    with analyst.statements() as s:
        assert s.denied("SELECT lo_from_bytea(0, 'kept outside every table')")
        assert s.denied("SELECT lo_create(0)")
        assert s.denied("SELECT lo_creat(-1)")


def test_writer_keeps_temporary_tables_but_creates_no_job(db):
    with as_role(db, "ingest_writer"):
        db.execute("CREATE TEMP TABLE writer_staging (x int) ON COMMIT DROP")
        assert denied(db, "SELECT add_job('pg_catalog.pg_sleep'::regproc, '1 second')")
        assert denied(db, "SELECT pg_advisory_xact_lock(1)")


def test_a_login_role_in_analyst_is_held_to_the_same(db):
    """Per-person login roles granted analyst (the documented way to give each analyst a password of
    their own) inherit the reads and none of what 0004 revoked."""
    with db.transaction(force_rollback=True):
        db.execute("CREATE ROLE analyst_alice LOGIN IN ROLE analyst")
        db.execute("SET LOCAL ROLE analyst_alice")
        db.execute("SELECT * FROM perpetuals_ohlcv_1h LIMIT 1")
        assert denied(db, "SELECT add_job('pg_catalog.pg_sleep'::regproc, '1 second')")
        assert denied(db, "CREATE TEMP TABLE alice_tmp (x int)")
        assert denied(db, "SELECT pg_advisory_xact_lock(1)")
        assert denied(db, "INSERT INTO quarantine (dataset, reason, payload) VALUES ('x', 'y', '{}')")


def scram_verifies(stored: str, password: str) -> bool:
    """Does a PostgreSQL SCRAM-SHA-256 verifier ("SCRAM-SHA-256$iter:salt$StoredKey:ServerKey") accept
    this (ASCII) password? RFC 5802 / RFC 7677."""
    method, iterations_salt, keys = stored.split("$")
    assert method == "SCRAM-SHA-256"
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


def test_analyst_password_change_is_the_documented_limit_and_the_reset_restores_it(analyst, db):
    """PostgreSQL lets every role set its own password (no privilege governs it, and event triggers do
    not fire for roles): this is the limit docs/sql-layer.md states. Everything else about roles is
    refused, and `ingest db apply-policies` (set_role_passwords) puts the configured password back."""
    with analyst.statements() as s:
        assert not s.denied("ALTER ROLE analyst SET work_mem = '64MB'")  # the limit, for session defaults too
        assert s.denied("ALTER ROLE analyst SET log_statement = 'none'")  # not a parameter a user may set
        assert s.denied("ALTER ROLE analyst CREATEDB")
        assert s.denied("ALTER ROLE analyst CREATEROLE")
        assert s.denied("ALTER ROLE analyst CONNECTION LIMIT 100")
        assert s.denied("ALTER ROLE analyst VALID UNTIL 'infinity'")
        assert s.denied("ALTER ROLE ingest_writer PASSWORD 'taken over'")
        assert s.denied("GRANT ingest_writer TO analyst")
        assert s.denied("CREATE ROLE analyst_sidekick LOGIN")

    def stored():
        return db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'analyst'").fetchone()[0]

    configured = "configured-" + secrets.token_hex(8)
    set_role_passwords(db, {"INGEST_ANALYST_PASSWORD": configured})
    analyst.commit("ALTER ROLE analyst PASSWORD 'chosen-by-analyst'")  # the limit: it succeeds
    assert scram_verifies(stored(), "chosen-by-analyst") and not scram_verifies(stored(), configured)
    assert set_role_passwords(db, {"INGEST_ANALYST_PASSWORD": configured}) == ["analyst"]
    assert scram_verifies(stored(), configured) and not scram_verifies(stored(), "chosen-by-analyst")


def privileges(conn):
    """Who may run what 0004 is about: every TimescaleDB routine, the advisory-lock and
    large-object functions and the project's functions; TEMPORARY on the database."""
    routines = conn.execute("""
        SELECT p.oid::regprocedure::text,
               has_function_privilege('public', p.oid, 'EXECUTE'),
               has_function_privilege('analyst', p.oid, 'EXECUTE'),
               has_function_privilege('ingest_writer', p.oid, 'EXECUTE')
        FROM pg_proc p
        WHERE p.oid IN (SELECT objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                        WHERE e.extname = 'timescaledb' AND d.classid = 'pg_proc'::regclass)
           OR (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^(pg_(try_)?advisory_|lo_)')
           OR (p.pronamespace = 'public'::regnamespace
               AND p.proname IN ('apply_storage_policies', 'remove_storage_policies', 'storage_aggregate_sources'))
        ORDER BY 1""").fetchall()
    database = conn.execute("""
        SELECT has_database_privilege('public', current_database(), 'TEMPORARY'),
               has_database_privilege('analyst', current_database(), 'TEMPORARY'),
               has_database_privilege('ingest_writer', current_database(), 'TEMPORARY'),
               has_database_privilege('analyst', current_database(), 'CONNECT')""").fetchone()
    return {"routines": routines, "database": database}


def test_revision_0004_round_trips(db):
    """0004's downgrade gives back PostgreSQL's and TimescaleDB's defaults, and upgrading again gives the
    same privileges as the first time. The revision's own files are run (the other revisions stay)."""
    at_head = privileges(db)
    try:
        run_file(db, sql_path(f"{REVISION_0004}.down.sql"))
        defaults = privileges(db)
        # the defaults: PUBLIC (so analyst) runs every TimescaleDB routine and may create temporary
        # objects; lo_import/lo_export were superuser-only before 0004 and stay so
        assert all(public and analyst for name, public, analyst, _ in defaults["routines"]
                   if not name.startswith(("lo_import", "lo_export")))
        assert defaults["database"] == (True, True, True, True)
        with as_role(db, "analyst"):  # the holes the upgrade closes are real on this server
            assert not denied(db, "SELECT add_job('pg_catalog.pg_sleep'::regproc, '1 hour')")
            assert not denied(db, "CREATE TEMP TABLE analyst_tmp (x int)")
            assert not denied(db, "SELECT pg_advisory_xact_lock(1)")
        run_file(db, sql_path(f"{REVISION_0004}.sql"))
        assert privileges(db) == at_head
        run_file(db, sql_path(f"{REVISION_0004}.down.sql"))
        assert privileges(db) == defaults
    finally:
        run_file(db, sql_path(f"{REVISION_0004}.sql"))
    assert privileges(db) == at_head
    by_name = {name: (public, analyst, writer) for name, public, analyst, writer in at_head["routines"]}
    assert by_name["add_job(regproc,interval,jsonb,timestamp with time zone,boolean,regproc,boolean,text,text)"] \
        == (False, False, False)
    assert by_name["time_bucket(interval,timestamp with time zone)"] == (True, True, True)
    assert by_name["pg_advisory_lock(bigint)"] == (False, False, False)
    assert at_head["database"] == (False, False, True, True)


def test_revision_0004_is_idempotent(db):
    """Run again (as after `ALTER EXTENSION timescaledb UPDATE`), the upgrade changes nothing."""
    at_head = privileges(db)
    run_file(db, sql_path(f"{REVISION_0004}.sql"))
    assert privileges(db) == at_head


def test_revision_0004_fails_loudly_when_analyst_keeps_a_privilege(db):
    """A REVOKE that takes nothing away only warns in PostgreSQL; the revision checks the result and
    fails, naming what analyst could still use (here: add_job and TEMPORARY through ingest_writer, a role
    analyst is made a member of)."""
    with db.transaction(force_rollback=True):
        db.execute("GRANT ingest_writer TO analyst")
        db.execute("GRANT EXECUTE ON FUNCTION add_job(regproc, interval, jsonb, timestamptz, boolean, regproc, "
                   "boolean, text, text) TO ingest_writer")
        left_over = r"analyst could still use: TEMPORARY on database .*, add_job\("
        with pytest.raises(psycopg.errors.RaiseException, match=left_over):
            with db.transaction():
                run_file(db, sql_path(f"{REVISION_0004}.sql"))
