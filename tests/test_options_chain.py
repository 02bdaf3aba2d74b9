"""Option chain rows: book summary -> computed greeks, ticker -> exchange greeks; validation; loading;
and the computed greeks against the (simulated) exchange's within the stated tolerance."""

from __future__ import annotations

import math

import pytest

from ingest.datasets import chain as options_chain
from ingest.datasets import greeks
from ingest.storage.tables import OPTIONS_GREEKS

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
    assert row[11:] == (0.0213, 67510.5, 67489.17, 512.3, 0.0, "exchange")


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


@pytest.mark.parametrize("missing", [{"mark_iv": None}, {}])
def test_summary_without_mark_iv_inverts_the_mark(missing):
    expiry = 1_719_561_600_000  # 2024-06-28T08:00Z
    F, K, sigma = 67510.5, 70000.0, 0.6127
    mark = greeks.black76(F, K, (expiry - NOW) / greeks.YEAR_MS, sigma, True).price_usd / F  # in the coin
    item = summary_item(mark_price=mark)
    del item["mark_iv"]
    v = options_chain.summary_rows("BTC", [dict(item, **missing)])
    assert not v.rejected and len(v.rows) == 1
    row = v.rows[0]
    assert row[8] == 61.27 and row[-1] == "inverted"  # 4 decimals of a percent, as stored
    g = greeks.from_mark_iv(61.27, F, K, expiry, NOW, True)
    assert row[3:8] == pytest.approx((g.delta, g.gamma, g.vega, g.theta, g.rho), abs=2e-5)


@pytest.mark.parametrize("mark, reason", [
    (0.0001, "time value not above the price resolution"),  # out of the money at the minimum tick
    (0.0, "price outside the no-arbitrage bounds"),
    (1.0, "price outside the no-arbitrage bounds"),  # a call is worth less than one coin
])
def test_summary_mark_without_information_stores_null_iv_and_greeks(mark, reason):
    item = summary_item(mark_price=mark)
    del item["mark_iv"]
    v = options_chain.summary_rows("BTC", [item])
    assert not v.rejected
    assert v.rows[0][3:11] == (None,) * 8 and v.rows[0][11] == mark and v.rows[0][-1] is None
    assert [(s.instrument_name, s.reason) for s in v.without_iv] == [(NAME, reason)]


def test_summary_of_an_expired_option_is_skipped():
    v = options_chain.summary_rows("BTC", [summary_item(creation_timestamp=1_719_561_600_000)])
    assert not v.rows and not v.rejected and [s.reason for s in v.skipped] == ["expired"]


def test_summary_not_a_list():
    v = options_chain.summary_rows("BTC", {"oops": 1})
    assert not v.rows and v.rejected[0].reason == "BTC book summary is not a list"


def test_ticker_row_and_rejects():
    v = options_chain.ticker_row(ticker())
    assert not v.rejected
    row = v.rows[0]
    assert row[2] == "exchange" and row[3:8] == (0.31245, 1e-05, 81.2, -61.3, 12.1)
    assert row[8:11] == (61.27, 60.1, 62.4) and row[-1] == "exchange"
    assert options_chain.ticker_row(ticker(greeks=None)).rejected[0].reason == "greeks missing"
    assert options_chain.ticker_row(ticker(greeks={"delta": math.inf, "gamma": 0, "vega": 0, "theta": 0,
                                                    "rho": 0})).rejected[0].reason.startswith("greeks.delta")
    assert options_chain.ticker_row(ticker(bid_iv=None)).rows[0][9] is None  # optional


@pytest.mark.parametrize("side", ["bid_iv", "ask_iv"])
@pytest.mark.parametrize("zero", [0, 0.0])
def test_ticker_iv_of_zero_means_no_quote_on_that_side(side, zero):
    row = options_chain.ticker_row(ticker(**{side: zero})).rows[0]
    assert row[9 if side == "bid_iv" else 10] is None
    assert row[8:11].count(None) == 1


def test_ticker_iv_caps_are_kept_and_too_large_ones_stored_null_and_quarantined():
    assert options_chain.ticker_row(ticker(ask_iv=500.0)).rows[0][10] == 500.0
    assert options_chain.ticker_row(ticker(ask_iv=863.38)).rows[0][10] == 863.38
    assert options_chain.ticker_row(ticker(ask_iv=999_999.9999)).rows[0][10] == 999_999.9999
    v = options_chain.ticker_row(ticker(ask_iv=1e6))
    assert v.rows[0][3:10] == (0.31245, 1e-05, 81.2, -61.3, 12.1, 61.27, 60.1) and v.rows[0][10] is None
    assert [r.reason for r in v.rejected] == ["ask_iv 1000000.0 exceeds numeric(10,4): stored NULL"]
    assert v.rejected[0].payload["ask_iv"] == 1e6


def test_ticker_without_mark_iv_keeps_the_exchange_greeks():
    t = ticker()
    del t["mark_iv"]
    row = options_chain.ticker_row(t).rows[0]
    assert row[3:8] == (0.31245, 1e-05, 81.2, -61.3, 12.1) and row[8] is None and row[-1] is None


@pytest.mark.parametrize("over, reason", [
    ({"estimated_delivery_price": "expired"}, "expired: estimated_delivery_price is 'expired'"),
    ({"timestamp": 1_719_561_600_000}, "expired: quote at or after the expiry"),
])
def test_expired_tickers_are_skipped_not_quarantined(over, reason):
    v = options_chain.ticker_row(ticker(**over))
    assert not v.rows and not v.rejected and [(s.instrument_name, s.reason) for s in v.skipped] == [(NAME, reason)]


def test_load_is_idempotent_and_quarantines(db):
    v = options_chain.merge([options_chain.summary_rows("BTC", [summary_item(), summary_item(mark_iv="x")]),
                             options_chain.ticker_row(ticker())])
    assert options_chain.load(db, v) == (2, 1)
    assert options_chain.load(db, v)[0] == 0
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM quarantine WHERE dataset = 'options_greeks'").fetchone()[0] == 2


def test_load_keeps_a_row_whose_side_iv_is_too_large_and_quarantines_the_value(db):
    v = options_chain.ticker_row(ticker(ask_iv=2.5e6))
    assert options_chain.load(db, v) == (1, 1)
    assert db.execute("SELECT ask_iv, bid_iv::float8, iv_source FROM options_greeks").fetchone() == (
        None, 60.1, "exchange")
    assert db.execute("SELECT reason, (payload->>'ask_iv')::float8 FROM quarantine").fetchone() == (
        "ask_iv 2500000.0 exceeds numeric(10,4): stored NULL", 2.5e6)


def test_computed_greeks_match_the_simulated_exchange_within_tolerance():
    """Every listed option gets a computed row; where the IV is the exchange's (mark_iv in the summary)
    the greeks equal the ticker's within TOLERANCE; where it was inverted from the mark, it reprices the
    exchange's IV within the mark's resolution (half a tick); where there is none, the mark is within a
    tick of a bound."""
    sim_api = pytest.importorskip("ingest.sim.api")
    from ingest.sim.market import Market

    ex = sim_api.Exchange(Market(7))
    now = 1_717_200_005_000
    summary = ex.call("get_book_summary_by_currency", {"currency": "BTC", "kind": "option"}, "www", now)
    v = options_chain.summary_rows("BTC", summary)
    computed = {r[1]: r for r in v.rows}
    assert not v.rejected and not v.skipped and len(computed) == len(summary) > 50
    checked = {"exchange": 0, "inverted": 0, None: 0}
    for name in sorted(computed)[:: max(1, len(computed) // 60)]:
        row = computed[name]
        t = ex.call("ticker", {"instrument_name": name}, "www", now)
        exch = options_chain.ticker_row(t).rows[0]
        checked[row[-1]] += 1
        F, strike, call = row[12], float(name.split("-")[2]), name.endswith("-C")
        if row[-1] is None:
            lower = max(F - strike, 0.0) if call else max(strike - F, 0.0)
            assert row[3:11] == (None,) * 8 and row[11] * F - lower <= options_chain.OPTION_TICK * F, name
            continue
        if row[-1] == "inverted":
            # the inverted IV reprices the mark; the exchange's IV prices within the mark's rounding
            T = (int(options_chain._option_meta(name).expiry.timestamp() * 1000) - now) / greeks.YEAR_MS
            coin = [greeks.black76(F, strike, T, iv / 100, call).price_usd / F for iv in (row[8], exch[8])]
            assert coin[0] == pytest.approx(row[11], abs=1e-6), name  # IV stored to 4 decimals
            assert abs(coin[1] - row[11]) <= 0.5 * options_chain.OPTION_TICK * (1 + 1e-6), (name, coin, row[11])
            continue
        for i, k in enumerate(("delta", "gamma", "vega", "theta", "rho")):
            c, e = row[3 + i], exch[3 + i]
            assert greeks.within_tolerance(c, e), (name, k, c, e)
    assert checked["exchange"] >= 15, checked
