"""Option chain rows: book summary -> computed greeks, ticker -> exchange greeks; validation; loading;
and the computed greeks against the (simulated) exchange's within the stated tolerance."""

from __future__ import annotations

import math

import pytest

from ingest import greeks, options_chain
from ingest.tables import OPTIONS_GREEKS

NOW = 1_717_200_005_123  # 2024-06-01T00:00:05.123Z
NAME = "BTC-28JUN24-70000-C"


def summary_item(**over):
    item = {"instrument_name": NAME, "base_currency": "BTC", "mark_price": 0.0213, "mark_iv": 61.27,
            "underlying_price": 67510.5, "underlying_index": "BTC-28JUN24", "interest_rate": 0.0,
            "open_interest": 512.3, "estimated_delivery_price": 67489.17, "creation_timestamp": NOW}
    item.update(over)
    return item


def ticker(**over):
    t = {"instrument_name": NAME, "timestamp": NOW, "mark_price": 0.0213, "mark_iv": 61.27, "bid_iv": 60.1,
         "ask_iv": 62.4, "underlying_price": 67510.5, "index_price": 67489.17, "interest_rate": 0.0,
         "open_interest": 512.3,
         "greeks": {"delta": 0.31245, "gamma": 1e-05, "vega": 81.2, "theta": -61.3, "rho": 12.1}}
    t.update(over)
    return t


def test_summary_row_shape_and_greeks():
    v = options_chain.summary_rows("BTC", [summary_item()])
    assert not v.rejected and len(v.rows) == 1
    row = v.rows[0]
    assert len(row) == len(OPTIONS_GREEKS.columns)
    assert row[0].timestamp() * 1000 == NOW - NOW % 60_000 and row[1] == NAME and row[2] == "computed"
    expiry = 1_719_561_600_000  # 2024-06-28T08:00Z
    g = greeks.from_mark_iv(61.27, 67510.5, 70000.0, expiry, NOW, True)
    assert row[3:8] == (g.delta, g.gamma, g.vega, g.theta, g.rho)
    assert row[8:11] == (61.27, None, None)
    assert row[11:] == (0.0213, 67510.5, 67489.17, 512.3, 0.0)


@pytest.mark.parametrize("bad, reason", [
    ({"mark_iv": math.nan}, "mark_iv is not a finite number"),
    ({"underlying_price": 0}, "underlying_price is not positive"),
    ({"mark_price": None}, "mark_price is not a finite number"),
    ({"open_interest": -1.0}, "open_interest is negative"),
    ({"instrument_name": "BTC-PERPETUAL"}, "not an option summary"),
    ({"instrument_name": "BTC-31FOO24-1-C"}, "not an option summary"),
])
def test_bad_summary_items_are_rejected_alone(bad, reason):
    v = options_chain.summary_rows("BTC", [summary_item(**bad), summary_item(instrument_name="BTC-28JUN24-80000-P")])
    assert [r[1] for r in v.rows] == ["BTC-28JUN24-80000-P"]
    assert [r.reason for r in v.rejected] == [reason]


def test_summary_not_a_list():
    v = options_chain.summary_rows("BTC", {"oops": 1})
    assert not v.rows and v.rejected[0].reason == "BTC book summary is not a list"


def test_ticker_row_and_rejects():
    v = options_chain.ticker_row(ticker())
    assert not v.rejected
    row = v.rows[0]
    assert row[2] == "exchange" and row[3:8] == (0.31245, 1e-05, 81.2, -61.3, 12.1)
    assert row[8:11] == (61.27, 60.1, 62.4)
    assert options_chain.ticker_row(ticker(greeks=None)).rejected[0].reason == "greeks missing"
    assert options_chain.ticker_row(ticker(greeks={"delta": math.inf, "gamma": 0, "vega": 0, "theta": 0,
                                                    "rho": 0})).rejected[0].reason.startswith("greeks.delta")
    assert options_chain.ticker_row(ticker(bid_iv=None)).rows[0][9] is None  # optional


def test_load_is_idempotent_and_quarantines(db):
    v = options_chain.merge([options_chain.summary_rows("BTC", [summary_item(), summary_item(mark_iv="x")]),
                             options_chain.ticker_row(ticker())])
    assert options_chain.load(db, v) == (2, 1)
    assert options_chain.load(db, v)[0] == 0
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM quarantine WHERE dataset = 'options_greeks'").fetchone()[0] == 2


def test_computed_greeks_match_the_simulated_exchange_within_tolerance():
    sim_api = pytest.importorskip("ingest.sim.api")
    from ingest.sim.market import Market

    ex = sim_api.Exchange(Market(7))
    now = 1_717_200_005_000
    summary = ex.call("get_book_summary_by_currency", {"currency": "BTC", "kind": "option"}, "www", now)
    computed = {r[1]: r for r in options_chain.summary_rows("BTC", summary).rows}
    assert len(computed) > 50
    checked = worst = 0
    for name in sorted(computed)[:: max(1, len(computed) // 60)]:
        t = ex.call("ticker", {"instrument_name": name}, "www", now)
        exch = options_chain.ticker_row(t).rows[0]
        for i, k in enumerate(("delta", "gamma", "vega", "theta", "rho")):
            c, e = computed[name][3 + i], exch[3 + i]
            assert greeks.within_tolerance(c, e), (name, k, c, e)
            worst = max(worst, abs(c - e) - greeks.TOLERANCE["rel"] * abs(e))
        checked += 1
    assert checked >= 30
