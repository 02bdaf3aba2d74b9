"""Injected faults (retryable errors, 5xx, timeouts, resets, truncated/malformed bodies, NaN prices)
change nothing in the final table except quarantined rows, which are counted."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import duplicates, sim_client, stored_candles, truth_candles
from ingest.sim.server import SimServer

FAULTS = "11094:0.08,500:0.05,503:0.03,timeout:0.03,reset:0.03,truncate:0.03,malformed:0.03,nan:0.1,delay:0.5"


def test_faults_only_quarantine_bad_rows(db):
    since, until = parse_when("2024-05-20"), parse_when("2024-05-31")
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True, faults=FAULTS) as sim:
        client = sim_client(sim, timeout=0.3)
        r = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=since, until_ms=until,
                     tty=False, echo=lambda s: None)
        assert r.ok
        assert client.stats["retries"] > 0
        truth = truth_candles(sim, "BTC-PERPETUAL", since, until, parse_when("2024-06-01"))
    stored = stored_candles(db, "perpetuals_ohlcv", "BTC-PERPETUAL")
    quarantined = {q[0] for q in db.execute(
        "SELECT (payload->>'tick')::bigint FROM quarantine WHERE payload ? 'tick'").fetchall()}
    assert r.stats.quarantined == db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    # no bad value stored
    assert all(stored[t] == pytest.approx(truth[t], rel=1e-9, abs=1e-8) for t in stored)
    assert stored.keys() | quarantined == truth.keys()  # a missing minute is a quarantined one
    assert duplicates(db, "perpetuals_ohlcv") == 0
    assert "quarantined rows" in r.text
