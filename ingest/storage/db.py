"""Connections to TimescaleDB. Errors raised from here never carry the DSN's password."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg

from ingest.storage.dsn import DsnError, error_line, normalize_dsn, redact_dsn

# the exit status of every command that cannot connect to its database (README "Exit status")
EXIT_CANNOT_CONNECT = 4

# SQLSTATEs of a connection refused or lost on the server's side: class 08 (connection exception) and
# the operator-intervention shutdowns (admin_shutdown, crash_shutdown, cannot_connect_now)
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


class DatabaseError(RuntimeError):
    """A database problem, with any password in the message replaced by '***'."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached, refused the connection, or the connection was lost."""


def cannot_connect(exc: BaseException) -> bool:
    """Whether `exc` (ours, psycopg's, or SQLAlchemy's wrapping psycopg's) means no usable connection."""
    inner = getattr(exc, "orig", None) or exc
    if isinstance(inner, DatabaseUnavailable):
        return True
    if isinstance(inner, psycopg.OperationalError):
        state = inner.sqlstate  # None: the client's side (refused, timeout, name unknown, closed)
        return state is None or state.startswith(_CONNECTION_STATES)
    return False


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection:
    """A connection to `url` (a URL or key=value DSN, normalised as ingest/storage/dsn.py says).

    DatabaseError for a DSN libpq cannot use; DatabaseUnavailable when the server cannot be reached
    or refuses us. Both say which database, redacted, in one line, and chain nothing (a traceback
    printed by anyone shows no password)."""
    try:
        conninfo = normalize_dsn(url)
    except DsnError as exc:
        raise DatabaseError(f"cannot use database {redact_dsn(url, url)}: {error_line(exc, url)}") from None
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        error = DatabaseUnavailable if cannot_connect(exc) else DatabaseError
        raise error(f"cannot connect to {redact_dsn(url, url)}: {error_line(exc, url)}") from None


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(url, autocommit=autocommit)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def server_versions(conn: psycopg.Connection) -> dict:
    """PostgreSQL and TimescaleDB versions, and whether TSL features (caggs, compression) are there."""
    pg = conn.execute("SHOW server_version").fetchone()[0]
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    license_row = conn.execute(
        "SELECT setting FROM pg_settings WHERE name = 'timescaledb.license'").fetchone()
    return {
        "postgresql": pg,
        "timescaledb": row[0] if row else None,
        "timescaledb_license": license_row[0] if license_row else None,
    }


def wait_until_ready(url: str, timeout: float = 60.0) -> None:
    """Poll until a connection succeeds; DatabaseUnavailable (password-free) after `timeout` s.
    A DSN that cannot be used fails at once (DatabaseError): waiting would not change it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(url, connect_timeout=max(1, min(5, int(timeout)))) as conn:
                conn.execute("SELECT 1")
            return
        except DatabaseUnavailable as exc:
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(f"not ready after {timeout:.0f} s: {exc}") from None
            time.sleep(0.5)
