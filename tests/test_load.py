"""COPY + upsert loads: idempotent, duplicates in a payload collapse, precision is the schema's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from ingest.storage.load import copy_upsert
from ingest.storage.tables import PERPETUALS_OHLCV

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)


def rows(n, price=100.0):
    return [(T0 + timedelta(minutes=i), "BTC-PERPETUAL", price, price + 1, price - 1, price + 0.5, 1.5, 150.0)
            for i in range(n)]


def test_reloading_the_same_rows_changes_nothing(db):
    assert copy_upsert(db, PERPETUALS_OHLCV, rows(1000)) == 1000
    assert copy_upsert(db, PERPETUALS_OHLCV, rows(1000)) == 0
    assert db.execute("SELECT count(*), count(DISTINCT ts) FROM perpetuals_ohlcv").fetchone() == (1000, 1000)


def test_changed_values_are_updated_in_place(db):
    copy_upsert(db, PERPETUALS_OHLCV, rows(10))
    assert copy_upsert(db, PERPETUALS_OHLCV, rows(10, price=200.0)[:3]) == 3
    closes = [r[0] for r in db.execute("SELECT close FROM perpetuals_ohlcv ORDER BY ts")]
    assert closes[:3] == [Decimal("200.5")] * 3 and closes[3:] == [Decimal("100.5")] * 7


def test_a_row_repeated_within_one_payload_is_stored_once(db):
    batch = rows(5)
    assert copy_upsert(db, PERPETUALS_OHLCV, batch + batch[:2]) == 5
    assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == 5


def test_prices_are_rounded_by_the_schema_to_8_decimals(db):
    r = [(T0, "BTC-PERPETUAL", 0.123456789123, 0.2, 0.1, 0.15, 1e-05, 12345678901.5)]
    copy_upsert(db, PERPETUALS_OHLCV, r)
    o, v, cost = db.execute("SELECT open, volume, cost FROM perpetuals_ohlcv").fetchone()
    assert (o, v, cost) == (Decimal("0.12345679"), Decimal("0.00001000"), Decimal("12345678901.50000000"))
