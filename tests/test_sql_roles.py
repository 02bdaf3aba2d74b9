"""Roles: analyst reads every table and view and writes nothing; ingest_writer writes the data.

The embedded server accepts any user, so privileges are exercised with SET LOCAL ROLE inside a
transaction that is rolled back (session state is shared by all clients there)."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from ingest.policies import set_role_passwords


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
    from ingest.load import copy_upsert
    from ingest.tables import PERPETUALS_OHLCV

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
