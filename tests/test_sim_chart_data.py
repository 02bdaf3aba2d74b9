"""Chart data conformance: 5,000 newest kept, filler candles, no_data before listing, resolutions."""
import pytest
import requests

from ingest.sim import SimServer

NOW = 1717200000000  # 2024-06-01T00:00:00Z
MIN = 60_000


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=7, now=NOW, rate_limit=False, port=0) as s:
        yield s


def chart(sim, name, start, end, res="1", host="api"):
    base = sim.api_url if host == "api" else sim.history_url
    r = requests.get(base + "/public/get_tradingview_chart_data", params=dict(
        instrument_name=name, start_timestamp=start, end_timestamp=end, resolution=res), timeout=30)
    return r


def test_envelope_and_newest_5000(sim):
    r = chart(sim, "BTC-PERPETUAL", NOW - 20 * 86400_000, NOW - 3600_000)
    assert r.status_code == 200
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["testnet"] is False and "id" not in body
    assert {"usIn", "usOut", "usDiff"} <= body.keys()
    res = body["result"]
    assert res["status"] == "ok"
    assert len(res["ticks"]) == 5000
    assert res["ticks"][-1] == NOW - 3600_000  # newest kept
    assert all(b - a == MIN for a, b in zip(res["ticks"], res["ticks"][1:], strict=False))
    for k in ("open", "high", "low", "close", "volume", "cost"):
        assert len(res[k]) == 5000


def test_ohlc_consistency_and_fillers(sim):
    res = chart(sim, "BTC-28JUN24", NOW - 3 * 86400_000, NOW - 2 * 86400_000).json()["result"]
    o, h, lo, c, v, cost = (res[k] for k in ("open", "high", "low", "close", "volume", "cost"))
    fillers = 0
    for i in range(len(o)):
        assert h[i] >= max(o[i], c[i]) and lo[i] <= min(o[i], c[i])
        if v[i] == 0:
            fillers += 1
            assert cost[i] == 0
            assert o[i] == h[i] == lo[i] == c[i]
            if i:
                assert o[i] == c[i - 1]
        else:
            assert cost[i] > 0
    assert 0 < fillers < len(o)  # a dated future does not trade every minute


def test_lower_bound_exclusive(sim):
    t = NOW - 86400_000
    a = chart(sim, "BTC-PERPETUAL", t, t + 10 * MIN).json()["result"]["ticks"]
    b = chart(sim, "BTC-PERPETUAL", t - 1, t + 10 * MIN).json()["result"]["ticks"]
    assert a[0] == t + MIN and b[0] == t  # documented: start is exclusive; ask from start-1


def test_no_data_before_listing(sim):
    res = chart(sim, "BTC-PERPETUAL", 1500000000000, 1500003600000).json()["result"]
    assert res["status"] == "no_data" and res["ticks"] == []


def test_nothing_after_now(sim):
    res = chart(sim, "BTC-PERPETUAL", NOW - 10 * MIN, NOW + 86400_000).json()["result"]
    assert max(res["ticks"]) <= NOW


@pytest.mark.parametrize("res", ["1", "3", "5", "10", "15", "30", "60", "120", "180", "360", "720", "1D"])
def test_resolutions_aggregate_minutes(sim, res):
    minutes = 1440 if res == "1D" else int(res)
    start = NOW - 2 * 86400_000
    end = start + 6 * minutes * MIN
    agg = chart(sim, "ETH-PERPETUAL", start - 1, end - 1, res).json()["result"]
    one = chart(sim, "ETH-PERPETUAL", start - 1, end - 1 + minutes * MIN, "1").json()["result"]
    offset = 8 * 3600_000 if res == "1D" else 0  # daily candles are ticked at 08:00 UTC
    assert agg["ticks"] and all((t - offset) % (minutes * MIN) == 0 for t in agg["ticks"])
    for j, tick in enumerate(agg["ticks"]):
        idx = [i for i, t in enumerate(one["ticks"]) if tick <= t < tick + minutes * MIN]
        if not idx:
            continue
        assert agg["high"][j] == max(one["high"][i] for i in idx if one["volume"][i] > 0) if any(
            one["volume"][i] > 0 for i in idx) else True
        assert agg["volume"][j] == pytest.approx(sum(one["volume"][i] for i in idx), rel=1e-6, abs=1e-7)
        assert agg["close"][j] == one["close"][idx[-1]]


def test_bad_resolution_and_unknown_instrument(sim):
    r = chart(sim, "BTC-PERPETUAL", 0, NOW, "7")
    assert r.status_code == 400
    assert r.json()["error"]["data"] == {"reason": "wrong format", "param": "resolution"}
    r = chart(sim, "BTC-PERPETUAL2", 0, NOW)
    assert r.json()["error"]["code"] == -32602


def test_archived_instrument_only_on_history_host(sim):
    # BTC-29MAR24 expired 2024-03-29: archived on www (default 7 days), served by history.
    r = chart(sim, "BTC-29MAR24", 1711000000000, 1711600000000)
    assert r.status_code == 400
    assert r.json()["error"]["data"]["reason"] == "instrument not found"
    h = chart(sim, "BTC-29MAR24", 1711000000000, 1711700000000, host="history")
    res = h.json()["result"]
    assert res["status"] == "ok" and max(res["ticks"]) < 1711699200000  # nothing after expiry


def test_determinism_by_seed(sim):
    a = chart(sim, "BTC-PERPETUAL", NOW - 600 * MIN, NOW).json()["result"]
    with SimServer(seed=7, now=NOW, rate_limit=False) as s2, SimServer(seed=8, now=NOW, rate_limit=False) as s3:
        b = chart(s2, "BTC-PERPETUAL", NOW - 600 * MIN, NOW).json()["result"]
        c = chart(s3, "BTC-PERPETUAL", NOW - 600 * MIN, NOW).json()["result"]
    assert a == b
    assert a["close"] != c["close"]


@pytest.mark.parametrize("name,res", [("BTC-PERPETUAL", "1"), ("ETH-PERPETUAL", "5"), ("BTC-28JUN24", "1"),
                                      ("BTC-28JUN24", "60"), ("BTC-28JUN24", "1D"), ("ETH-28JUN24", "15"),
                                      ("BTC-31MAY24", "1"), ("BTC-31MAY24", "3")])
def test_served_json_equals_market_candles(name, res):
    """The HTTP answer (whole days served from cached serialised JSON) equals Market.candles exactly,
    across listing, a partial current day ("now" mid-day), expiry and the 5,000 limit."""
    from ingest.sim import Market

    now = NOW + 13 * 3600_000 + 17 * MIN + 5_000  # mid-day: the current day is only partly traded
    with SimServer(seed=11, now=now, rate_limit=False, port=0) as s:
        m = Market(11)
        inst = m.instrument(name)
        R = {"1": 1, "3": 3, "5": 5, "15": 15, "60": 60, "1D": 1440}[res] * MIN
        windows = [(now - 5000 * R, now), (now - 2 * 86400_000 - 7 * MIN, now - 86400_000 + 123 * MIN),
                   (inst.creation_ms - 3 * R, inst.creation_ms + 2000 * R),
                   (inst.creation_ms - 86400_000, inst.creation_ms - 1),
                   (now - 30 * 86400_000, now + 86400_000), (now - 86400_000, now - 86400_000)]
        if inst.expiration_ms < now + 30 * 86400_000:
            windows.append((inst.expiration_ms - 3000 * R, inst.expiration_ms + 86400_000))
        for start, end in windows:
            for first_window in (True, False):  # cold, then cached
                body = chart(s, name, start, end, res).json()["result"]
                want = m.candles(inst, start, end, res, now, lower_exclusive=True)
                assert body["status"] == ("ok" if len(want["ticks"]) else "no_data")
                for k in ("ticks", "open", "high", "low", "close", "volume", "cost"):
                    assert body[k] == want[k].tolist(), (k, start, end, first_window)
