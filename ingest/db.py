"""Connections to TimescaleDB. Errors raised from here never carry the DSN's password."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool

from ingest.config import redact_dsn


class DatabaseError(RuntimeError):
    """A database problem, with any password in the message replaced by '***'."""


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {redact_dsn(url)}: {redact_dsn(str(exc)).strip()}") from None


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(url, autocommit=autocommit)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def make_pool(url: str, *, min_size: int = 1, max_size: int = 4, name: str = "ingest") -> ConnectionPool:
    """A pool that opens lazily and survives the database going away (it reconnects on demand)."""
    return ConnectionPool(url, min_size=min_size, max_size=max_size, name=name, open=True, timeout=30,
                          reconnect_timeout=0, kwargs={"connect_timeout": 10})


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
    """Poll until a connection succeeds; raise DatabaseError (password-free) after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except DatabaseError as exc:
            if time.monotonic() >= deadline:
                raise DatabaseError(f"not ready after {timeout:.0f} s: {exc}") from None
            time.sleep(0.5)
