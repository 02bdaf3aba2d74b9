"""Migrating on a native TimescaleDB while its job scheduler runs (`make test-native`; deselected by `make test`).

On a native server each database with the extension has a TimescaleDB job scheduler, and a policy is due
as soon as a migration creates it: its job starts while the migration goes on. A later revision that
removes or re-creates that policy (apply_storage_policies(), 0007's compression change, ...) then waits
for the job's advisory lock while the job waits for a table the migration holds: PostgreSQL reports a
deadlock and kills one of them. When the victim is the migration, `ingest db upgrade` fails; when it is
the scheduler, no policy of that database fires again (TimescaleDB does not restart a scheduler that
failed, unless timescaledb.bgw_scheduler_restart_time is set) until the server restarts. The embedded
server runs no jobs, so only a native engine shows it.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import conninfo, sql

from ingest.storage import schema

pytestmark = [pytest.mark.native, pytest.mark.e2e]

DATABASES = 4  # each upgrade base -> head takes ~2 s; about one in three deadlocked without a remedy
SCHEDULER = "TimescaleDB Background Worker Scheduler"


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo(**params)


def test_upgrading_fresh_databases_neither_fails_nor_stops_their_job_scheduler(native_url):
    names = [f"ingest_test_native_migration_{i}" for i in range(DATABASES)]
    failures = []
    with psycopg.connect(native_url, autocommit=True) as admin:
        try:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                url = _with_dbname(native_url, name)
                try:
                    schema.upgrade(url, "head")
                except Exception as exc:  # the deadlock: psycopg.errors.DeadlockDetected, maybe wrapped
                    failures.append(f"{name}: upgrade failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    continue
                with psycopg.connect(url, autocommit=True) as conn:
                    assert schema.current_revision(conn) == schema.head_revision()
            # every migrated database has its scheduler (the launcher starts one within seconds)
            deadline = time.monotonic() + 30
            while True:
                running = {d for (d,) in admin.execute(
                    "SELECT datname FROM pg_stat_activity WHERE backend_type = %s", (SCHEDULER,))}
                missing = [n for n in names if n not in running and not any(f.startswith(n + ":") for f in failures)]
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(1)
            failures += [f"{n}: no job scheduler runs after the upgrade (it died in a deadlock?)" for n in missing]
            deadlocks = admin.execute("SELECT datname, deadlocks FROM pg_stat_database WHERE datname = ANY(%s) "
                                      "AND deadlocks > 0", (names,)).fetchall()
        finally:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    assert not failures and not deadlocks, f"{failures}; deadlocks per database: {deadlocks}"
