"""Contract tests of the option chain on real Deribit payloads (tests/fixtures/deribit-real/, sources in
each file and in the folder's README).

Every real option book summary and option ticker goes through ``summary_rows`` / ``ticker_row``. The
expected rows are written by hand from the payloads. Where the code computes (an IV inverted from the
mark price, greeks from an IV) the expected values come from an independent reference in this file —
Black-76 written with ``math.erf``, IV by plain bisection, greeks by finite differences — never from
``ingest.datasets.greeks``; tolerances are stated where they are used.

The exchange's own greeks in the real tickers decide the theta convention (``greeks.exchange_theta``):
computed greeks agree with them at every tenor seen (0.32 to 322 days), and the textbook per-day theta
does not for the three options with less than a day left.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ingest.datasets import chain as options_chain
from ingest.datasets import greeks
from ingest.storage.tables import OPTIONS_GREEKS

FIXTURES = Path(__file__).parent / "fixtures" / "deribit-real"
YEAR_MS = 365 * 86_400_000


def payload(name: str):
    """The result object of a fixture, whatever its envelope (JSON-RPC, subscription, bare)."""
    response = json.loads((FIXTURES / name).read_text())["response"]
    if isinstance(response, dict) and "params" in response and "data" in response.get("params", {}):
        return response["params"]["data"]
    if isinstance(response, dict) and "jsonrpc" in response:
        return response["result"]
    return response


def minute(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 60_000 * 60, tz=timezone.utc)


# --- an independent Black-76 (undiscounted, USD on the forward) ------------------------------------

def ncdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def ref_price(F: float, K: float, T: float, s: float, call: bool) -> float:
    if T <= 0 or s <= 0:
        return max(F - K, 0.0) if call else max(K - F, 0.0)
    d1 = (math.log(F / K) + 0.5 * s * s * T) / (s * math.sqrt(T))
    d2 = d1 - s * math.sqrt(T)
    return F * ncdf(d1) - K * ncdf(d2) if call else K * ncdf(-d2) - F * ncdf(-d1)


def ref_iv(price_usd: float, F: float, K: float, T: float, call: bool) -> float:
    """Plain bisection on sigma in [1e-6, 50]."""
    lo, hi = 1e-6, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if ref_price(F, K, T, mid, call) < price_usd:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ref_rho(F: float, K: float, T: float, s: float, call: bool) -> float:
    """d price / d rate (per 1 %) of the Black-Scholes option on spot F at rate 0, by finite differences."""
    def bs(r: float) -> float:
        d1 = (math.log(F / K) + (r + 0.5 * s * s) * T) / (s * math.sqrt(T))
        d2 = d1 - s * math.sqrt(T)
        disc = math.exp(-r * T)
        return F * ncdf(d1) - K * disc * ncdf(d2) if call else K * disc * ncdf(-d2) - F * ncdf(-d1)
    h = 1e-6
    return (bs(h) - bs(-h)) / (2 * h) / 100


def ref_greeks(F: float, K: float, T: float, s: float, call: bool) -> dict:
    """Deribit's greeks by finite differences of ref_price; theta per the convention the real tickers
    show: the per-day decay rate times min(1, days left), at most the option's whole value."""
    P = lambda F=F, T=T, s=s: ref_price(F, K, T, s, call)  # noqa: E731
    hF = F * 1e-4
    dt = 1e-7
    rate_per_day = (P(T=T - dt) - P(T=T + dt)) / (2 * dt) / 365
    return {
        "delta": (P(F=F + hF) - P(F=F - hF)) / (2 * hF),
        "gamma": (P(F=F + hF) - 2 * P() + P(F=F - hF)) / hF ** 2,
        "vega": (P(s=s + 1e-6) - P(s=s - 1e-6)) / 2e-6 / 100,
        "theta": max(rate_per_day * min(1.0, T * 365), -P()),
        "rho": ref_rho(F, K, T, s, call),
        "textbook_theta": rate_per_day,
    }


GREEKS = ("delta", "gamma", "vega", "theta", "rho")
# computed greeks are rounded to 5 decimals (like Deribit's): half a unit, plus finite-difference error
GREEK_ABS = 1e-5
# an inverted IV is stored to 4 decimals of a percent; both solvers converge far below that
IV_ABS = 1e-4


def assert_greeks(row: tuple, F: float, K: float, T: float, iv_pct: float, call: bool):
    ref = ref_greeks(F, K, T, iv_pct / 100, call)
    for i, k in enumerate(GREEKS):
        assert row[3 + i] == pytest.approx(ref[k], abs=GREEK_ABS, rel=1e-6), (row[1], k)


# --- book summaries ---------------------------------------------------------------------------------

def test_summary_without_mark_iv_2020_inverts_the_coin_mark():
    items = payload("get_book_summary_by_currency__ccxt-2020.json")
    v = options_chain.summary_rows("BTC", items)
    assert not v.rejected and not v.skipped and not v.without_iv and len(v.rows) == 1
    row = v.rows[0]
    # by hand from the payload: BTC-10MAR20-7750-C, creation 1583783678366 (2020-03-09T19:54:38.366Z),
    # expiry 2020-03-10T08:00Z; mark 0.01984559 BTC on an underlying of 7856.445926872601 USD
    F, K, mark = 7856.445926872601, 7750.0, 0.01984559
    T = (1583827200000 - 1583783678366) / YEAR_MS
    iv = ref_iv(mark * F, F, K, T, True) * 100
    assert 80 < iv < 81  # 0.50 days left, 106 USD in the money, 49 USD of time value
    assert row[:3] == (minute(1583783678366), "BTC-10MAR20-7750-C", "computed")
    assert row[8] == pytest.approx(iv, abs=IV_ABS)
    assert_greeks(row, F, K, T, iv, True)
    assert row[9:] == (None, None, 0.01984559, 7856.445926872601, 7856.29, 121.8, 0.0, "inverted")
    assert isinstance(row[15], float)  # interest_rate was the int 0


def test_summary_docs_example_mark_outside_the_bounds_stores_the_row_without_iv():
    items = payload("get_book_summary_by_currency__deribit-docs.json")
    v = options_chain.summary_rows("ETH", items)
    assert not v.rejected and len(v.rows) == 1
    # ETH-22FEB19-140-P, mark_price 80 (a docs placeholder) on an underlying of 121.38: 80 ETH is worth
    # 9,710 USD, above the put's upper bound (the strike, 140 USD): no IV, no greeks — but a row
    assert v.rows[0] == (minute(1550227952163), "ETH-22FEB19-140-P", "computed", None, None, None, None, None,
                         None, None, None, 80.0, 121.38, None, 0.55, 0.207, None)
    assert [(s.instrument_name, s.reason) for s in v.without_iv] == [
        ("ETH-22FEB19-140-P", "price outside the no-arbitrage bounds")]


def test_summary_with_mark_iv_2025_uses_it_and_inversion_agrees_with_it():
    items = payload("get_book_summary_by_currency__py-mock-2025.json")
    v = options_chain.summary_rows("BTC", items)
    assert not v.rejected and not v.without_iv and len(v.rows) == len(items) == 3
    expiry = {"BTC-7FEB25-106000-P": 1738915200000, "BTC-31JAN25-92000-P": 1738310400000,
              "BTC-27JUN25-230000-C": 1751011200000}
    snap = 1737074222663
    by_name = {r[1]: r for r in v.rows}
    hand = {  # name: (mark_iv, mark, underlying, estimated delivery, open interest, strike, call)
        "BTC-7FEB25-106000-P": (60.86, 0.1042716, 98763.21, 100143.63, 0.0, 106000.0, False),
        "BTC-31JAN25-92000-P": (60.13, 0.01866323, 99067.37, 100143.63, 135.94, 92000.0, False),
        "BTC-27JUN25-230000-C": (74.14, 0.01184211, 96813.04, 100143.63, 0.0, 230000.0, True),
    }
    for name, (iv, mark, F, edp, oi, K, call) in hand.items():
        row = by_name[name]
        T = (expiry[name] - snap) / YEAR_MS
        assert row[:3] == (minute(snap), name, "computed")
        assert row[8:] == (iv, None, None, mark, F, edp, oi, 0.0, "exchange")
        assert_greeks(row, F, K, T, iv, call)
        # the exchange's own mark and mark_iv agree with Black-76 inverted on the coin price
        assert greeks.implied_vol(mark * F, F, K, T, call).sigma * 100 == pytest.approx(iv, abs=0.02)


def test_deep_in_the_money_mark_within_a_tick_of_intrinsic_gives_no_iv():
    """BTC-12MAR25-65000-C (real ticker, 0.40 days left): the summary of that instant without mark_iv.
    Inverting its mark gives 224 % where the exchange shows 159.47 %: the mark says nothing."""
    t = payload("ticker__js-comment-BTC-12MAR25.json")
    item = {k: t[k] for k in ("instrument_name", "mark_price", "underlying_price", "underlying_index",
                              "interest_rate", "open_interest", "estimated_delivery_price")}
    item["creation_timestamp"] = t["timestamp"]
    F, K, mark = 83140.6237, 65000.0, 0.2182
    T = (1741766400000 - 1741731610450) / YEAR_MS
    intrinsic = (F - K) / F
    assert 0 < mark - intrinsic < options_chain.OPTION_TICK  # 7.9e-6 BTC of time value
    assert ref_iv(mark * F, F, K, T, True) * 100 == pytest.approx(223.67, abs=0.01)  # what would be invented
    # half a tick either way: from no time value at all to 264 %
    assert ref_price(F, K, T, 1e-6, True) / F > mark - options_chain.OPTION_TICK / 2
    assert ref_iv((mark + options_chain.OPTION_TICK / 2) * F, F, K, T, True) * 100 > 260
    v = options_chain.summary_rows("BTC", [item])
    assert not v.rejected
    assert v.rows == [(minute(1741731610450), "BTC-12MAR25-65000-C", "computed", None, None, None, None, None,
                       None, None, None, 0.2182, 83140.6237, 83149.94, 0.0, 0.0, None)]
    assert v.without_iv[0].reason == "time value not above the price resolution"


def test_mark_at_the_minimum_tick_gives_no_iv():
    """BTC-10SEP25-106000-P (real ticker): mark 0.0001 BTC, the minimum tick, out of the money."""
    t = payload("ticker__rust-test-BTC-10SEP25.json")
    item = {k: t[k] for k in ("instrument_name", "mark_price", "underlying_price", "interest_rate",
                              "open_interest", "estimated_delivery_price")}
    item["creation_timestamp"] = t["timestamp"]
    F, K, T = 110714.7602, 106000.0, (1757491200000 - 1757433676689) / YEAR_MS
    # the tick-rounded mark would invent 46.7 %; the exchange's Black-76 value at 49.22 % is 0.000144
    assert ref_iv(0.0001 * F, F, K, T, False) * 100 == pytest.approx(46.67, abs=0.01)
    assert ref_price(F, K, T, 0.4922, False) / F == pytest.approx(0.000144, abs=1e-6)
    v = options_chain.summary_rows("BTC", [item])
    assert v.rows[0][3:11] == (None,) * 8 and v.rows[0][-1] is None
    # with mark_iv present the exchange's IV is used, whatever the mark
    v = options_chain.summary_rows("BTC", [dict(item, mark_iv=49.22)])
    assert v.rows[0][8] == 49.22 and v.rows[0][-1] == "exchange" and v.rows[0][3] is not None


# --- tickers ------------------------------------------------------------------------------------------

# name -> (fixture, the row written by hand from the payload)
TICKER_ROWS = {
    "BTC-27SEP24-40000-C": ("ticker__ccxt-option-2023.json", (
        minute(1699578548021), "BTC-27SEP24-40000-C", "exchange", 0.59621, 2e-05, 141.90146, -13.48784, 130.63998,
        61.27, 60.51, 61.88, 0.2168, 38992.71, 36552.72, 368.8, 0.0, "exchange")),
    # bid_iv 0.0: no bid quote (a best bid of 0.013 is shown beside it); ask_iv 500.0 (the 2020 cap), kept
    "BTC-8MAY20-11000-P": ("ticker__cs-comment-BTC-8MAY20.json", (
        minute(1588897318040), "BTC-8MAY20-11000-P", "exchange", -0.97095, 0.00013, 0.19434, -17.4153, -0.09339,
        179.23, None, 500.0, 0.1075835, 9936.78, 9936.57, 0.0, 0.0, "exchange")),
    # bid_iv int 0 beside a live best bid of 0.1905: no quote; ask_iv 863.38: the exchange's number, kept
    "BTC-12MAR25-65000-C": ("ticker__js-comment-BTC-12MAR25.json", (
        minute(1741731610450), "BTC-12MAR25-65000-C", "exchange", 1.0, 0.0, 0.0002, -0.01591, 0.71727,
        159.47, None, 863.38, 0.2182, 83140.6237, 83149.94, 0.0, 0.0, "exchange")),
    "BTC-10SEP25-106000-P": ("ticker__rust-test-BTC-10SEP25.json", (
        minute(1757433676689), "BTC-10SEP25-106000-P", "exchange", -0.01874, 2e-05, 2.16672, -15.99927, -0.03815,
        49.22, 46.67, 51.77, 0.0001, 110714.7602, 110881.2, 18.6, 0.0, "exchange")),
    # an order book carries the ticker's fields (and bids/asks, ignored)
    "BTC-15JAN21-28000-C": ("get_order_book__go-test-BTC-15JAN21.json", (
        minute(1609384730848), "BTC-15JAN21-28000-C", "exchange", 0.62396, 0.00007, 22.57564, -64.77785, 6.46787,
        87.2, 85.2, 92.94, 0.09096156, 29153.69, 28930.14, 303.4, 0.0, "exchange")),
}


@pytest.mark.parametrize("name", sorted(TICKER_ROWS))
def test_real_option_tickers_give_the_rows_written_by_hand(name):
    fixture, expected = TICKER_ROWS[name]
    v = options_chain.ticker_row(payload(fixture))
    assert not v.rejected and not v.skipped
    assert v.rows == [expected]
    assert len(expected) == len(OPTIONS_GREEKS.columns)


def test_expired_option_ticker_is_skipped_and_counted_not_stored():
    t = payload("ticker__ws-subscription-expired-roq.json")
    assert t["estimated_delivery_price"] == "expired" and set(t["greeks"].values()) == {0.0}
    v = options_chain.ticker_row(t)
    assert not v.rows and not v.rejected
    assert [(s.instrument_name, s.reason) for s in v.skipped] == [
        ("BTC-2APR20-7125-P", "expired: estimated_delivery_price is 'expired'")]
    merged = options_chain.merge([v, options_chain.ticker_row(payload("ticker__ccxt-option-2023.json"))])
    assert len(merged.rows) == 1 and len(merged.skipped) == 1


@pytest.mark.parametrize("fixture", ["ticker__ccxt-perp-2020.json", "ticker__deribit-docs-perp.json"])
def test_perpetual_tickers_are_not_option_snapshots(fixture):
    v = options_chain.ticker_row(payload(fixture))
    assert not v.rows and [r.reason for r in v.rejected] == ["not an option ticker"]


@pytest.mark.parametrize("name, within", [
    ("BTC-27SEP24-40000-C", 0.01), ("BTC-15JAN21-28000-C", 0.12), ("BTC-8MAY20-11000-P", 0.16)])
def test_inverting_a_real_ticker_mark_gives_the_exchange_iv(name, within):
    """Tickers carry both mark_price and mark_iv: the inversion agrees (to the marks' rounding and the
    exchange's own timing)."""
    t = payload(TICKER_ROWS[name][0])
    K, call, expiry = STRIKE_EXPIRY[name]
    F, T = t["underlying_price"], (expiry - t["timestamp"]) / YEAR_MS
    iv = greeks.implied_vol(t["mark_price"] * F, F, K, T, call, resolution_usd=options_chain.OPTION_TICK * F)
    assert iv.sigma * 100 == pytest.approx(t["mark_iv"], abs=within)
    assert iv.sigma * 100 == pytest.approx(ref_iv(t["mark_price"] * F, F, K, T, call) * 100, abs=1e-6)


# --- the exchange's greeks decide the theta convention -------------------------------------------------

STRIKE_EXPIRY = {  # name -> (strike, call, expiry ms at 08:00 UTC), by hand from the names
    "BTC-27SEP24-40000-C": (40000.0, True, 1727424000000),
    "BTC-8MAY20-11000-P": (11000.0, False, 1588924800000),
    "BTC-12MAR25-65000-C": (65000.0, True, 1741766400000),
    "BTC-10SEP25-106000-P": (106000.0, False, 1757491200000),
    "BTC-15JAN21-28000-C": (28000.0, True, 1610697600000),
}


@pytest.mark.parametrize("name", sorted(TICKER_ROWS))
def test_computed_greeks_follow_the_exchange_at_every_tenor(name):
    t = payload(TICKER_ROWS[name][0])
    K, call, expiry = STRIKE_EXPIRY[name]
    F, ts, iv = t["underlying_price"], t["timestamp"], t["mark_iv"]
    days_left = (expiry - ts) / 86_400_000
    g = greeks.from_mark_iv(iv, F, K, expiry, ts, call)
    for k in GREEKS:
        assert greeks.within_tolerance(getattr(g, k), t["greeks"][k]), (name, k, getattr(g, k), t["greeks"][k])
    # the independent reference agrees with the exchange too
    ref = ref_greeks(F, K, (expiry - ts) / YEAR_MS, iv / 100, call)
    assert greeks.within_tolerance(ref["theta"], t["greeks"]["theta"])
    # the textbook per-day theta agrees only with a day or more left
    assert greeks.within_tolerance(ref["textbook_theta"], t["greeks"]["theta"]) == (days_left >= 1), days_left


def test_the_theta_cases_seen():
    """The three near-expiry tickers, in numbers (exchange / textbook rate per day / days left)."""
    cases = {}
    for name in ("BTC-8MAY20-11000-P", "BTC-12MAR25-65000-C", "BTC-10SEP25-106000-P"):
        t = payload(TICKER_ROWS[name][0])
        K, call, expiry = STRIKE_EXPIRY[name]
        T = (expiry - t["timestamp"]) / YEAR_MS
        ref = ref_greeks(t["underlying_price"], K, T, t["mark_iv"] / 100, call)
        cases[name] = (t["greeks"]["theta"], ref["textbook_theta"], T * 365,
                       ref_price(t["underlying_price"], K, T, t["mark_iv"] / 100, call))
    theta, rate, days, _ = cases["BTC-8MAY20-11000-P"]
    assert (round(rate, 2), round(days, 3)) == (-54.77, 0.318)
    assert theta == pytest.approx(rate * days, rel=1e-3)  # the decay over the 0.32 days left
    theta, rate, days, value = cases["BTC-10SEP25-106000-P"]
    assert rate * days < -50 and theta == pytest.approx(-value, rel=1e-3)  # capped at its whole value (16 USD)
    theta, rate, days, _ = cases["BTC-12MAR25-65000-C"]
    assert theta == pytest.approx(rate * days, rel=5e-3)  # 4 significant digits sent


# --- into the migrated database ---------------------------------------------------------------------

def test_real_rows_load_into_the_migrated_table(db):
    parts = [options_chain.summary_rows("BTC", payload("get_book_summary_by_currency__ccxt-2020.json")),
             options_chain.summary_rows("ETH", payload("get_book_summary_by_currency__deribit-docs.json")),
             options_chain.summary_rows("BTC", payload("get_book_summary_by_currency__py-mock-2025.json")),
             options_chain.ticker_row(payload("ticker__ws-subscription-expired-roq.json"))]
    parts += [options_chain.ticker_row(payload(f)) for f, _ in TICKER_ROWS.values()]
    v = options_chain.merge(parts)
    assert options_chain.load(db, v) == (10, 0)
    assert options_chain.load(db, v) == (0, 0)  # idempotent
    stored = {(r[0], r[1]): r[2:] for r in db.execute(
        "SELECT instrument_name, source, delta, theta, mark_iv, bid_iv, ask_iv, mark_price, iv_source "
        "FROM options_greeks")}
    assert len(stored) == 10
    assert stored["ETH-22FEB19-140-P", "computed"] == (None, None, None, None, None, Decimal("80.00000000"), None)
    inverted = stored["BTC-10MAR20-7750-C", "computed"]
    assert inverted[-1] == "inverted" and inverted[0] is not None and 80 < inverted[2] < 81
    assert stored["BTC-8MAY20-11000-P", "exchange"] == (
        Decimal("-0.970950"), Decimal("-17.415300"), Decimal("179.2300"), None, Decimal("500.0000"),
        Decimal("0.10758350"), "exchange")
    assert stored["BTC-12MAR25-65000-C", "exchange"][2:] == (
        Decimal("159.4700"), None, Decimal("863.3800"), Decimal("0.21820000"), "exchange")
    assert stored["BTC-7FEB25-106000-P", "computed"][-1] == "exchange"
    assert "BTC-2APR20-7125-P" not in {name for name, _ in stored}
    # a synthetic forward comes as a full float64: NUMERIC(18,8) keeps 8 decimals (a relative 3e-13 lost)
    assert db.execute("SELECT underlying_price FROM options_greeks WHERE instrument_name = "
                      "'BTC-10MAR20-7750-C'").fetchone()[0] == Decimal("7856.44592687")  # sent: 7856.445926872601
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO options_greeks (ts, instrument_name, source, iv_source) "
                   "VALUES (now(), 'BTC-8MAY20-11000-P', 'computed', 'guessed')")
