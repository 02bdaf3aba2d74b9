"""Policies and jobs fire by themselves on a native TimescaleDB: its background workers run them on their
schedule, with no `CALL run_job` (the embedded server has no background workers, so only a native engine
can show it; `make test-native` runs these, `make test` deselects them).

Each test shortens a job's schedule_interval to a few seconds with next_start now, waits on the wall clock
for what the job must have done, and puts the schedule back. What must have happened is derived from the
rows the test itself wrote, never from the job's own report.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ingest.sim.market import Market

from .conftest import wipe
from .test_sql_vol_support import exchange, load_instruments, load_snapshot, ms, wipe_analytics

pytestmark = [pytest.mark.native, pytest.mark.e2e]

UTC = timezone.utc
WAIT_S = 120  # a job due now starts within the scheduler's next wake-up; generous for a loaded 2-core machine
DAYS = 3
# the candles lie well before compress_after (storage_settings: 7 days for perpetuals_ohlcv)
FIRST = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=40)


def _job(conn, proc: str, relation: str | None = None) -> tuple[int, timedelta]:
    (job,) = conn.execute(
        "SELECT job_id, schedule_interval FROM timescaledb_information.jobs "
        "WHERE proc_name = %s AND (%s::text IS NULL OR hypertable_name = %s::text "
        "     OR hypertable_name = (SELECT materialization_hypertable_name FROM "
        "                           timescaledb_information.continuous_aggregates WHERE view_name = %s::text))",
        (proc, relation, relation, relation)).fetchall()
    return job


def _successes(conn, job_id: int) -> int:
    row = conn.execute("SELECT total_successes FROM timescaledb_information.job_stats WHERE job_id = %s",
                       (job_id,)).fetchone()
    return (row[0] or 0) if row else 0


@contextmanager
def due_every_few_seconds(conn, *job_ids: int):
    """The jobs due now and every 2 s; their schedules restored afterwards (next run one interval away)."""
    saved = {j: conn.execute("SELECT schedule_interval FROM timescaledb_information.jobs WHERE job_id = %s",
                             (j,)).fetchone()[0] for j in job_ids}
    try:
        for j in job_ids:
            conn.execute("SELECT alter_job(%s, schedule_interval => INTERVAL '2 seconds', next_start => now())",
                         (j,))
        yield
    finally:
        for j, every in saved.items():
            conn.execute("SELECT alter_job(%s, schedule_interval => %s, next_start => now() + %s)", (j, every, every))


def _wait_for(what: str, check, conn, job_ids) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            stats = conn.execute(
                "SELECT job_id, last_run_status, total_runs, total_failures, next_start "
                "FROM timescaledb_information.job_stats WHERE job_id = ANY(%s)", (list(job_ids),)).fetchall()
            schedulers = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'TimescaleDB Background Worker "
                "Scheduler' AND datname = current_database()").fetchone()[0]
            errors = conn.execute(
                "SELECT job_id, err_message FROM timescaledb_information.job_errors WHERE job_id = ANY(%s) "
                "ORDER BY finish_time DESC LIMIT 5", (list(job_ids),)).fetchall()
            pytest.fail(f"{what}: not done {WAIT_S} s after the jobs were due; job stats {stats}; "
                        f"job schedulers running for this database: {schedulers}; last errors {errors}")
        time.sleep(1)


def test_compression_and_refresh_policies_fire_by_themselves(native_url):
    with psycopg.connect(native_url, autocommit=True) as conn:
        wipe(conn)
        minutes = DAYS * 24 * 60
        # close = 20,000 + the minute's index, so the sum is known without reading it back
        conn.execute(
            "INSERT INTO perpetuals_ohlcv (ts, instrument_name, open, high, low, close, volume, cost) "
            "SELECT %s + i * INTERVAL '1 minute', 'BTC-PERPETUAL', 20000 + i, 20001 + i, 19999 + i, 20000 + i, "
            "1.5, 30000 FROM generate_series(0, %s - 1) i", (FIRST, minutes))
        expected_sum = 20000 * minutes + minutes * (minutes - 1) // 2
        compression, _ = _job(conn, "policy_compression", "perpetuals_ohlcv")
        refresh, _ = _job(conn, "policy_refresh_continuous_aggregate", "perpetuals_ohlcv_1h")
        before = {j: _successes(conn, j) for j in (compression, refresh)}
        (materialized,) = conn.execute(
            "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) "
            "FROM timescaledb_information.continuous_aggregates WHERE view_name = 'perpetuals_ohlcv_1h'").fetchone()

        def compressed() -> bool:
            chunks = conn.execute(
                "SELECT bool_and(is_compressed), count(*) FROM timescaledb_information.chunks "
                "WHERE hypertable_name = 'perpetuals_ohlcv'").fetchone()
            return bool(chunks[0]) and chunks[1] > 0

        def refreshed() -> bool:
            return conn.execute(f"SELECT count(*) FROM {materialized}").fetchone()[0] == DAYS * 24

        with due_every_few_seconds(conn, compression, refresh):
            _wait_for("compression of the 40-day-old chunks", compressed, conn, (compression, refresh))
            _wait_for("materialisation of perpetuals_ohlcv_1h", refreshed, conn, (compression, refresh))
        assert _successes(conn, compression) > before[compression]
        assert _successes(conn, refresh) > before[refresh]
        # the job compressed the rows, it did not lose or change any
        count, total = conn.execute("SELECT count(*), sum(close) FROM perpetuals_ohlcv").fetchone()
        assert (count, total) == (minutes, expected_sum)
        # the hourly candles the policy materialised: the hour's first open, last close, extremes, 60 candles
        row = conn.execute(f"SELECT open, high, low, close, volume, candles FROM {materialized} WHERE ts = %s",
                           (FIRST,)).fetchone()
        assert row == (20000, 20060, 19999, 20059, 90, 60)
        wipe(conn)


def test_the_analytics_job_fires_by_itself(native_url):
    """analytics_refresh_job (revision 0015) commits hour by hour inside the job: in a background worker it
    must work as it does under CALL run_job."""
    market = Market(seed=0)
    with psycopg.connect(native_url, autocommit=True) as conn:
        wipe(conn)
        wipe_analytics(conn)
        now_ms = ms(datetime.now(UTC)) // 60_000 * 60_000
        ex = exchange(market, 0.25)
        load_instruments(conn, ex, ("BTC",), now_ms)
        snap = load_snapshot(conn, ex, "BTC", now_ms)
        job, _ = _job(conn, "analytics_refresh_job")
        before = _successes(conn, job)

        def done() -> bool:
            return conn.execute("SELECT count(*) FROM vol_surface_cm_1h").fetchone()[0] == 1 \
                and _successes(conn, job) > before

        with due_every_few_seconds(conn, job):
            _wait_for("analytics_refresh_job's refresh of the snapshot", done, conn, (job,))
        assert conn.execute("SELECT DISTINCT ts FROM vol_expiry_1m").fetchall() == [(snap.ts,)]
        assert conn.execute("SELECT DISTINCT ts FROM vol_expiry_1h").fetchall() == [(snap.ts.replace(minute=0),)]
        wipe_analytics(conn)
        wipe(conn)
