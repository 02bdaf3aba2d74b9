"""Storage policies, aggregate refreshes and role passwords: the plain Python API over the SQL layer.

The settings live in one table, ``storage_settings`` (revision 0002, sql/revisions/0002_views_policies/); the SQL
function ``apply_storage_policies()`` turns them into TimescaleDB jobs (refresh, compression,
retention) and refuses a retention that would drop rows a continuous aggregate still refreshes.
Migration 0002 calls it once; ``ingest db apply-policies`` calls it again after a settings change.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Mapping

import click
import psycopg
from psycopg import sql

# role -> environment variable holding its password (roles: sql/revisions/0002_views_policies/policies/90_roles.sql)
ROLE_PASSWORD_VARIABLES = {
    "ingest_writer": "INGEST_WRITER_PASSWORD",
    "analyst": "INGEST_ANALYST_PASSWORD",
}


class PolicyError(RuntimeError):
    """storage_settings is inconsistent (e.g. a retention shorter than a refresh window)."""


def apply_policies(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(Re)create every refresh, compression and retention policy from storage_settings.

    Returns (relation, policy, setting) for each policy set or removed. Idempotent. Raises
    PolicyError, having changed nothing, when the settings are inconsistent.
    """
    try:
        with conn.transaction():
            rows = conn.execute("SELECT relation, policy, setting FROM apply_storage_policies()").fetchall()
    except psycopg.errors.RaiseException as exc:
        raise PolicyError(str(exc.diag.message_primary or exc)) from None
    return [tuple(r) for r in rows]


def storage_settings(conn: psycopg.Connection) -> list[dict]:
    """The rows of storage_settings, as dicts."""
    cur = conn.execute("SELECT * FROM storage_settings ORDER BY relation")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def set_role_passwords(conn: psycopg.Connection, env: Mapping[str, str] | None = None) -> list[str]:
    """Set the password of each role whose variable is set (and not empty); return those roles.

    The password is sent as a literal inside ALTER ROLE (utility statements take no parameters) and
    is never logged or returned.
    """
    env = os.environ if env is None else env
    done = []
    for role, variable in ROLE_PASSWORD_VARIABLES.items():
        password = env.get(variable)
        if not password:
            continue
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            continue
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        done.append(role)
    return done


def aggregates_in_refresh_order(conn: psycopg.Connection) -> list[str]:
    """Every continuous aggregate, each after the aggregate it is built on (1h before 1d)."""
    sources: dict[str, str] = dict(conn.execute("SELECT aggregate, source FROM storage_aggregate_sources()").fetchall())
    ordered: list[str] = []
    while len(ordered) < len(sources):
        progressed = False
        for agg, src in sorted(sources.items()):
            if agg not in ordered and (src not in sources or src in ordered):
                ordered.append(agg)
                progressed = True
        if not progressed:  # pragma: no cover - a cycle cannot exist in TimescaleDB
            raise PolicyError(f"cannot order continuous aggregates: {sources}")
    return ordered


def refresh_aggregates(
    conn: psycopg.Connection,
    start: datetime | None = None,
    end: datetime | None = None,
    names: list[str] | None = None,
) -> list[str]:
    """Refresh continuous aggregates over [start, end) (None: unbounded), hourly before daily.

    A backfill of history older than an aggregate's refresh_start_offset calls this for its range.
    CALL refresh_continuous_aggregate cannot run in a transaction: `conn` must be in autocommit.
    """
    if not conn.autocommit:
        raise PolicyError("refresh_aggregates needs an autocommit connection")
    done = []
    for agg in aggregates_in_refresh_order(conn):
        if names is not None and agg not in names:
            continue
        conn.execute(
            "CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
            (agg, start, end),
        )
        done.append(agg)
    return done


def analyze(conn: psycopg.Connection, relations: list[str] | None = None) -> list[str]:
    """ANALYZE hypertables and continuous aggregates (an aggregate: its materialization); None: all
    of schema public. Returns the relations analyzed, as given.

    A production server's autovacuum keeps statistics; the embedded one has none, so a loader calls
    this after a backfill (and its refresh). The views do not need statistics for a sane plan
    (futures_basis_1h is linear without them), but ad-hoc joins, the gap views and
    storage_usage.approx_rows do.
    """
    if relations is None:
        relations = [
            r[0]
            for r in conn.execute(
                "SELECT hypertable_name::text FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = 'public' UNION ALL "
                "SELECT view_name::text FROM timescaledb_information.continuous_aggregates "
                "WHERE view_schema = 'public' ORDER BY 1"
            )
        ]
    done = []
    for rel in relations:
        mat = conn.execute(
            "SELECT materialization_hypertable_schema::text, materialization_hypertable_name::text "
            "FROM timescaledb_information.continuous_aggregates "
            "WHERE view_schema = 'public' AND view_name = %s",
            (rel,),
        ).fetchone()
        target = sql.Identifier(*mat) if mat else sql.Identifier(rel)
        conn.execute(sql.SQL("ANALYZE {}").format(target))
        done.append(rel)
    return done


@click.command("apply-policies")
@click.option(
    "--passwords/--no-passwords",
    default=True,
    show_default=True,
    help="Also set the passwords of ingest_writer and analyst from INGEST_WRITER_PASSWORD / "
    "INGEST_ANALYST_PASSWORD when those are set.",
)
def apply_policies_command(passwords: bool) -> None:
    """Re-apply the storage policies of storage_settings to INGEST_DATABASE_URL.

    Compression, retention and aggregate-refresh policies are recreated from the table
    storage_settings (defaults in docs/sql-layer.md); a retention shorter than the refresh window of
    an aggregate built on the table is refused and nothing changes.

    \b
    Example:
        psql "$INGEST_DATABASE_URL" -c "UPDATE storage_settings SET retain_for = '180 days'
                                        WHERE relation = 'options_ohlcv'"
        ingest db apply-policies
    """
    from ingest.config import Settings, redact_dsn
    from ingest.storage.db import DatabaseError, connection

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with connection(settings.database_url, autocommit=True) as conn:
            applied = apply_policies(conn)
            roles = set_role_passwords(conn) if passwords else []
    except PolicyError as exc:
        raise click.ClickException(redact_dsn(str(exc), settings.database_url)) from None
    except (DatabaseError, psycopg.Error) as exc:
        from ingest.cli import database_failure

        raise database_failure(exc, settings.database_url) from None
    click.echo(f"database {settings.safe_database_url}")
    for relation, policy, setting in applied:
        click.echo(f"  {relation:<22} {policy:<12} {setting}")
    for role in roles:
        click.echo(f"  role {role}: password set from {ROLE_PASSWORD_VARIABLES[role]}")


__all__ = [
    "ROLE_PASSWORD_VARIABLES",
    "PolicyError",
    "aggregates_in_refresh_order",
    "analyze",
    "apply_policies",
    "apply_policies_command",
    "refresh_aggregates",
    "set_role_passwords",
    "storage_settings",
]
