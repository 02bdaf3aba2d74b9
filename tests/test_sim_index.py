"""Index price, index chart data, delivery prices, DVOL, settlements, utility methods."""
import pytest
import requests

from ingest.sim import SimServer

NOW = 1717200000000


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=6, now=NOW, rate_limit=False) as s:
        yield s


def call(sim, method, **params):
    return requests.get(f"{sim.api_url}/public/{method}", params=params, timeout=30).json()["result"]


def test_index_levels_and_chart(sim):
    btc = call(sim, "get_index_price", index_name="btc_usd")["index_price"]
    assert 5_000 < btc < 500_000
    pts = call(sim, "get_index_chart_data", index_name="btc_usd", range="1h")
    assert pts[-1][0] <= NOW and pts[-1][1] == pytest.approx(btc, rel=1e-3)
    allpts = call(sim, "get_index_chart_data", index_name="eth_usd", range="all")
    assert allpts[0][0] == 1514764800000 and len(allpts) > 2000


def test_delivery_prices_paging(sim):
    a = call(sim, "get_delivery_prices", index_name="btc_usd", count=1000)
    b = call(sim, "get_delivery_prices", index_name="btc_usd", offset=1000, count=1000)
    assert len(a["data"]) == 1000 and a["records_total"] == b["records_total"]
    assert a["data"][0]["date"] == "2024-05-31" and a["data"][0]["date"] > a["data"][1]["date"]
    assert b["data"][0]["date"] < a["data"][-1]["date"]
    r = requests.get(f"{sim.api_url}/public/get_delivery_prices", params=dict(index_name="btc_usd", count=1001))
    assert r.status_code == 400


def test_dvol_continuation(sim):
    d = call(sim, "get_volatility_index_data", currency="BTC", start_timestamp=NOW - 90 * 86400_000,
             end_timestamp=NOW, resolution="60")
    assert len(d["data"]) == 1000 and d["continuation"] is not None
    assert d["data"][-1][0] == NOW
    for _t, o, h, lo, c in d["data"]:
        assert h >= max(o, c) and lo <= min(o, c)
    d2 = call(sim, "get_volatility_index_data", currency="BTC", start_timestamp=NOW - 90 * 86400_000,
              end_timestamp=d["continuation"], resolution="60")
    assert d2["data"][-1][0] == d["data"][0][0] - 60_000


def test_settlements_continuation(sim):
    first = call(sim, "get_last_settlements_by_currency", currency="BTC", type="delivery", count=30)
    assert len(first["settlements"]) == 30 and first["continuation"]
    nxt = call(sim, "get_last_settlements_by_currency", currency="BTC", type="delivery", count=30,
               continuation=first["continuation"])
    keys = lambda r: [(s["timestamp"], s["instrument_name"]) for s in r["settlements"]]  # noqa
    assert not set(keys(first)) & set(keys(nxt))
    ts = [s["timestamp"] for s in first["settlements"] + nxt["settlements"]]
    assert ts == sorted(ts, reverse=True)
    perp = call(sim, "get_last_settlements_by_instrument", instrument_name="BTC-PERPETUAL", count=3)
    assert [s["type"] for s in perp["settlements"]] == ["settlement"] * 3


def test_utility(sim):
    assert call(sim, "get_time") == NOW
    assert "version" in call(sim, "test")
    assert call(sim, "status") == {"locked": "false", "locked_indices": []}
