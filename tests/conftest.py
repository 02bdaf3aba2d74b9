"""The test database, resolved once per session:

1. INGEST_TEST_DATABASE_URL if set (any TimescaleDB with TSL features; its data is wiped!);
2. a TimescaleDB container through testcontainers if a Docker engine answers;
3. otherwise the project's embedded TimescaleDB (PGlite + wire proxy), in memory.

The schema is migrated to head once; the `db` fixture empties every table before each test, which
is much cheaper than a fresh server per test (the embedded server holds a single database).

`make test-native` (CI's second run) sets INGEST_TEST_DATABASE_URL to a native TimescaleDB cluster that
scripts/native-timescaledb.sh starts for the run. Tests that need what only a native engine has (real
concurrent transactions, background workers firing policies and jobs) carry the `native` marker and
use the `native_url` fixture: `make test` deselects them explicitly (-m "not native", reported as
deselected), `make test-native` runs them, and one run on the embedded server fails rather than skips.

Every test gets exactly one tier marker here, without touching the test files (tests/test_tiers.py
proves it); `make test` runs all tiers, `make test-fast` (-m "unit or integration") the first two:

  unit         no database, no server, no process of ours: everything else
  integration  the test database (a fixture of DATABASE_FIXTURES, directly or through another fixture)
               or a server of ours in this process (the simulator, the rewriting proxy, an embedded
               TimescaleDB): a module whose source names one of SERVER_NAMES
  e2e          whole `ingest` processes (or servers) started, killed and waited for on the wall clock:
               the modules of E2E_MODULES and the tests of E2E_TESTS; their timeout is E2E_TIMEOUT

A test may carry a tier marker itself; then that one is kept. Add a new wall-clock test module or
test to E2E_MODULES / E2E_TESTS.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import psycopg
import pytest

from ingest.datasets import data_tables
from ingest.storage import schema
from ingest.storage.tables import BOOKKEEPING_TABLES

TIERS = ("unit", "integration", "e2e")
DATABASE_FIXTURES = {"database_url", "migrated_url", "db", "native_url"}
NATIVE_MARKER = ("native: needs a native TimescaleDB (real concurrency, background workers): run by "
                 "`make test-native`, deselected by `make test` (-m 'not native')")
SERVER_NAMES = ("SimServer", "RewritingProxy", "EmbeddedServer")
E2E_MODULES = {
    "test_live_collector.py",  # two `ingest run` processes for minutes, kill -9, SIGTERM
    "test_live_outage.py",  # `ingest run` through a database outage
    "test_backfill_resume.py",  # `ingest backfill` killed with SIGKILL, then resumed
    "test_live_once.py",  # `ingest run --once` as a process against the database and the simulator
}
E2E_TESTS = {
    "test_backfill_nothing_lost.py::test_kill_9_then_resume_leaves_the_aggregates_complete",
    "test_live_spool.py::test_kill_9_during_a_flush_then_restart_loses_and_duplicates_nothing",
    "test_embedded_server.py::test_restart_keeps_data_continuous_aggregate_and_jobs",
    "test_embedded_server.py::test_sigkill_keeps_committed_data",
    "test_sim_cli.py::test_python_m_runs_and_stops",
}
E2E_TIMEOUT = 900  # seconds; the default for the other tiers is pyproject's `timeout`


def _uses_a_server(module) -> bool:
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return False
    return any(name in source for name in SERVER_NAMES)


def tier_of(item) -> str:
    own = [t for t in TIERS if item.get_closest_marker(t) is not None]
    if own:
        return own[0]
    path = Path(str(item.fspath)).name
    if path in E2E_MODULES or f"{path}::{item.originalname}" in E2E_TESTS:
        return "e2e"
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())) or _uses_a_server(item.module):
        return "integration"
    return "unit"


def pytest_configure(config):
    config.addinivalue_line("markers", NATIVE_MARKER)


def pytest_collection_modifyitems(config, items):
    report: dict[str, list[str]] = {}
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
        if tier == "e2e" and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))
        report[item.nodeid] = [t for t in TIERS if item.get_closest_marker(t) is not None]
    # tests/test_tiers.py asks a collection for the tiers it gave
    if os.environ.get("INGEST_TEST_TIER_REPORT"):
        Path(os.environ["INGEST_TEST_TIER_REPORT"]).write_text(json.dumps(report))


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


@pytest.fixture(scope="session")
def native_url(database_url, request):
    """The migrated test database when it is a native engine. A test using it fails at once (before any
    migration) on the embedded server, which serialises transactions and runs no background jobs, and
    names the way to run it: a skip would hide a missing test."""
    from ingest.cli import server_engine

    with psycopg.connect(database_url, autocommit=True) as conn:
        engine = server_engine(conn)
    if engine["engine"] != "native":
        pytest.fail(f"this test needs a native TimescaleDB, the test database is {engine['engine_description']}: "
                    "run it with `make test-native` (`make test` deselects the tests marked native)",
                    pytrace=False)
    return request.getfixturevalue("migrated_url")


def wipe(conn: psycopg.Connection) -> None:
    """Empty every data, reference and bookkeeping table and every continuous aggregate."""
    caggs = [f"{s}.{v}" for s, v in conn.execute(
        "SELECT view_schema, view_name FROM timescaledb_information.continuous_aggregates")]
    tables = [t.name for t in data_tables()] + list(BOOKKEEPING_TABLES)
    conn.execute("TRUNCATE " + ", ".join(tables))
    for cagg in caggs:
        conn.execute(f"TRUNCATE {cagg}")


@pytest.fixture
def db(migrated_url):
    """An autocommit connection to an empty, migrated database."""
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        wipe(conn)
        yield conn
