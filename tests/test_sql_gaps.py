"""ohlcv_gaps: a missing minute inside the listed life is a gap with exact bounds; fillers are not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .test_sql_support import MINUTE, add_instrument, day, load, minute_series

FUT = "BTC-29MAR24"
CREATED = day(2024, 3, 28)
EXPIRY = day(2024, 3, 29, 8)


def gaps(db, **where):
    cond = " AND ".join(f"{k} = %s" for k in where) or "true"
    return db.execute(
        f"SELECT dataset, instrument_name, gap_start, gap_end, missing_minutes FROM ohlcv_gaps "
        f"WHERE {cond} ORDER BY dataset, instrument_name, gap_start",
        list(where.values()),
    ).fetchall()


def test_a_deleted_hole_shows_with_exact_bounds_and_fillers_do_not(db):
    start = day(2024, 3, 1)
    load(
        db,
        "perpetuals_ohlcv",
        minute_series("BTC-PERPETUAL", start, 600, lambda i: 60000 + i, fillers=range(100, 160)),
    )
    assert gaps(db) == []  # no instruments row: bounded by the first and last candle; fillers are rows
    db.execute(
        "DELETE FROM perpetuals_ohlcv WHERE ts >= %s AND ts < %s",
        (start + 200 * MINUTE, start + 237 * MINUTE),
    )
    db.execute("DELETE FROM perpetuals_ohlcv WHERE ts = %s", (start + 400 * MINUTE,))
    assert gaps(db) == [
        ("perpetuals_ohlcv", "BTC-PERPETUAL", start + 200 * MINUTE, start + 237 * MINUTE, 37),
        ("perpetuals_ohlcv", "BTC-PERPETUAL", start + 400 * MINUTE, start + 401 * MINUTE, 1),
    ]
    assert gaps(db, instrument_name="BTC-PERPETUAL", dataset="perpetuals_ohlcv") == gaps(db)
    assert gaps(db, dataset="futures_ohlcv") == []


def test_gaps_follow_the_listed_life_of_an_expired_future(db):
    add_instrument(db, FUT, creation=CREATED, expiration=EXPIRY)
    first = CREATED + 10 * MINUTE
    minutes = int((EXPIRY - first) / MINUTE) - 10  # the last 10 minutes before expiry are missing
    load(
        db,
        "futures_ohlcv",
        minute_series(
            FUT, first, minutes, lambda i: 61000 + i % 17, skip=range(500, 503), fillers=range(700, 900)
        ),
    )
    assert gaps(db, dataset="futures_ohlcv") == [
        ("futures_ohlcv", FUT, CREATED, first, 10),  # before the first candle
        ("futures_ohlcv", FUT, first + 500 * MINUTE, first + 503 * MINUTE, 3),  # inside
        ("futures_ohlcv", FUT, EXPIRY - 10 * MINUTE, EXPIRY, 10),  # until expiry
    ]


def test_the_missing_tail_of_a_live_instrument_is_lag_not_a_gap(db):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    name = "BTC-" + (now + timedelta(days=60)).strftime("%d%b%y").upper().lstrip("0")
    add_instrument(db, name, creation=now - timedelta(hours=3), expiration=now + timedelta(days=60))
    load(db, "futures_ohlcv", minute_series(name, now - timedelta(hours=3), 60, lambda i: 70000.0))
    # only the leading part (none: listed at the first candle) -- the two missing hours are lag
    assert gaps(db, instrument_name=name) == []
    lag = db.execute("SELECT lag FROM data_freshness WHERE instrument_name = %s", (name,)).fetchone()[0]
    assert timedelta(hours=2) <= lag < timedelta(hours=2, minutes=5)


def test_options_are_not_gap_checked(db):
    load(
        db,
        "options_ohlcv",
        minute_series("BTC-29MAR24-60000-C", day(2024, 3, 1), 100, lambda i: 0.05, skip=range(3, 90)),
    )
    assert gaps(db) == []
