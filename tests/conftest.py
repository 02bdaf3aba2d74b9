"""The test database, resolved once per session:

1. INGEST_TEST_DATABASE_URL if set (any TimescaleDB with TSL features; its data is wiped!);
2. a TimescaleDB container through testcontainers if a Docker engine answers;
3. otherwise the project's embedded TimescaleDB (PGlite + wire proxy), in memory.

The schema is migrated to head once; the `db` fixture empties every table before each test, which
is much cheaper than a fresh server per test (the embedded server holds a single database).
"""

from __future__ import annotations

import os

import psycopg
import pytest

from ingest import schema
from ingest.tables import BOOKKEEPING_TABLES, DATA_TABLES, INSTRUMENTS

# the same image docker-compose.yml runs: TimescaleDB 2.23 on PostgreSQL 17, like the embedded build
TIMESCALEDB_IMAGE = "timescale/timescaledb:2.23.0-pg17"


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("INGEST_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(TIMESCALEDB_IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return
    from ingest.embedded import EmbeddedServer

    server = EmbeddedServer(data="memory").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated_url(database_url):
    schema.upgrade(database_url, "head")
    return database_url


def wipe(conn: psycopg.Connection) -> None:
    """Empty every data, reference and bookkeeping table and every continuous aggregate."""
    caggs = [f"{s}.{v}" for s, v in conn.execute(
        "SELECT view_schema, view_name FROM timescaledb_information.continuous_aggregates")]
    tables = [t.name for t in DATA_TABLES] + [INSTRUMENTS.name] + list(BOOKKEEPING_TABLES)
    conn.execute("TRUNCATE " + ", ".join(tables))
    for cagg in caggs:
        conn.execute(f"TRUNCATE {cagg}")


@pytest.fixture
def db(migrated_url):
    """An autocommit connection to an empty, migrated database."""
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        wipe(conn)
        yield conn
