"""Two `ingest run` and backfills on one native TimescaleDB for minutes, against a wall-clock simulator.

The embedded server runs one transaction at a time, so it cannot show what truly concurrent writers do;
a native engine can (`make test-native` runs this module, `make test` deselects it). For about two and a
half minutes two `ingest run` processes share the database (one leads, one stands by) while backfills run
beside them: `ingest backfill all` over the last day, then `ingest backfill perpetuals` again and again,
each time re-fetching its last window, the very minutes the leader is writing. Then:

  * no error: every backfill exits 0, every job run of the leader is `ok`, no process logs a traceback,
    nothing is quarantined, no window failed, and the server counts no deadlock in this database;
  * no duplicate: no key twice in any table, and every perpetual minute from the backfill's start to
    now - 2 min is there exactly once (the backfill and the live collector meet without a seam);
  * one leader: the lease holder, sampled twice a second all along, is always the first process; only it
    ran jobs; both exit 0 on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from .conftest import wipe

pytestmark = [pytest.mark.native, pytest.mark.e2e]

UTC = timezone.utc
LEASE = 6.0
DURATION_S = 150  # of concurrent work, from the second process's start
INGEST = [str(Path(sys.executable).with_name("ingest"))]
# the live collector takes 0.25 of the request budget by default; the backfills share most of the rest
BACKFILL_RATE_SHARE = "0.6"
KEYS = {"perpetuals_ohlcv": "instrument_name, ts", "futures_ohlcv": "instrument_name, ts",
        "options_ohlcv": "instrument_name, ts", "options_greeks": "instrument_name, ts, source",
        "index_prices": "index_name, source, ts", "funding_rates": "instrument_name, ts"}


def _holder_pid(conn) -> int | None:
    row = conn.execute("SELECT holder, expires_at > now() FROM leader_lease").fetchone()
    if not row or not row[1]:
        return None
    return int(row[0].split(":")[-2])


def _deadlocks(conn) -> int:
    return conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


@pytest.fixture(scope="module")
def run(native_url, tmp_path_factory):
    from ingest.sim.server import SimServer

    tmp = tmp_path_factory.mktemp("native_concurrency")
    conn = psycopg.connect(native_url, autocommit=True)
    wipe(conn)
    deadlocks_before = _deadlocks(conn)
    since = (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0)
    with SimServer(seed=7, now="wall", rate_limit=True, port=0) as sim:
        env = dict(os.environ, INGEST_DATABASE_URL=native_url, DERIBIT_API_URL=sim.api_url,
                   DERIBIT_HISTORY_URL=sim.history_url)
        env.pop("DERIBIT_RATE_SHARE", None)

        def live(name: str) -> subprocess.Popen:
            return subprocess.Popen(
                INGEST + ["run", "--lease-seconds", str(LEASE), "--lookback-minutes", "10"],
                env=dict(env, INGEST_LOG_FILE=str(tmp / f"{name}.log"), INGEST_SPOOL_DIR=str(tmp / f"spool-{name}")),
                stdout=open(tmp / f"{name}.out", "wb"), stderr=subprocess.STDOUT, start_new_session=True)

        a = live("a")
        deadline = time.time() + 60
        while _holder_pid(conn) != a.pid:
            assert time.time() < deadline and a.poll() is None, (tmp / "a.out").read_text()[-3000:]
            time.sleep(0.5)
        b = live("b")
        started = time.time()
        holders: list[int | None] = []
        backfills: list[tuple[list[str], int, str]] = []
        stop = threading.Event()

        def backfill_loop() -> None:
            commands = [["all", "--since", since.isoformat()]]
            while not stop.is_set():
                args = commands.pop(0) if commands else ["perpetuals", "--since", since.isoformat()]
                out = tmp / f"backfill-{len(backfills)}.out"
                with open(out, "wb") as f:
                    code = subprocess.run(INGEST + ["backfill", *args],
                                          env=dict(env, DERIBIT_RATE_SHARE=BACKFILL_RATE_SHARE),
                                          stdout=f, stderr=subprocess.STDOUT, timeout=600).returncode
                backfills.append((args, code, out.read_text()))
                time.sleep(2)

        worker = threading.Thread(target=backfill_loop, daemon=True)
        worker.start()
        with psycopg.connect(native_url, autocommit=True) as watcher:
            while time.time() - started < DURATION_S:
                holders.append(_holder_pid(watcher))
                time.sleep(0.5)
        stop.set()
        worker.join(timeout=600)
        time.sleep(10)  # the leader's jobs of the current minute finish
        codes = {}
        for name, p in (("b", b), ("a", a)):  # the standby first: it would take the released lease over
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                codes[name] = p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait()
        state = {"conn": conn, "a": a, "b": b, "codes": codes, "holders": holders, "backfills": backfills,
                 "tmp": tmp, "since": since, "deadlocks": _deadlocks(conn) - deadlocks_before,
                 "alive_s": time.time() - started}
        try:
            yield state
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.kill()
                    p.wait()
            wipe(conn)
            conn.close()


def test_no_error(run):
    conn, tmp = run["conn"], run["tmp"]
    assert run["backfills"], "no backfill ran"
    assert run["backfills"][0][0][0] == "all"
    for args, code, output in run["backfills"]:
        assert code == 0, (args, output[-3000:])
        assert "Traceback" not in output and " 0 failed" in output, (args, output[-3000:])
    print(f"{len(run['backfills'])} backfills beside two `ingest run` for {run['alive_s']:.0f} s")
    log = (tmp / "a.log").read_text()
    outcomes = re.findall(r"job=(\w+) .*?outcome=(\w+)", log)
    assert len({job for job, _ in outcomes}) >= 5, outcomes
    assert all(outcome == "ok" for _, outcome in outcomes), [line for line in log.splitlines()
                                                            if "outcome=" in line and "outcome=ok" not in line]
    for name in ("a", "b"):
        assert "Traceback" not in (tmp / f"{name}.out").read_text(), (tmp / f"{name}.out").read_text()[-3000:]
        assert run["codes"][name] == 0, (name, (tmp / f"{name}.out").read_text()[-3000:])
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM backfill_checkpoints WHERE status <> 'done'").fetchone()[0] == 0
    assert run["deadlocks"] == 0, "the server detected deadlocks in this database during the run"


def test_no_duplicate_and_no_seam(run):
    conn = run["conn"]
    for table, key in KEYS.items():
        dup = conn.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY {key} "
                           f"HAVING count(*) > 1) d").fetchone()[0]
        assert dup == 0, table
    limit = conn.execute("SELECT date_trunc('minute', now()) - INTERVAL '2 minutes'").fetchone()[0]
    since = run["since"]
    expected = int((limit - since).total_seconds() // 60) + 1
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        n, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT ts) FROM perpetuals_ohlcv WHERE instrument_name = %s "
            "AND ts BETWEEN %s AND %s", (name, since, limit)).fetchone()
        assert n == distinct == expected, (name, n, distinct, expected)


def test_one_leader_all_along(run):
    a, tmp = run["a"], run["tmp"]
    holders = run["holders"]
    assert len(holders) > 200
    assert set(holders) == {a.pid}, {h: holders.count(h) for h in set(holders)}
    job_holders = {h for (h,) in run["conn"].execute("SELECT DISTINCT holder FROM job_heartbeats")}
    assert {int(h.split(":")[-2]) for h in job_holders} == {a.pid}
    assert "job=" in (tmp / "a.log").read_text()
    b_log = tmp / "b.log"
    assert "job=" not in (b_log.read_text() if b_log.exists() else "")
