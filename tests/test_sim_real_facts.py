"""The facts of real captures ("Seen in real captures" in the shared API note) reproduced by the simulator,
each checked over HTTP against an independent computation or the capture's own figures."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone

import pytest
import requests

from ingest.deribit import calendar as cal
from ingest.sim import Market, SimServer

NOW = 1717200000000  # 2024-06-01T00:00:00Z
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
YEAR = 365 * DAY
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "deribit-real"


def N(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def b76(F, K, T, s, call):
    """Independent Black-76: (price USD, per-day theta USD)."""
    sq = s * math.sqrt(T)
    d1 = (math.log(F / K) + sq * sq / 2) / sq
    d2 = d1 - sq
    price = F * N(d1) - K * N(d2) if call else K * N(-d2) - F * N(-d1)
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    return price, -F * pdf * s / (2 * math.sqrt(T)) / 365


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=2, now=NOW + 5_000, rate_limit=False) as s:
        yield s


def get(sim, method, host="api", **params):
    base = sim.api_url if host == "api" else sim.history_url
    return requests.get(f"{base}/public/{method}", params=params, timeout=60)


def result(sim, method, **params):
    r = get(sim, method, **params)
    assert r.status_code == 200, r.text
    return json.loads(r.text)["result"]


@pytest.fixture(scope="module")
def btc_option_tickers(sim):
    names = [i["instrument_name"] for i in result(sim, "get_instruments", currency="BTC", kind="option")]
    return {n: result(sim, "ticker", instrument_name=n) for n in names}


# ----------------------------------------------------------------------------- numbers and envelopes

_PAIR = re.compile(r'"(\w+)":(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?=[,}\]])')


def test_whole_numbers_come_as_ints_and_floats_and_small_ones_in_exponent_notation(sim):
    forms: dict[str, set] = {}
    texts = [get(sim, "ticker", instrument_name=n).text for n in ("BTC-PERPETUAL", "BTC-28JUN24", "ETH-PERPETUAL")]
    texts += [get(sim, "get_book_summary_by_currency", currency="BTC", kind="option").text for _ in range(2)]
    texts += [get(sim, "get_instruments", currency="ETH", kind="future").text for _ in range(3)]
    texts += [get(sim, "get_last_trades_by_instrument", instrument_name="BTC-PERPETUAL", count=50).text]
    for text in texts:
        for key, num in _PAIR.findall(text):
            if float(num).is_integer() and "e" not in num:
                forms.setdefault(key, set()).add("int" if "." not in num else "float")
    both = {k for k, f in forms.items() if f == {"int", "float"}}
    # e.g. interest_rate 0 / 0.0, contract_size 1 / 1.0 (ETH), amount 40 / 40.0, open_interest (futures: int)
    assert {"interest_rate", "contract_size", "amount"} <= both, forms
    assert any(re.search(r":-?\d\.\d+e-\d+[,}\]]", t) for t in texts)  # 2.0e-5, 1.6433e-4 style
    # futures' open interest is an int, as in every real capture
    assert re.search(r'"open_interest":\d+[,}]', texts[0]) and '"open_interest":' in texts[0]


def test_chart_data_writes_whole_numbers_as_ints(sim):
    text = get(sim, "get_tradingview_chart_data", instrument_name="BTC-PERPETUAL", start_timestamp=NOW - DAY,
               end_timestamp=NOW, resolution="1").text
    close = json.loads(text)["result"]["close"]
    assert any(isinstance(x, int) for x in close) and any(isinstance(x, float) for x in close)
    assert all(not (isinstance(x, float) and x.is_integer()) for x in close)  # 7834, never 7834.0
    cost = json.loads(text)["result"]["cost"]
    assert all(isinstance(x, int) for x in cost if float(x).is_integer())


def test_envelope_key_order_varies_deterministically():
    def orders(variety=True):
        with SimServer(seed=5, now=NOW, rate_limit=False, json_variety=variety) as s:
            out = []
            for i in range(24):
                r = requests.post(s.api_url, json={"jsonrpc": "2.0", "id": i, "method": "public/get_time"}, timeout=10)
                out.append(tuple(json.loads(r.text)))
                e = requests.get(s.api_url + "/public/ticker", params={"instrument_name": "BTC-PERPETUAL2"})
                out.append(tuple(json.loads(e.text)) + tuple(json.loads(e.text)["error"]))
            return out

    a = orders()
    assert a == orders()  # deterministic by seed and request number
    firsts = {o[0] for o in a}
    assert "usOut" in firsts and "jsonrpc" in firsts
    assert len({o[-3:] for o in a if "error" in o}) > 1  # code/message/data order varies too
    assert len(set(orders(variety=False)[::2])) == 1


def test_plain_json_when_variety_is_off():
    with SimServer(seed=5, now=NOW, rate_limit=False, json_variety=False) as s:
        text = requests.get(s.api_url + "/public/get_instruments", params={"currency": "ETH"}).text
    assert '"contract_size":1.0' in text and '"contract_size":1,' not in text


# ----------------------------------------------------------------------------- funding

def test_funding_history_is_start_exclusive_and_counts_744_back_from_end():
    h0 = NOW - 40 * HOUR
    with SimServer(seed=3, now=NOW, rate_limit=False) as s:
        rows = result(s, "get_funding_rate_history", instrument_name="BTC-PERPETUAL", start_timestamp=h0,
                      end_timestamp=h0 + 4 * HOUR)
        assert [r["timestamp"] for r in rows] == [h0 + i * HOUR for i in (1, 2, 3, 4)]
        many = result(s, "get_funding_rate_history", instrument_name="ETH-PERPETUAL", start_timestamp=0,
                      end_timestamp=NOW)
        assert len(many) == 744 and many[-1]["timestamp"] == NOW and many[0]["timestamp"] == NOW - 743 * HOUR
        s.configure(funding_lower_bound_exclusive=False)
        rows = result(s, "get_funding_rate_history", instrument_name="BTC-PERPETUAL", start_timestamp=h0,
                      end_timestamp=h0 + 4 * HOUR)
        assert [r["timestamp"] for r in rows] == [h0 + i * HOUR for i in range(5)]
        # rates are float64 values, not rounded to a fixed number of decimals
        digits = [len(repr(abs(r["interest_1h"])).split("e")[0].replace(".", "").lstrip("0")) for r in many]
        assert max(digits) >= 15


def test_funding_chart_data_agrees_with_funding_history(sim):
    hist = {r["timestamp"]: r for r in result(sim, "get_funding_rate_history", instrument_name="BTC-PERPETUAL",
                                             start_timestamp=NOW - 9 * HOUR, end_timestamp=NOW)}
    for length, step, span in (("8h", MIN, 8 * HOUR), ("24h", 5 * MIN, DAY), ("1m", HOUR, 31 * DAY)):
        res = result(sim, "get_funding_chart_data", instrument_name="BTC-PERPETUAL", length=length)
        ts = [p["timestamp"] for p in res["data"]]
        assert ts[-1] == NOW and ts[0] == NOW - span and all(b - a == step for a, b in zip(ts, ts[1:], strict=False))
        for p in res["data"]:
            if p["timestamp"] in hist:
                assert p["interest_8h"] == pytest.approx(hist[p["timestamp"]]["interest_8h"], rel=1e-9, abs=1e-15)
                assert p["index_price"] == hist[p["timestamp"]]["index_price"]
        assert res["interest_8h"] == res["data"][-1]["interest_8h"]
        assert isinstance(res["current_interest"], (int, float))
    r = get(sim, "get_funding_chart_data", instrument_name="BTC-PERPETUAL", length="2h")
    assert r.json()["error"]["data"] == {"reason": "wrong format", "param": "length"}


def test_historical_volatility_is_hourly_with_its_first_point_repeated(sim):
    pts = result(sim, "get_historical_volatility", currency="ETH")
    assert pts[0] == pts[1]
    ts = [p[0] for p in pts[1:]]
    assert ts[-1] == NOW and all(b - a == HOUR for a, b in zip(ts, ts[1:], strict=False)) and len(ts) == 385
    # independently: annualised stdev (percent) of hourly log returns of the index over the previous 7 days
    m = Market(2)
    t = ts[-1]
    grid = [t - i * HOUR for i in range(168, -1, -1)]
    px = m.index_series("ETH", grid)
    r = [math.log(b / a) for a, b in zip(px, px[1:], strict=False)]
    mean = sum(r) / len(r)
    hv = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1) * 365 * 24) * 100
    assert pts[-1][1] == pytest.approx(hv, rel=1e-9)


# ----------------------------------------------------------------------------- candles

def test_daily_candles_run_from_0800_utc(sim):
    start = NOW - 3 * DAY  # the one-minute candles of that range fit one answer (5,000)
    daily = result(sim, "get_tradingview_chart_data", instrument_name="BTC-28JUN24", start_timestamp=start,
                   end_timestamp=NOW, resolution="1D")
    assert daily["ticks"] and all(t % DAY == 8 * HOUR for t in daily["ticks"])
    minutes = result(sim, "get_tradingview_chart_data", instrument_name="BTC-28JUN24",
                     start_timestamp=daily["ticks"][0] - 1, end_timestamp=NOW, resolution="1")
    for j, tick in enumerate(daily["ticks"]):
        idx = [i for i, t in enumerate(minutes["ticks"]) if tick <= t < tick + DAY]
        traded = [i for i in idx if minutes["volume"][i] > 0]
        assert traded
        assert daily["open"][j] == minutes["open"][traded[0]]
        assert daily["close"][j] == minutes["close"][idx[-1]]
        assert daily["high"][j] == max(minutes["high"][i] for i in traded)
        assert daily["low"][j] == min(minutes["low"][i] for i in traded)
        assert daily["volume"][j] == pytest.approx(sum(minutes["volume"][i] for i in idx), rel=1e-9, abs=1e-7)
    assert daily["ticks"][-1] == NOW - DAY + 8 * HOUR  # the candle holding "now" (since 08:00 yesterday)


def test_a_futures_last_daily_candle_ends_at_its_0800_expiry():
    with SimServer(seed=4, now=NOW, rate_limit=False) as s:
        name, expiry = "BTC-31MAY24", cal.to_ms(datetime(2024, 5, 31, 8, tzinfo=timezone.utc))
        daily = result(s, "get_tradingview_chart_data", host="history", instrument_name=name,
                       start_timestamp=expiry - 5 * DAY, end_timestamp=NOW, resolution="1D")
        assert daily["ticks"][-1] == expiry - DAY


# ----------------------------------------------------------------------------- instruments

def test_daily_futures_are_listed_beside_weeklies_and_monthlies_since_2025():
    now = cal.to_ms(datetime(2025, 6, 3, 12, tzinfo=timezone.utc))
    with SimServer(seed=4, now=now, rate_limit=False) as s:
        fut = result(s, "get_instruments", currency="BTC", kind="future")
        days = [i for i in fut if i["settlement_period"] == "day"]
        assert {i["instrument_name"] for i in days} == {"BTC-4JUN25", "BTC-5JUN25", "BTC-7JUN25"}  # 6JUN25: weekly
        assert {"week", "month", "perpetual"} <= {i["settlement_period"] for i in fut}
        for i in days:
            assert i["expiration_timestamp"] - i["creation_timestamp"] == 4 * DAY  # listed 4 days ahead
            assert cal.future_name("BTC", cal.from_ms(i["expiration_timestamp"])) == i["instrument_name"]
        c = result(s, "get_tradingview_chart_data", instrument_name="BTC-4JUN25", start_timestamp=now - DAY,
                   end_timestamp=now, resolution="60")
        assert c["status"] == "ok" and sum(c["volume"]) > 0
        assert {"BTC-4JUN25"} <= {x["instrument_name"] for x in result(s, "get_book_summary_by_currency",
                                                                        currency="BTC", kind="future")}
        s.set_now("2024-12-20T12:00:00Z")
        assert not [i for i in result(s, "get_instruments", currency="BTC", kind="future")
                    if i["settlement_period"] == "day"]


def test_instrument_fields_of_2026_and_a_missing_state(sim):
    items = result(sim, "get_instruments", currency="BTC")
    for i in items:
        assert {"product_group", "underlying_type", "base_currency_uuid", "quote_currency_uuid", "lot_size",
                "index_id"} <= i.keys()
        assert i["kind"] == "option" or "max_non_default_leverage" in i
    without = [i for i in items if "state" not in i]
    assert 0.05 * len(items) < len(without) < 0.4 * len(items)
    one = result(sim, "get_instrument", instrument_name=without[0]["instrument_name"])
    assert one == without[0]


def test_futures_book_summaries_come_unsorted():
    with SimServer(seed=8, now=NOW, rate_limit=False) as s:
        orders = []
        for k in range(4):
            s.set_now(NOW + k * MIN)
            orders.append([x["instrument_name"] for x in result(s, "get_book_summary_by_currency", currency="BTC",
                                                                kind="future")])
    assert len({tuple(o) for o in orders}) > 1 and len({frozenset(o) for o in orders}) == 1
    listed = sorted(orders[0], key=lambda n: cal.parse_instrument_name(n).expiration_timestamp)
    assert any(o != listed for o in orders)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("method", ["ticker", "get_instrument", "get_order_book", "get_tradingview_chart_data"])
def test_wrong_format_is_not_instrument_not_found(sim, method):
    params = dict(start_timestamp=NOW - HOUR, end_timestamp=NOW, resolution="1")
    for name, reason in (("ETH-USDC-FS-28NOV25_PERP", "wrong format"), ("BTC-PERPETUAL2", "wrong format"),
                         ("BTC-31FOO24", "wrong format"), ("BTC-5JAN29", "instrument not found"),
                         ("XRP_USDC-PERPETUAL", "instrument not found"), ("BTC-28JUN24-1-C", "instrument not found")):
        r = get(sim, method, instrument_name=name, **params)
        assert r.status_code == 400
        assert r.json()["error"] == {"code": -32602, "message": "Invalid params",
                                     "data": {"reason": reason, "param": "instrument_name"}}, name


@pytest.mark.parametrize("method", ["get_instruments", "get_book_summary_by_currency", "get_last_trades_by_currency",
                                    "get_historical_volatility", "get_volatility_index_data"])
def test_unknown_currency_is_invalid_currency(sim, method):
    r = get(sim, method, currency="DOGE", start_timestamp=NOW - HOUR, end_timestamp=NOW, resolution="60")
    assert r.status_code == 400
    assert r.json()["error"]["data"] == {"reason": "invalid currency", "param": "currency"}


# ----------------------------------------------------------------------------- options

def test_option_summaries_with_and_without_mark_iv():
    def summary(s, now):
        s.set_now(now)
        return {x["instrument_name"]: x for x in result(s, "get_book_summary_by_currency", currency="ETH",
                                                        kind="option")}

    with SimServer(seed=6, now=NOW, rate_limit=False) as s:
        a, b = summary(s, NOW), summary(s, NOW + MIN)
        miss_a = {n for n, x in a.items() if "mark_iv" not in x}
        miss_b = {n for n, x in b.items() if "mark_iv" not in x}
        assert 0.15 * len(a) < len(miss_a) < 0.35 * len(a)  # default share 0.25
        assert miss_a != miss_b  # a different subset each minute
        assert all(s.exchange.summary_has_mark_iv(n, NOW) == ("mark_iv" in x) for n, x in a.items())
        for x in a.values():  # what is needed to recover the IV is always there
            assert {"mark_price", "underlying_price", "instrument_name", "creation_timestamp"} <= x.keys()
        s.configure(summary_mark_iv_missing=0.0)
        assert all("mark_iv" in x for x in summary(s, NOW).values())
        s.configure(summary_mark_iv_missing=1.0)
        assert not any("mark_iv" in x for x in summary(s, NOW).values())


def test_one_sided_and_extreme_ivs(btc_option_tickers):
    ts = list(btc_option_tickers.values())
    T = {t["instrument_name"]: (cal.parse_instrument_name(t["instrument_name"]).expiration_timestamp - NOW - 5_000)
         / YEAR for t in ts}
    seen = {"bid_below_intrinsic": 0, "no_bid": 0, "no_ask": 0, "ask_over_500": 0, "ask_unsolvable": 0}
    for t in ts:
        p = cal.parse_instrument_name(t["instrument_name"])
        F, call, tau = t["underlying_price"], p.option_type == "call", T[t["instrument_name"]]
        assert t["min_price"] <= t["mark_price"] <= t["max_price"]
        if t["best_bid_price"] == 0:
            seen["no_bid"] += 1
            assert t["bid_iv"] == 0 and t["best_bid_amount"] == 0
        elif t["bid_iv"] == 0:  # a live bid no volatility explains: at or under Black-76 at 0.5 %
            seen["bid_below_intrinsic"] += 1
            assert t["best_bid_price"] * F <= b76(F, p.strike, tau, 0.005, call)[0] + 1e-6
        else:
            price = b76(F, p.strike, tau, t["bid_iv"] / 100, call)[0] / F
            assert price == pytest.approx(t["best_bid_price"], abs=2e-6 + 0.002 * t["best_bid_price"])
        if t["best_ask_price"] == 0:
            seen["no_ask"] += 1
            assert t["ask_iv"] == 0 and t["best_ask_amount"] == 0
        elif t["ask_iv"] == 500:
            seen["ask_unsolvable"] += 1
            assert t["best_ask_price"] * F >= b76(F, p.strike, tau, 10.0, call)[0]
        else:
            if t["ask_iv"] > 500:
                seen["ask_over_500"] += 1
            price = b76(F, p.strike, tau, t["ask_iv"] / 100, call)[0] / F
            assert price == pytest.approx(t["best_ask_price"], abs=2e-6 + 0.002 * t["best_ask_price"])
    assert all(seen.values()), seen


def test_no_trade_stats_in_both_shapes(btc_option_tickers):
    quiet = [t["stats"] for t in btc_option_tickers.values() if not t["stats"].get("volume")]
    assert {None, 0.0} <= {s["volume"] for s in quiet}
    for s in quiet:
        assert s["high"] is None and s["low"] is None and s["price_change"] is None


def test_option_marks_have_4_decimals_since_2023(btc_option_tickers):
    marks = [t["mark_price"] for t in btc_option_tickers.values()]
    assert all(m >= 0.0001 and abs(m * 1e4 - round(m * 1e4)) < 1e-6 for m in marks)
    with SimServer(seed=2, now="2022-06-01T00:00:00Z", rate_limit=False) as s:
        names = [i["instrument_name"] for i in result(s, "get_instruments", currency="BTC", kind="option")][::10]
        old = [result(s, "ticker", instrument_name=n)["mark_price"] for n in names]
    assert any(abs(m * 1e4 - round(m * 1e4)) > 1e-3 for m in old)  # 8 decimals before


def test_theta_follows_the_exchange_near_expiry(btc_option_tickers):
    """theta = max(Black-76 per-day theta x min(1, days left), -Black-76 value), written independently."""
    short = 0
    for t in btc_option_tickers.values():
        p = cal.parse_instrument_name(t["instrument_name"])
        tau = (p.expiration_timestamp - NOW - 5_000) / YEAR
        price, theta_day = b76(t["underlying_price"], p.strike, tau, t["mark_iv"] / 100, p.option_type == "call")
        want = max(theta_day * min(1.0, tau * 365), -price)
        assert t["greeks"]["theta"] == pytest.approx(want, abs=1e-5 + 2e-4 * abs(want)), t["instrument_name"]
        short += tau * 365 < 1
    assert short >= 10  # the dailies expiring at 08:00 today


REAL_OPTION_TICKERS = [f for f in ("ticker__cs-comment-BTC-8MAY20.json", "ticker__js-comment-BTC-12MAR25.json",
                                    "ticker__rust-test-BTC-10SEP25.json", "ticker__ccxt-option-2023.json",
                                    "get_order_book__go-test-BTC-15JAN21.json") if (FIXTURES / f).exists()]


@pytest.mark.parametrize("fixture", REAL_OPTION_TICKERS)
def test_the_theta_model_reproduces_real_tickers(fixture):
    """The simulator's greeks from a capture's own inputs (underlying, strike, mark_iv, time left) against
    the exchange's figures in that capture (within the ingester's tolerance: 1e-3 + 0.1 %)."""
    from ingest.sim.market import b76_greeks, exchange_theta

    doc = json.loads((FIXTURES / fixture).read_text())
    t = doc["response"]["result"] if "result" in doc["response"] else doc["response"]
    p = cal.parse_instrument_name(t["instrument_name"])
    tau = (p.expiration_timestamp - t["timestamp"]) / YEAR
    g = b76_greeks(t["underlying_price"], p.strike, tau, t["mark_iv"] / 100, p.option_type == "call")
    theta = exchange_theta(g["theta"], tau, g["price"])
    assert theta == pytest.approx(t["greeks"]["theta"], abs=1e-3, rel=1e-3)
    for k in ("delta", "gamma", "vega", "rho"):
        assert g[k] == pytest.approx(t["greeks"][k], abs=1e-3, rel=2e-3), k


def test_expired_option_ticker():
    expiry = cal.to_ms(datetime(2024, 5, 31, 8, tzinfo=timezone.utc))
    with SimServer(seed=2, now=expiry - HOUR, rate_limit=False, faults="settlement:off") as s:
        names = [i["instrument_name"] for i in result(s, "get_instruments", currency="BTC", kind="option")
                 if i["expiration_timestamp"] == expiry]
        s.set_now(expiry + 3_000)
        for n in names[::4]:
            t = result(s, "ticker", instrument_name=n)
            p = cal.parse_instrument_name(n)
            assert t["estimated_delivery_price"] == "expired" and t["state"] == "open"
            assert t["greeks"] == {"delta": 0.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0, "rho": 0.0}
            F = t["underlying_price"]
            intrinsic = max(F - p.strike, 0) if p.option_type == "call" else max(p.strike - F, 0)
            assert t["mark_price"] == pytest.approx(intrinsic / F, abs=1e-8)
            assert (t["bid_iv"], t["ask_iv"]) == (0.0, 500.0)
        s.set_now(expiry + HOUR)
        assert result(s, "ticker", instrument_name=names[0])["state"] == "closed"


# ----------------------------------------------------------------------------- trades

def test_trade_starbase_fields_are_exact_integers_above_2_53(sim):
    for name, size in (("BTC-PERPETUAL", 10), ("ETH-28JUN24", 1)):
        text = get(sim, "get_last_trades_by_instrument", instrument_name=name, count=200).text
        trades = json.loads(text)["result"]["trades"]
        ids = [t["starbase_match_id"] for t in trades]
        assert len(set(ids)) == len(ids)
        for t in trades:
            for k in ("starbase_match_id", "starbase_timestamp"):
                assert isinstance(t[k], int) and 2 ** 53 < t[k] < 2 ** 63
                assert f'"{k}":{t[k]}' in text  # written in full, not as a float
            assert t["starbase_timestamp"] // 1_000_000 == t["timestamp"]  # nanoseconds
            assert t["amount"] == t["contracts"] * size  # futures: amount in USD
        lossy = json.loads(text, parse_int=float)["result"]["trades"]
        assert any(int(x["starbase_match_id"]) != t["starbase_match_id"] for x, t in zip(lossy, trades, strict=True))
