"""The schema Alembic builds: it equals what the loaders declare, and migrations round-trip."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from ingest.datasets import data_tables
from ingest.storage import schema
from ingest.storage.tables import OPTIONS_GREEKS

from .conftest import wipe


def snapshot(conn: psycopg.Connection) -> dict:
    """Everything user-visible in the public schema, independent of generated ids and oids."""
    q = lambda sql: sorted(tuple(r) for r in conn.execute(sql))
    return {
        "columns": q("""
            SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'v', 'm', 'p')"""),
        "indexes": q("""SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"""),
        "constraints": q("""
            SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"""),
        "hypertables": q("""
            SELECT d.hypertable_name, d.column_name, d.time_interval::text
            FROM timescaledb_information.dimensions d WHERE d.hypertable_schema = 'public'"""),
        "caggs": q("""SELECT view_name, materialized_only::text
                      FROM timescaledb_information.continuous_aggregates"""),
        # job configs name internal hypertable ids, which a downgrade + upgrade renumbers
        "jobs": q("""SELECT proc_name, coalesce(hypertable_name, ''), schedule_interval::text,
                            coalesce((config - 'hypertable_id' - 'mat_hypertable_id')::text, '')
                     FROM timescaledb_information.jobs WHERE job_id >= 1000"""),
        "functions": q("""SELECT p.proname, pg_get_function_identity_arguments(p.oid)
                          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'public'"""),
    }


def test_loaders_columns_equal_migrated_tables(db):
    for spec in data_tables():
        rows = db.execute(
            """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0
                 AND NOT a.attisdropped ORDER BY a.attnum""", (spec.name,)).fetchall()
        migrated = {name: typ for name, typ in rows}
        declared = dict(spec.columns)
        # every column a loader writes exists with the declared type ...
        assert {c: migrated.get(c) for c in declared} == declared, spec.name
        # ... and every migrated column without a default is one the loader writes
        undeclared = set(migrated) - set(declared)
        defaults = {r[0] for r in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND column_default IS NOT NULL", (spec.name,))}
        assert undeclared <= defaults, (spec.name, undeclared - defaults)


def test_six_data_tables_are_hypertables(db):
    names = {r[0] for r in db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables "
                                      "WHERE hypertable_schema = 'public'")}
    assert {t.name for t in data_tables() if t.hypertable} <= names
    assert "instruments" not in names


def test_upgrade_downgrade_upgrade_gives_the_same_schema(migrated_url):
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        before = snapshot(conn)
        assert before["columns"], "snapshot saw no tables"
    schema.downgrade(migrated_url, "base")
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        emptied = snapshot(conn)
        assert schema.current_revision(conn) is None
    assert not [c for c in emptied["columns"] if c[0] != "alembic_version"]
    schema.upgrade(migrated_url, "head")
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        after = snapshot(conn)
        assert schema.current_revision(conn) == schema.head_revision()
        wipe(conn)
    assert after == before


@pytest.mark.parametrize("value", ["999999.999999", "-999999.999999", "0.000001", "-4321.123456",
                                   "812.5", "0.00002"])
def test_greeks_hold_real_extremes(db, value):
    """BTC option vega reaches hundreds and theta thousands; gamma is ~1e-5 (Deribit: 5 decimals)."""
    cols = ("delta", "gamma", "vega", "theta", "rho")
    db.execute(
        f"INSERT INTO options_greeks (ts, instrument_name, source, {', '.join(cols)}) "
        "VALUES ('2024-01-01', 'BTC-29MAR24-60000-C', 'computed', %s, %s, %s, %s, %s)",
        [Decimal(value)] * 5)
    stored = db.execute(f"SELECT {', '.join(cols)} FROM options_greeks").fetchone()
    assert stored == (Decimal(value),) * 5
    assert dict(OPTIONS_GREEKS.columns)["vega"] == "numeric(12,6)"


def test_greek_out_of_range_is_an_error_not_a_wrong_row(db):
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        db.execute("INSERT INTO options_greeks (ts, instrument_name, source, vega) "
                   "VALUES ('2024-01-01', 'X', 'computed', 1000000)")
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 0
