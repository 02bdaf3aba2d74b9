"""Alembic owns the schema; this module is the plain Python API over it (used by `ingest db ...`,
the Makefile and the tests) plus the helpers migrations call to run files from sql/."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ingest.sqlfiles import APPLIED_DIRS, applied_files, down_file, needs_autocommit, run_file, sql_path

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def sqlalchemy_url(url: str | None) -> str:
    """Any DSN libpq takes (URL or key=value; INGEST_DATABASE_URL when None) as a SQLAlchemy URL for
    psycopg 3: postgresql+psycopg://user:password@host:port/dbname?other=params. A host list, a
    socket directory or a non-numeric port go in the query, where SQLAlchemy's psycopg dialect reads
    them. DsnError (password-free) for a DSN libpq would reject."""
    from sqlalchemy.engine import URL

    from ingest.dsn import dsn_params

    if not url:
        from ingest.config import Settings

        url = Settings.from_env().database_url
    params = dsn_params(url)
    user, password, dbname = params.pop("user", None), params.pop("password", None), params.pop("dbname", None)
    host, port = params.get("host"), params.get("port")
    single_tcp_host = host is not None and "," not in host and not host.startswith("/")
    if single_tcp_host and (port is None or port.isdigit()):
        params.pop("host")
        params.pop("port", None)
    else:
        host = port = None
    return URL.create("postgresql+psycopg", username=user, password=password, host=host,
                      port=int(port) if port else None, database=dbname,
                      query=params).render_as_string(hide_password=False)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': a password may contain one
    cfg.set_main_option("ingest.database_url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(conn: psycopg.Connection) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not row[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


# --- helpers for migration scripts --------------------------------------------------------------

def _migration_connection() -> psycopg.Connection:
    from alembic import op

    return op.get_bind().connection.driver_connection


def run_sql(relpath: str) -> None:
    """Run sql/<relpath> from inside a migration (autocommit files outside the transaction)."""
    _run_path(sql_path(relpath))


def _run_path(path: Path) -> None:
    from alembic import op

    if needs_autocommit(path.read_text()):
        with op.get_context().autocommit_block():
            run_file(_migration_connection(), path)
    else:
        run_file(_migration_connection(), path)


def apply_sql_folders() -> None:
    for folder in APPLIED_DIRS:
        for path in applied_files(folder):
            _run_path(path)


def revert_sql_folders() -> None:
    for folder in reversed(APPLIED_DIRS):
        for path in reversed(applied_files(folder)):
            down = down_file(path)
            if down is not None:
                _run_path(down)


__all__ = [
    "alembic_config",
    "apply_sql_folders",
    "current_revision",
    "downgrade",
    "head_revision",
    "revert_sql_folders",
    "run_sql",
    "sqlalchemy_url",
    "upgrade",
]


def database_status(database_url: str) -> dict:
    """What `ingest db status` prints: versions, the schema revision against head, hypertables."""
    from ingest.db import connection, server_versions

    with connection(database_url) as conn:
        info = server_versions(conn)
        current = current_revision(conn)
        hypertables = [r[0] for r in conn.execute(
            "SELECT hypertable_name::text FROM timescaledb_information.hypertables ORDER BY 1")] \
            if info["timescaledb"] else []
    head = head_revision()
    return {**info, "revision": current, "head": head, "at_head": current == head,
            "hypertables": hypertables}
