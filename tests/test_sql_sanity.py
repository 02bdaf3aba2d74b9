"""ohlcv_sanity_violations: a bad row written by SQL shows up; what the ingester loads never does."""

from __future__ import annotations

from .test_sql_support import day, load, minute_series

T = day(2024, 3, 1, 12)


def violations(db):
    return db.execute(
        "SELECT dataset, instrument_name, ts, violation FROM ohlcv_sanity_violations "
        "ORDER BY dataset, ts, violation"
    ).fetchall()


def test_valid_candles_and_fillers_are_clean(db):
    load(
        db,
        "perpetuals_ohlcv",
        minute_series("BTC-PERPETUAL", T, 120, lambda i: 60000 + i, fillers=range(5, 30)),
    )
    load(db, "futures_ohlcv", minute_series("BTC-29MAR24", T, 120, lambda i: 61000 - i))
    load(db, "options_ohlcv", minute_series("BTC-29MAR24-60000-C", T, 120, lambda i: 0.0001 + i / 10000))
    assert violations(db) == []


def test_each_kind_of_bad_row_is_reported(db):
    ins = (
        "INSERT INTO {} (ts, instrument_name, open, high, low, close, volume, cost) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    db.execute(ins.format("perpetuals_ohlcv"), (T, "BTC-PERPETUAL", 100, 99, 95, 98, 1, 100))  # high < open
    db.execute(ins.format("futures_ohlcv"), (T, "BTC-29MAR24", 100, 105, 101, 102, 1, 100))  # low > open
    db.execute(ins.format("options_ohlcv"), (T, "BTC-29MAR24-60000-C", 0, 0.1, 0, 0.05, 1, 0.05))  # price 0
    db.execute(ins.format("perpetuals_ohlcv"), (day(2024, 3, 2), "BTC-PERPETUAL", 100, 101, 99, 100, -1, 5))
    db.execute(
        ins.format("futures_ohlcv"), (day(2024, 3, 2), "BTC-29MAR24", 100, 99, 101, 100, 1, 100)
    )  # both
    assert violations(db) == [
        ("futures_ohlcv", "BTC-29MAR24", T, "low_above_open_close"),
        ("futures_ohlcv", "BTC-29MAR24", day(2024, 3, 2), "high_below_open_close"),
        ("futures_ohlcv", "BTC-29MAR24", day(2024, 3, 2), "low_above_open_close"),
        ("options_ohlcv", "BTC-29MAR24-60000-C", T, "non_positive_price"),
        ("perpetuals_ohlcv", "BTC-PERPETUAL", T, "high_below_open_close"),
        ("perpetuals_ohlcv", "BTC-PERPETUAL", day(2024, 3, 2), "negative_volume"),
    ]
    row = db.execute(
        "SELECT open, high, low, close FROM ohlcv_sanity_violations "
        "WHERE dataset = 'perpetuals_ohlcv' AND ts = %s",
        (T,),
    ).fetchone()
    assert [float(x) for x in row] == [100, 99, 95, 98]
