"""backfill funding and index: every hour, paged backwards until the API returns nothing; the index is
the simulator's index (never the perpetual's close); delivery prices at 08:00 UTC."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import sim_client
from ingest.sim.server import SimServer


def quiet(_):
    pass


def test_funding_pages_back_to_the_first_hour_and_stops(db):
    # an early clock keeps the whole history short: funding starts 2019-05-01 in the simulator
    with SimServer(seed=7, now="2019-08-15T00:00:00Z", rate_limit=True) as sim:
        client = sim_client(sim)
        r = backfill("funding", client, db, tty=False, echo=quiet)
        assert r.ok
        now = parse_when("2019-08-15T00:00:00Z")
        for name, cur in (("BTC-PERPETUAL", "BTC"), ("ETH-PERPETUAL", "ETH")):
            truth = sim.market.funding(cur, 0, now, now, None)
            stored = db.execute("SELECT (extract(epoch FROM ts)*1000)::bigint, interest_1h::float8, "
                                "index_price::float8 FROM funding_rates WHERE instrument_name = %s "
                                "ORDER BY ts",
                                (name,)).fetchall()
            assert [s[0] for s in stored] == [t["timestamp"] for t in truth]
            assert all(s[1] == pytest.approx(t["interest_1h"], abs=1e-12)
                       and s[2] == pytest.approx(t["index_price"])
                       for s, t in zip(stored, truth, strict=False))
        # 744-hour windows back to the first empty one: a handful of requests, not one per hour
        assert sim.stats()["by_method"]["get_funding_rate_history"] <= 2 * 6
        again = backfill("funding", client, db, tty=False, echo=quiet)
        assert sum(again.stats.rows.values()) == 0


def test_index_from_funding_and_delivery_equals_the_market_index(db):
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True) as sim:
        client = sim_client(sim)
        since = parse_when("2024-05-20")
        r = backfill("index", client, db, since_ms=since, tty=False, echo=quiet)
        assert r.ok
        rows = db.execute("SELECT index_name, source, (extract(epoch FROM ts)*1000)::bigint, price::float8 "
                          "FROM index_prices").fetchall()
        by = {(i, s) for i, s, _, _ in rows}
        assert by == {("btc_usd", "funding"), ("btc_usd", "delivery"), ("eth_usd", "funding"),
                      ("eth_usd", "delivery")}
        cur = {"btc_usd": "BTC", "eth_usd": "ETH"}
        for index_name, source, ts, price in rows:
            assert price == pytest.approx(round(sim.market.index_price(cur[index_name], ts), 2), abs=0.011)
            if source == "delivery":
                assert ts % 86_400_000 == 8 * 3_600_000
        n_delivery = sum(1 for r in rows if r[1] == "delivery" and r[0] == "btc_usd")
        assert n_delivery == 12  # 2024-05-20 .. 2024-05-31 at 08:00
        # the index is not the perpetual's close
        perp = sim.market.candles("BTC-PERPETUAL", since, since + 3_600_000, "1", parse_when("2024-06-01"))
        idx = [round(sim.market.index_price("BTC", int(t)), 2) for t in perp["ticks"]]
        assert any(abs(a - b) > 0.01 for a, b in zip(idx, perp["close"], strict=False))


def test_index_from_trades_is_minute_level(db):
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True) as sim:
        client = sim_client(sim)
        r = backfill("index", client, db, instruments=["BTC-PERPETUAL"], sources=("trades",),
                     since_ms=parse_when("2024-05-30T00:00"), until_ms=parse_when("2024-05-30T02:00"),
                     tty=False, echo=quiet)
        assert r.ok
        rows = db.execute("SELECT (extract(epoch FROM ts)*1000)::bigint, price::float8 FROM index_prices "
                          "WHERE source = 'trades' ORDER BY ts").fetchall()
        assert len(rows) > 100  # perpetual trades every few seconds: nearly every minute
        assert len({t // 60_000 for t, _ in rows}) == len(rows)
        assert all(p == pytest.approx(round(sim.market.index_price("BTC", t), 2), abs=0.011) for t, p in rows)
