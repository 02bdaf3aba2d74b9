"""`ingest run` as real processes against a wall-clock simulator and the test database:

two processes on one database -> exactly one collects; over ~2 minutes every perpetual and active
future has every minute up to now - 2 min, every option of the chain has a snapshot every minute, a
steady minute uses <= 25 % of the request budget (measured by the simulator); kill -9 of the leader ->
the standby takes over within two lease periods, no duplicate rows; SIGTERM -> exit 0, lease released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import wipe

LEASE = 6.0
BUDGET_PER_MIN = 20 * 60  # Deribit: 10,000 credits/s refill / 500 per request = 20 requests/s
INGEST = [str(Path(sys.executable).with_name("ingest"))]


def _start(env, log_path):
    f = open(log_path, "wb")
    return subprocess.Popen(INGEST + ["run", "--lease-seconds", str(LEASE), "--lookback-minutes", "10"],
                            env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _holder_pid(conn):
    row = conn.execute("SELECT holder, expires_at > now() FROM leader_lease").fetchone()
    if not row or not row[1]:
        return None
    return int(row[0].split(":")[-2])


@pytest.fixture(scope="module")
def run(migrated_url, tmp_path_factory):
    from ingest.sim.server import SimServer

    tmp = tmp_path_factory.mktemp("live")
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        wipe(conn)
    with SimServer(seed=7, now="wall", rate_limit=True, port=0) as sim:
        env = dict(os.environ, INGEST_DATABASE_URL=migrated_url, DERIBIT_API_URL=sim.api_url,
                   DERIBIT_HISTORY_URL=sim.history_url, INGEST_LOG_FILE=str(tmp / "a.log"),
                   INGEST_SPOOL_DIR=str(tmp / "spool"))
        a = _start(env, tmp / "a.out")
        conn = psycopg.connect(migrated_url, autocommit=True)
        deadline = time.time() + 60
        while _holder_pid(conn) != a.pid:
            assert time.time() < deadline and a.poll() is None, (tmp / "a.out").read_text()[-3000:]
            time.sleep(0.5)
        b = _start(dict(env, INGEST_LOG_FILE=str(tmp / "b.log")), tmp / "b.out")
        # sample the simulator's request counter at every minute boundary for two full minutes
        samples = []
        now = time.time()
        first = (int(now // 60) + 1) * 60
        for boundary in (first, first + 60, first + 120):
            time.sleep(max(0.0, boundary - time.time()))
            samples.append((boundary, sim.stats()["requests_total"]))
        time.sleep(40)  # the minute's jobs finish
        state = {"sim": sim, "a": a, "b": b, "conn": conn, "samples": samples, "tmp": tmp, "env": env}
        try:
            yield state
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.kill()
                    p.wait()
            conn.close()


def test_exactly_one_process_collects(run):
    conn, a, b = run["conn"], run["a"], run["b"]
    assert a.poll() is None and b.poll() is None
    assert _holder_pid(conn) == a.pid
    holders = {h for (h,) in conn.execute("SELECT DISTINCT holder FROM job_heartbeats")}
    assert len(holders) == 1 and int(holders.pop().split(":")[-2]) == a.pid
    outcomes = dict(conn.execute("SELECT job_name, last_outcome FROM job_heartbeats").fetchall())
    for job in ("perpetuals", "futures", "chain", "index", "trades", "tickers"):
        assert outcomes.get(job) == "ok", outcomes
    log = (run["tmp"] / "a.log").read_text()
    assert "job=perpetuals rows=" in log and "outcome=ok" in log  # the rotating log file
    # the database answered all along: nothing was spooled, the spool directory exists and is empty
    assert "spooled=" not in log and (run["tmp"] / "spool").is_dir()
    assert not list((run["tmp"] / "spool").glob("*.json.gz"))


def test_every_minute_of_perpetuals_and_futures_up_to_now_minus_2(run):
    conn = run["conn"]
    rows = conn.execute("""
        SELECT i.instrument_name, min(c.ts), max(c.ts), count(c.ts)
        FROM instruments i
        LEFT JOIN (SELECT instrument_name, ts FROM perpetuals_ohlcv UNION ALL
                   SELECT instrument_name, ts FROM futures_ohlcv) c USING (instrument_name)
        WHERE i.kind = 'future' AND (i.expiration_timestamp IS NULL OR i.expiration_timestamp > now())
        GROUP BY 1""").fetchall()
    assert len(rows) >= 4
    limit = conn.execute("SELECT date_trunc('minute', now()) - INTERVAL '2 minutes'").fetchone()[0]
    for name, first, last, n in rows:
        assert last is not None and last >= limit, (name, last, limit)
        assert n == int((last - first).total_seconds() // 60) + 1, f"{name} has gaps"


def test_chain_snapshot_every_minute_for_every_option(run):
    conn = run["conn"]
    per_minute = conn.execute("""
        SELECT ts, count(*) FROM options_greeks WHERE source = 'computed' GROUP BY ts ORDER BY ts""").fetchall()
    assert len(per_minute) >= 3
    minutes = [ts for ts, _ in per_minute]
    assert all((b - a).total_seconds() == 60 for a, b in zip(minutes, minutes[1:], strict=False)), minutes
    # every option listed at a minute has its row (the chain changes only at 08:00 expiries/listings)
    active = conn.execute("""SELECT count(*) FROM instruments WHERE kind = 'option'
                             AND expiration_timestamp > now()""").fetchone()[0]
    assert all(n == active for _, n in per_minute[1:]), (active, per_minute)
    assert conn.execute("SELECT count(*) FROM options_greeks WHERE source = 'exchange'").fetchone()[0] > 0
    assert conn.execute("SELECT count(DISTINCT ts) FROM index_prices WHERE source = 'ticker'").fetchone()[0] >= 3


def test_a_minute_uses_at_most_a_quarter_of_the_budget(run):
    samples = run["samples"]
    per_minute = [b[1] - a[1] for a, b in zip(samples, samples[1:], strict=False)]
    print("requests per minute:", per_minute, "budget:", BUDGET_PER_MIN)
    assert all(n <= BUDGET_PER_MIN * 0.25 for n in per_minute), per_minute
    assert all(n > 0 for n in per_minute)


def test_kill_9_leader_standby_takes_over_within_two_lease_periods(run):
    conn, a, b = run["conn"], run["a"], run["b"]
    os.killpg(a.pid, signal.SIGKILL)
    a.wait()
    killed = time.time()
    while _holder_pid(conn) != b.pid:
        assert time.time() - killed < 2 * LEASE + 2, "no takeover"
        time.sleep(0.2)
    took = time.time() - killed
    print(f"takeover after {took:.1f} s (lease {LEASE} s)")
    assert took <= 2 * LEASE
    # the new leader works at once (instruments, catch-up, chain on takeover)
    deadline = time.time() + 60
    while True:
        holders = dict(conn.execute("SELECT job_name, holder FROM job_heartbeats").fetchall())
        if str(holders.get("perpetuals", "")).split(":")[-2:-1] == [str(b.pid)]:
            break
        assert time.time() < deadline, holders
        time.sleep(1)
    for table, key in (("perpetuals_ohlcv", "instrument_name, ts"), ("futures_ohlcv", "instrument_name, ts"),
                       ("options_greeks", "instrument_name, ts, source"),
                       ("index_prices", "index_name, source, ts")):
        dup = conn.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY {key} "
                           f"HAVING count(*) > 1) d").fetchone()[0]
        assert dup == 0, table


def test_sigterm_exits_0_and_releases_the_lease(run):
    # Whichever process leads now (a, or b after the kill -9 test): the test runs alone or after it.
    conn = run["conn"]
    alive = {p.pid: (p, name) for p, name in ((run["a"], "a"), (run["b"], "b")) if p.poll() is None}
    deadline = time.time() + 2 * LEASE + 2
    while (holder := _holder_pid(conn)) not in alive:
        assert time.time() < deadline, "no live process holds the lease"
        time.sleep(0.2)
    leader, name = alive.pop(holder)
    # a standby would take the released lease over at once: stop it first (it exits 0 too)
    for standby, _ in alive.values():
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=90) == 0
    leader.send_signal(signal.SIGTERM)
    assert leader.wait(timeout=90) == 0
    row = conn.execute("SELECT holder, expires_at > now() FROM leader_lease").fetchone()
    assert int(row[0].split(":")[-2]) == leader.pid and row[1] is False
    out = (run["tmp"] / f"{name}.out").read_text()
    assert "released" in out and "Traceback" not in out
