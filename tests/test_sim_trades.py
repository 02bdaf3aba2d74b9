"""Trades: count <= 1000, has_more, consistency with candles, www 24h limit by currency-and-time."""
import pytest
import requests

from ingest.sim import SimServer

NOW = 1717200000000
MIN = 60_000


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=9, now=NOW, rate_limit=False) as s:
        yield s


def call(sim, method, host="api", **params):
    base = sim.api_url if host == "api" else sim.history_url
    return requests.get(f"{base}/public/{method}", params=params, timeout=30)


def test_count_limit_and_has_more(sim):
    r = call(sim, "get_last_trades_by_instrument", instrument_name="BTC-PERPETUAL", count=1001)
    assert r.status_code == 400 and r.json()["error"]["data"]["param"] == "count"
    res = call(sim, "get_last_trades_by_instrument", instrument_name="BTC-PERPETUAL", count=1000).json()["result"]
    assert len(res["trades"]) == 1000 and res["has_more"] is True
    t = res["trades"]
    assert all(a["timestamp"] >= b["timestamp"] for a, b in zip(t, t[1:], strict=False))
    assert [x["trade_seq"] for x in t] == list(range(t[0]["trade_seq"], t[0]["trade_seq"] - 1000, -1))
    assert len({x["trade_id"] for x in t}) == 1000
    for x in t:
        assert {"trade_id", "trade_seq", "instrument_name", "timestamp", "price", "amount", "direction",
                "tick_direction", "index_price", "mark_price"} <= x.keys()


def test_trades_match_candles(sim):
    start, end = NOW - 86400_000, NOW - 86400_000 + 30 * MIN - 1
    res = call(sim, "get_last_trades_by_instrument_and_time", instrument_name="BTC-28JUN24", start_timestamp=start,
               end_timestamp=end, count=1000, sorting="asc").json()["result"]
    assert res["has_more"] is False
    trades = res["trades"]
    c = call(sim, "get_tradingview_chart_data", instrument_name="BTC-28JUN24", start_timestamp=start - 1,
             end_timestamp=end, resolution="1").json()["result"]
    for i, tick in enumerate(c["ticks"]):
        mt = [t for t in trades if tick <= t["timestamp"] < tick + MIN]
        if not mt:
            assert c["volume"][i] == 0
            continue
        assert c["open"][i] == mt[0]["price"] and c["close"][i] == mt[-1]["price"]
        assert c["high"][i] == max(t["price"] for t in mt) and c["low"][i] == min(t["price"] for t in mt)
        assert c["cost"][i] == pytest.approx(sum(t["amount"] for t in mt))
        assert c["volume"][i] == pytest.approx(sum(t["amount"] / t["price"] for t in mt), rel=1e-6, abs=1.1e-8)


def test_paging_asc_with_has_more(sim):
    start, end = NOW - 3 * 3600_000, NOW
    seen = []
    s = start
    for _ in range(50):
        res = call(sim, "get_last_trades_by_instrument_and_time", instrument_name="ETH-PERPETUAL", start_timestamp=s,
                   end_timestamp=end, count=100, sorting="asc").json()["result"]
        seen += res["trades"]
        if not res["has_more"]:
            break
        s = res["trades"][-1]["timestamp"]
    ids = [t["trade_id"] for t in seen]
    assert len(set(ids)) >= 0.9 * len(ids)  # same-ms duplicates are the client's to drop


def test_www_24h_limit_by_currency_and_time(sim):
    old = dict(currency="BTC", kind="future", start_timestamp=NOW - 3 * 86400_000,
               end_timestamp=NOW - 2 * 86400_000, count=10)
    assert call(sim, "get_last_trades_by_currency_and_time", **old).json()["result"] == {"trades": [],
                                                                                          "has_more": False}
    h = call(sim, "get_last_trades_by_currency_and_time", host="history", **old).json()["result"]
    assert len(h["trades"]) == 10 and h["has_more"]
    assert all(NOW - 3 * 86400_000 <= t["timestamp"] <= NOW - 2 * 86400_000 for t in h["trades"])


@pytest.mark.parametrize("name", ["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-28JUN24", "ETH-29MAR24"])
def test_carry_into_a_cold_window_is_the_previous_days_last_trade(name):
    """A window whose previous day was never generated (the close carried in is computed without
    generating that day) equals the same window after all earlier trades were generated, and its
    first filler candles carry the last trade price before the window."""
    from ingest.sim import Market
    from ingest.sim.market import day_of, day_start

    cold, warm = Market(5), Market(5)
    inst = cold.instrument(name)
    first = day_of(inst.creation_ms)
    for d in range(first + 1, first + 40, 3):
        start, end = day_start(d), day_start(d) + 2 * 86400_000 - 1
        got = cold.candles(inst, start, end, "1", NOW)
        for dd in range(first, d):
            warm.day_trades(inst, dd)
        want = warm.candles(inst, start, end, "1", NOW)
        for k in ("ticks", "open", "high", "low", "close", "volume", "cost"):
            assert got[k].tolist() == want[k].tolist(), (k, d)
        before = warm.trades(inst, inst.creation_ms, start - 1, NOW)
        carry = before["price"][-1] if len(before["price"]) else warm.listing_price(inst)
        i = 0
        while got["volume"][i] == 0:
            assert got["open"][i] == got["high"][i] == got["low"][i] == got["close"][i] == carry
            i += 1
        lo, hi = min(got["open"][i], got["close"][i]), max(got["open"][i], got["close"][i])
        assert got["low"][i] <= lo <= hi <= got["high"][i]


def _expected_currency_trades(market, currency, kind, start, end):
    """Every instrument's trades in [start, end], asked instrument by instrument, ordered as the exchange
    pages a currency: by (timestamp, trade_id)."""
    rows = []
    for inst in market.instruments_between(currency, kind, start, end):
        t = market.trades(inst, start, end, NOW)
        prefix = "" if currency == "BTC" else currency + "-"
        for k in range(len(t["ts"])):
            seq = int(t["seq"][k])
            rows.append((int(t["ts"][k]), f"{prefix}{inst.instrument_id}{seq:09d}", inst.name, float(t["price"][k]),
                         float(t["amount"][k])))
    return sorted(rows)


@pytest.mark.parametrize("currency,kind", [("BTC", "option"), ("ETH", "any"), ("BTC", "future")])
def test_currency_pages_are_every_instruments_trades_in_exchange_order(sim, currency, kind):
    """Paging a currency forward (asc) and asking for the newest (desc) returns exactly the union of the
    instruments' own trades, ordered by (timestamp, trade_id), across a day boundary; for futures the
    window is the latest day holding trades of one millisecond (their order is the trade_id's)."""
    from ingest.sim import Market
    from ingest.sim.market import day_of, day_start

    market = Market(9)
    for d in range(day_of(NOW) - 1, day_of(NOW) - 30, -1):
        start, end = day_start(d) - 3 * 3600_000, day_start(d + 1) - 1
        want = _expected_currency_trades(market, currency, None if kind == "any" else kind, start, end)
        if kind == "option" or len({w[0] for w in want}) < len(want):
            break
    else:
        raise AssertionError(f"no {currency} {kind} trades sharing a millisecond in 30 days")
    assert len(want) > 2_000
    got, cursor, seen = [], start, set()
    while True:
        res = call(sim, "get_last_trades_by_currency_and_time", host="history", currency=currency, kind=kind,
                   start_timestamp=cursor, end_timestamp=end, count=1000, sorting="asc").json()["result"]
        got += [t for t in res["trades"] if t["trade_id"] not in seen]
        seen |= {t["trade_id"] for t in res["trades"]}
        if not res["has_more"]:
            break
        cursor = res["trades"][-1]["timestamp"]
    assert [(t["timestamp"], t["trade_id"], t["instrument_name"], t["price"], t["amount"]) for t in got] == want
    newest = call(sim, "get_last_trades_by_currency_and_time", host="history", currency=currency, kind=kind,
                  start_timestamp=start, end_timestamp=end, count=1000, sorting="desc").json()["result"]
    assert newest["has_more"] is True
    assert [t["trade_id"] for t in newest["trades"]] == [w[1] for w in reversed(want[-1000:])]


def test_an_options_trades_do_not_depend_on_what_was_generated_first():
    """An expiry's options are generated together for a day; whichever is asked first (the option, a
    sibling, or a page of the whole currency), each option's trades are the same."""
    from ingest.sim import Market
    from ingest.sim.market import day_of

    name, sibling = "BTC-28JUN24-70000-C", "BTC-28JUN24-60000-P"
    d = day_of(NOW) - 3
    first, via_sibling, via_page = Market(4), Market(4), Market(4)
    a = first.day_trades(first.instrument(name), d)
    via_sibling.day_trades(via_sibling.instrument(sibling), d)
    via_page.day_tape("BTC", "option", d)
    for m in (via_sibling, via_page):
        b = m.day_trades(m.instrument(name), d)
        for k in ("ts", "price", "amount", "iv", "mark", "index", "direction"):
            assert a[k].tolist() == b[k].tolist(), k
    assert len(a["ts"]) > 0
