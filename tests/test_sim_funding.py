"""Funding history: hourly rows, at most 744 counted back from end_timestamp, from 2019-05-01."""
import pytest
import requests

from ingest.sim import SimServer

NOW = 1717200000000
H = 3600_000


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=3, now=NOW, rate_limit=False) as s:
        yield s


def fund(sim, start, end, name="BTC-PERPETUAL"):
    return requests.get(sim.api_url + "/public/get_funding_rate_history",
                        params=dict(instrument_name=name, start_timestamp=start, end_timestamp=end), timeout=30)


def test_744_counted_back_from_end(sim):
    end = NOW - 5 * 86400_000
    rows = fund(sim, 0, end).json()["result"]
    assert len(rows) == 744
    assert rows[-1]["timestamp"] == end and rows[0]["timestamp"] == end - 743 * H
    assert all(b["timestamp"] - a["timestamp"] == H for a, b in zip(rows, rows[1:], strict=False))
    assert set(rows[0]) == {"timestamp", "index_price", "prev_index_price", "interest_8h", "interest_1h"}
    for a, b in zip(rows, rows[1:], strict=False):
        assert b["prev_index_price"] == a["index_price"]
    for i in range(7, len(rows)):
        assert rows[i]["interest_8h"] == pytest.approx(sum(r["interest_1h"] for r in rows[i - 7:i + 1]), abs=1e-9)


def test_short_range_and_start(sim):
    rows = fund(sim, NOW - 10 * H, NOW).json()["result"]
    # start-exclusive like Deribit's (its docs example asks 00:00-04:00 and gets 01:00..04:00)
    assert [r["timestamp"] for r in rows] == [NOW - i * H for i in range(9, -1, -1)]
    early = fund(sim, 0, 1556668800000 + 5 * H).json()["result"]  # 2019-05-01 + 5h
    assert early[0]["timestamp"] == 1556668800000 and len(early) == 6
    assert fund(sim, 0, 1556668800000 - 1).json()["result"] == []


def test_not_perpetual(sim):
    r = fund(sim, 0, NOW, "BTC-28JUN24")
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602


def test_index_consistent_with_delivery(sim):
    rows = fund(sim, NOW - 30 * H, NOW).json()["result"]
    eight = [r for r in rows if (r["timestamp"] // H) % 24 == 8][-1]
    d = requests.get(sim.api_url + "/public/get_delivery_prices", params={"index_name": "btc_usd", "count": 1}).json()
    assert d["result"]["data"][0]["delivery_price"] == pytest.approx(eight["index_price"], abs=0.011)
