"""backfill options: an active and a recently expired (archived: history host) option; only minutes with
trades are stored, each equal to the simulator's candle; a second run adds nothing."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import duplicates, sim_client, stored_candles, truth_candles
from ingest.sim.server import SimServer

NOW = "2024-06-01T00:00:00Z"
SINCE, UNTIL = parse_when("2024-05-30"), parse_when("2024-05-31T12:00")
ACTIVE, EXPIRED = "BTC-28JUN24-42500-P", "BTC-31MAY24-70000-P"  # the latter expired 2024-05-31 08:00


def quiet(_):
    pass


def test_options_store_traded_minutes_only_equal_to_the_market_and_rerun_adds_nothing(db):
    # archived after half a day: the expired option's chart data is on the history host only
    with SimServer(seed=7, now=NOW, rate_limit=True, archive_after_days=0.5) as sim:
        client = sim_client(sim)
        r = backfill("options", client, db, instruments=[ACTIVE, EXPIRED], since_ms=SINCE, until_ms=UNTIL,
                     tty=False, echo=quiet)
        assert r.ok and r.stats.quarantined == 0
        now_ms = parse_when(NOW)
        for name in (ACTIVE, EXPIRED):
            truth = truth_candles(sim, name, SINCE, UNTIL, now_ms)
            traded = {t: c for t, c in truth.items() if c[4] > 0}
            stored = stored_candles(db, "options_ohlcv", name)
            assert len(truth) > len(traded) > 10  # fillers exist in the market but are not stored
            assert stored.keys() == traded.keys()
            assert all(stored[t] == pytest.approx(traded[t], rel=1e-9, abs=1e-8) for t in traded)
        # the expired option ends at the last minute before its 08:00 UTC expiry
        assert max(stored_candles(db, "options_ohlcv", EXPIRED)) <= parse_when("2024-05-31T07:59")
        assert db.execute("SELECT count(*) FROM options_ohlcv WHERE volume <= 0").fetchone()[0] == 0
        assert duplicates(db, "options_ohlcv") == 0
        assert sim.stats()["by_host_method"].get("history", {}).get("get_tradingview_chart_data", 0) > 0
        names = {n for (n,) in db.execute("SELECT instrument_name FROM instruments").fetchall()}
        assert {ACTIVE, EXPIRED} <= names

        count = db.execute("SELECT count(*) FROM options_ohlcv").fetchone()[0]
        again = backfill("options", client, db, instruments=[ACTIVE, EXPIRED], since_ms=SINCE, until_ms=UNTIL,
                         tty=False, echo=quiet)
        assert again.ok and sum(again.stats.rows.values()) == 0 and again.stats.windows_done == 0
        redo = backfill("options", client, db, instruments=[ACTIVE, EXPIRED], since_ms=SINCE, until_ms=UNTIL,
                        restart=True, tty=False, echo=quiet)
        assert redo.ok and redo.stats.windows_done > 0 and sum(redo.stats.rows.values()) == 0
        assert db.execute("SELECT count(*) FROM options_ohlcv").fetchone()[0] == count
