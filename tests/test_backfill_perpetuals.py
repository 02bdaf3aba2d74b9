"""backfill perpetuals: every minute exactly once, equal to the simulator's market; a second run adds 0."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import duplicates, sim_client, stored_candles, truth_candles
from ingest.sim.server import SimServer

NOW = "2024-06-01T00:00:00Z"
SINCE, UNTIL = parse_when("2024-05-28"), parse_when("2024-05-31T12:00")


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=7, now=NOW, rate_limit=True) as s:
        yield s


def test_every_minute_once_equal_to_the_market_and_rerun_adds_nothing(sim, db):
    client = sim_client(sim)
    r = backfill("perpetuals", client, db, since_ms=SINCE, until_ms=UNTIL, tty=False, echo=lambda s: None)
    assert r.ok and r.stats.quarantined == 0
    now_ms = parse_when(NOW)
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        truth = truth_candles(sim, name, SINCE, UNTIL, now_ms)
        stored = stored_candles(db, "perpetuals_ohlcv", name)
        assert len(truth) == (UNTIL - SINCE) // 60_000 + 1
        assert stored.keys() == truth.keys()
        assert all(stored[t] == pytest.approx(truth[t], rel=1e-9, abs=1e-8) for t in truth)
    assert duplicates(db, "perpetuals_ohlcv") == 0
    # statistics for the planner (the embedded server has no autovacuum): the loaded chunks are analyzed
    assert r.analyzed == ["perpetuals_ohlcv"]
    assert db.execute("SELECT count(*) FROM timescaledb_information.chunks c JOIN pg_stats s ON "
                      "s.schemaname = c.chunk_schema AND s.tablename = c.chunk_name AND s.attname = 'ts' "
                      "WHERE c.hypertable_name = 'perpetuals_ohlcv'").fetchone()[0] >= 1

    before = sim.stats()["by_method"].get("get_tradingview_chart_data", 0)
    r2 = backfill("perpetuals", client, db, since_ms=SINCE, until_ms=UNTIL, tty=False, echo=lambda s: None)
    assert sum(r2.stats.rows.values()) == 0 and r2.stats.windows_done == 0
    assert sim.stats()["by_method"].get("get_tradingview_chart_data", 0) == before  # nothing re-fetched
    assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == 2 * len(truth)


def test_restart_refetches_and_changes_nothing(sim, db):
    client = sim_client(sim)
    kw = dict(instruments=["BTC-PERPETUAL"], since_ms=SINCE, until_ms=SINCE + 6 * 3_600_000, tty=False,
              echo=lambda s: None)
    backfill("perpetuals", client, db, **kw)
    r = backfill("perpetuals", client, db, restart=True, **kw)
    assert r.stats.windows_done == 1 and sum(r.stats.rows.values()) == 0
    assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == 6 * 60 + 1


def test_windows_in_flight_follow_the_round_trip(db):
    from ingest.backfill.engine import Concurrency

    since, until = parse_when("2024-03-01"), parse_when("2024-04-15")
    # 400 ms before every answer: at 20 requests/s, ceil(20 x 0.4 x 1.25) + 2 = 12 windows must be in flight
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True, latency_ms=400) as sim:
        client = sim_client(sim, timeout=5.0)
        r = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=since, until_ms=until,
                     tty=False, echo=lambda s: None)
        truth = truth_candles(sim, "BTC-PERPETUAL", since, until, parse_when("2024-06-01"))
    assert r.ok
    assert client.round_trip_s >= 0.4
    assert r.stats.max_in_flight > Concurrency.FLOOR
    assert stored_candles(db, "perpetuals_ohlcv", "BTC-PERPETUAL").keys() == truth.keys()
