"""data_freshness and storage_usage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUNDING_RATES, INDEX_PRICES, OPTIONS_GREEKS

from .test_sql_support import add_instrument, day, load, minute_series


def test_freshness_has_the_last_row_of_every_series_and_its_lag(db):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    load(
        db,
        "perpetuals_ohlcv",
        minute_series("BTC-PERPETUAL", now - timedelta(minutes=30), 25, lambda i: 1.0 + i),
    )
    load(db, "futures_ohlcv", minute_series("BTC-29MAR24", day(2024, 3, 29, 7), 60, lambda i: 2.0))
    add_instrument(db, "BTC-29MAR24", expiration=day(2024, 3, 29, 8))
    copy_upsert(
        db, OPTIONS_GREEKS, [(now - timedelta(hours=2), "BTC-1JAN30-1000-C", "computed") + (None,) * 14]
    )
    copy_upsert(
        db,
        FUNDING_RATES,
        [
            (now - timedelta(hours=h), "ETH-PERPETUAL", Decimal("0.00001"), Decimal("0.00008"), None, None)
            for h in (1, 2, 3)
        ],
    )
    copy_upsert(
        db,
        INDEX_PRICES,
        [
            (now - timedelta(minutes=1), "btc_usd", Decimal(60000), "ticker"),
            (now - timedelta(days=1), "btc_usd", Decimal(60000), "delivery"),
        ],
    )
    rows = {
        (r[0], r[1]): r[2:]
        for r in db.execute("SELECT dataset, instrument_name, last_ts, lag, expired FROM data_freshness")
    }
    assert set(rows) == {
        ("perpetuals_ohlcv", "BTC-PERPETUAL"),
        ("futures_ohlcv", "BTC-29MAR24"),
        ("options_greeks", "BTC-1JAN30-1000-C"),
        ("funding_rates", "ETH-PERPETUAL"),
        ("index_prices", "btc_usd/ticker"),
        ("index_prices", "btc_usd/delivery"),
    }
    last, lag, expired = rows[("perpetuals_ohlcv", "BTC-PERPETUAL")]
    assert last == now - timedelta(minutes=6) and timedelta(minutes=6) <= lag < timedelta(minutes=8)
    assert expired is None
    assert rows[("futures_ohlcv", "BTC-29MAR24")][0] == day(2024, 3, 29, 7, 59)
    assert rows[("futures_ohlcv", "BTC-29MAR24")][2] is True
    assert rows[("funding_rates", "ETH-PERPETUAL")][0] == now - timedelta(hours=1)
    assert rows[("index_prices", "btc_usd/delivery")][0] == now - timedelta(days=1)


def test_storage_usage_lists_every_hypertable_and_aggregate(db):
    load(db, "perpetuals_ohlcv", minute_series("BTC-PERPETUAL", day(2024, 1, 1), 3000, lambda i: 40000 + i))
    db.execute("ANALYZE perpetuals_ohlcv")
    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT relation, kind, approx_rows, chunks, compressed_chunks, bytes_uncompressed, bytes_now, "
            "compression_ratio, bytes_per_row FROM storage_usage"
        )
    }
    assert {
        "perpetuals_ohlcv",
        "futures_ohlcv",
        "options_ohlcv",
        "options_greeks",
        "funding_rates",
        "index_prices",
    } <= set(rows)
    assert {
        "perpetuals_ohlcv_1h",
        "perpetuals_ohlcv_1d",
        "futures_ohlcv_1h",
        "futures_ohlcv_1d",
        "options_ohlcv_1h",
        "options_greeks_1h",
    } <= set(rows)
    kind, approx, chunks, compressed, before, now_bytes, ratio, per_row = rows["perpetuals_ohlcv"]
    assert kind == "hypertable" and rows["futures_ohlcv_1h"][0] == "continuous_aggregate"
    assert approx == 3000 and chunks == 1 and compressed == 0
    assert before == now_bytes > 3000 * 50 and ratio == 1
    assert per_row > 50
