"""backfill futures: contracts absent from expired=true are reconstructed from the calendar, confirmed
by the history host, recorded with source 'calendar'; every minute of their life in range is stored."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import sim_client, stored_candles, truth_candles
from ingest.sim.server import SimServer


def test_expired_unlisted_futures_are_reconstructed_and_loaded(db):
    since, until = parse_when("2024-05-23T00:00"), parse_when("2024-05-24T12:00")
    # expired=true lists only the last day: BTC-24MAY24 (expired a week before "now") is not listed
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True, expired_window_days=1) as sim:
        client = sim_client(sim)
        r = backfill("futures", client, db, instruments=["BTC-24MAY24", "BTC-28JUN24"], since_ms=since,
                     until_ms=until, tty=False, echo=lambda s: None)
        assert r.ok
        now = parse_when("2024-06-01")
        for name in ("BTC-24MAY24", "BTC-28JUN24"):
            truth = truth_candles(sim, name, since, until, now)
            stored = stored_candles(db, "futures_ohlcv", name)
            assert truth and stored.keys() == truth.keys()
            assert all(stored[t] == pytest.approx(truth[t], rel=1e-9, abs=1e-8) for t in truth)
        assert max(truth_candles(sim, "BTC-24MAY24", since, until, now)) == parse_when("2024-05-24T07:59")
        sources = dict(db.execute("SELECT instrument_name, source FROM instruments").fetchall())
        assert sources["BTC-24MAY24"] == "calendar" and sources["BTC-28JUN24"] == "exchange"
        assert sim.stats()["by_host_method"].get("history", {}).get("get_tradingview_chart_data", 0) > 0


def test_daily_futures_are_reconstructed_from_the_calendar(db):
    since, until = parse_when("2025-03-03T00:00"), parse_when("2025-03-06T00:00")
    now = parse_when("2025-03-12")
    # expired=true lists only the last day: the dailies of early March are known from the calendar only
    with SimServer(seed=7, now="2025-03-12T00:00:00Z", rate_limit=True, expired_window_days=1) as sim:
        r = backfill("futures", sim_client(sim), db, since_ms=since, until_ms=until, tty=False,
                     echo=lambda s: None)
        assert r.ok, r.text
        # Tuesday 4 and Wednesday 5 March 2025: daily futures (not Fridays)
        for name in ("BTC-4MAR25", "ETH-5MAR25"):
            truth = truth_candles(sim, name, since, until, now)
            stored = stored_candles(db, "futures_ohlcv", name)
            assert truth and stored.keys() == truth.keys()
            assert all(stored[t] == pytest.approx(truth[t], rel=1e-9, abs=1e-8) for t in truth)
    rows = dict(db.execute("SELECT instrument_name, (source, settlement_period) FROM instruments "
                           "WHERE instrument_name IN ('BTC-4MAR25', 'ETH-5MAR25')").fetchall())
    assert rows == {"BTC-4MAR25": ("calendar", "day"), "ETH-5MAR25": ("calendar", "day")}
