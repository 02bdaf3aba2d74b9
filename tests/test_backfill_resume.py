"""kill -9 half-way, run again: 0 missing and 0 duplicated minutes, finished windows not re-fetched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from ingest.backfill.cli import parse_when
from ingest.backfill.testing import duplicates, truth_candles
from ingest.sim.server import SimServer

INGEST = Path(sys.executable).with_name("ingest")
SINCE, UNTIL = "2024-03-01", "2024-05-01"
DONE = "SELECT count(*) FROM backfill_checkpoints WHERE status='done'"


def test_sigkill_then_resume(db, migrated_url):
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True) as sim:
        env = dict(os.environ, DERIBIT_API_URL=sim.api_url, DERIBIT_HISTORY_URL=sim.history_url,
                   INGEST_DATABASE_URL=migrated_url)
        cmd = [str(INGEST), "backfill", "perpetuals", "--instrument", "BTC-PERPETUAL", "--since", SINCE,
               "--until", UNTIL, "--no-refresh", "--workers", "1", "--prefetch", "1"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        with psycopg.connect(migrated_url, autocommit=True) as watch:
            while time.monotonic() < deadline:
                n = watch.execute(DONE).fetchone()[0]
                if n >= 3:
                    break
                time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = db.execute(DONE).fetchone()[0]
        assert 3 <= done_before < 18  # killed half-way (18 windows in all)
        # every recorded window is loaded: rows = sum of rows_loaded (same transaction)
        assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == \
            db.execute("SELECT sum(rows_loaded) FROM backfill_checkpoints").fetchone()[0]
        charts_before = sim.stats()["by_method"].get("get_tradingview_chart_data", 0)

        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        charts = sim.stats()["by_method"]["get_tradingview_chart_data"] - charts_before
        total_windows = db.execute(DONE).fetchone()[0]
        assert charts == total_windows - done_before  # finished windows were not fetched again

        truth = truth_candles(sim, "BTC-PERPETUAL", parse_when(SINCE), parse_when(UNTIL),
                              parse_when("2024-06-01"))
        stored = {r[0] for r in db.execute(
            "SELECT (extract(epoch FROM ts)*1000)::bigint FROM perpetuals_ohlcv").fetchall()}
        assert len(truth.keys() - stored) == 0 and len(stored - truth.keys()) == 0
        assert duplicates(db, "perpetuals_ohlcv") == 0
