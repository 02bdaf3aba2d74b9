"""The database goes away for a while under a running `ingest run`: the process keeps running and
logging, reconnects, and the catch-up leaves no gap in the candles once the database is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from ingest import schema
from ingest.embedded import EmbeddedServer

# 75 s in CI; the 3-minute outage: INGEST_TEST_OUTAGE_S=180 pytest tests/test_live_outage.py
OUTAGE_S = float(os.environ.get("INGEST_TEST_OUTAGE_S", "75"))
INGEST = [str(Path(sys.executable).with_name("ingest"))]


def _query(url, sql):
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_database_outage_leaves_no_gap(tmp_path):
    from ingest.sim.server import SimServer

    data = tmp_path / "pg"
    srv = EmbeddedServer(data=data, log_path=tmp_path / "pg.log").start()
    port = srv.port
    try:
        schema.upgrade(srv.url, "head")
        with SimServer(seed=7, now="wall", rate_limit=True, port=0) as sim:
            env = dict(os.environ, INGEST_DATABASE_URL=srv.url, DERIBIT_API_URL=sim.api_url,
                       DERIBIT_HISTORY_URL=sim.history_url)
            out = open(tmp_path / "run.out", "wb")
            proc = subprocess.Popen(INGEST + ["run", "--lease-seconds", "6", "--lookback-minutes", "5",
                                              "--jobs", "instruments,candles,index,gap_repair"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                deadline = time.time() + 90
                while not _query(srv.url, "SELECT 1 FROM job_heartbeats WHERE job_name = 'candles' "
                                          "AND last_outcome = 'ok'"):
                    assert time.time() < deadline and proc.poll() is None
                    time.sleep(1)
                srv.stop()
                time.sleep(OUTAGE_S)
                assert proc.poll() is None, "the collector died with the database"
                srv = EmbeddedServer(port=port, data=data, log_path=tmp_path / "pg.log").start()
                back = time.time()
                # wait for a candles run after the database came back that reaches now - 2 min
                deadline = back + 100
                while True:
                    try:
                        rows = _query(srv.url, """
                            SELECT min(last) >= date_trunc('minute', now()) - INTERVAL '2 minutes'
                            FROM (SELECT instrument_name, max(ts) AS last FROM perpetuals_ohlcv
                                  GROUP BY 1) x""")
                        if rows and rows[0][0]:
                            break
                    except psycopg.Error:
                        pass
                    assert time.time() < deadline, (tmp_path / "run.out").read_text()[-3000:]
                    time.sleep(2)
                assert proc.poll() is None
                gaps = _query(srv.url, """
                    SELECT instrument_name, count(*), min(ts), max(ts) FROM (
                        SELECT instrument_name, ts FROM perpetuals_ohlcv UNION ALL
                        SELECT instrument_name, ts FROM futures_ohlcv) c GROUP BY 1""")
                assert gaps
                for name, n, first, last in gaps:
                    assert n == int((last - first).total_seconds() // 60) + 1, f"{name} has a gap"
                log = (tmp_path / "run.out").read_text()
                assert "outcome=error" in log  # the outage was seen and logged
                assert "Traceback" not in log
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    assert proc.wait(timeout=60) == 0
                finally:
                    if proc.poll() is None:
                        proc.kill()
    finally:
        srv.stop()
