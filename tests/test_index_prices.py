"""ingest.datasets.index: rows per source, validation, idempotent load."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ingest.datasets import funding
from ingest.datasets import index as index_prices


def test_index_name_for_names_and_currencies():
    assert index_prices.index_name_for("BTC-PERPETUAL") == "btc_usd"
    assert index_prices.index_name_for("ETH") == "eth_usd"
    assert index_prices.index_name_for("BTC_USDC-PERPETUAL") == "btc_usd"


def test_delivery_rows_are_stored_at_08_utc_and_bad_ones_rejected():
    result = {"records_total": 3, "data": [{"date": "2024-05-31", "delivery_price": 67489.17},
                                           {"date": "2024-05-30", "delivery_price": math.nan},
                                           {"date": "bad", "delivery_price": 1.0}]}
    v = index_prices.delivery_rows("btc_usd", result)
    assert v.rows == [(datetime(2024, 5, 31, 8, tzinfo=UTC), "btc_usd", 67489.17, "delivery")]
    assert len(v.rejected) == 2


def test_from_funding_uses_the_funding_index_price():
    f = funding.validate("BTC-PERPETUAL", [{"timestamp": 1717200000000, "index_price": 67512.4,
                                            "prev_index_price": 67489.17, "interest_8h": 4e-5,
                                            "interest_1h": 5e-6}])
    v = index_prices.from_funding("btc_usd", f)
    assert v.rows == [(datetime(2024, 6, 1, tzinfo=UTC), "btc_usd", 67512.4, "funding")]


def test_trades_rows_keep_the_first_trade_of_each_minute():
    t0 = 1717200000000
    trades = [{"timestamp": t0 + 5000, "index_price": 2.0}, {"timestamp": t0 + 1000, "index_price": 1.0},
              {"timestamp": t0 + 61000, "index_price": 3.0}, {"timestamp": t0 + 62000, "index_price": -3.0}]
    v = index_prices.trades_rows("btc_usd", trades)
    assert [(r[0].timestamp() * 1000, r[2]) for r in v.rows] == [(t0 + 1000, 1.0), (t0 + 61000, 3.0)]
    assert len(v.rejected) == 1


class TickerClient:
    def call(self, method, params, host="www"):
        assert method == "get_index_price" and params == {"index_name": "btc_usd"}
        return {"index_price": 67512.4, "estimated_delivery_price": 67512.4}


def test_ticker_and_load_are_idempotent(db):
    v = index_prices.ticker(TickerClient(), "btc_usd", ts_ms=1717200000000)
    assert index_prices.load(db, v) == (1, 0)
    assert index_prices.load(db, v) == (0, 0)
    assert db.execute("SELECT index_name, price::float8, source FROM index_prices").fetchall() == [
        ("btc_usd", 67512.4, "ticker")]
