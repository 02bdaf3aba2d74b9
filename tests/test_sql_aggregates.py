"""Continuous aggregates equal the same aggregation computed from the raw rows."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

from ingest.storage.policies import refresh_aggregates

from .test_sql_support import day, load, minute_series, refresh_all, run_job

START = day(2024, 3, 1, 22, 17)  # not bucket-aligned on purpose
MINUTES = 2 * 1440 + 95


def expected(rows, width: timedelta):
    """time bucket -> (open, high, low, close, volume, cost, candles), computed in Python."""
    buckets = defaultdict(list)
    for r in rows:
        ts = r[0]
        start = ts - timedelta(seconds=(ts.timestamp() % width.total_seconds()))
        buckets[(start, r[1])].append(r)
    out = {}
    for key, rs in buckets.items():
        rs.sort(key=lambda r: r[0])
        out[key] = (
            rs[0][2],
            max(r[3] for r in rs),
            min(r[4] for r in rs),
            rs[-1][5],
            sum(r[6] for r in rs),
            sum(r[7] for r in rs),
            len(rs),
        )
    return out


def stored(db, view):
    return {
        (r[0], r[1]): tuple(r[2:])
        for r in db.execute(
            f"SELECT ts, instrument_name, open, high, low, close, volume, cost, candles FROM {view}"
        )
    }


def materialized_only(db, view):
    """The rows the refresh wrote (not the real-time part)."""
    db.execute(f"ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only = true)")
    try:
        return stored(db, view)
    finally:
        db.execute(f"ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only = false)")


def test_hourly_and_daily_aggregates_equal_the_raw_rows(db):
    perp = minute_series(
        "BTC-PERPETUAL",
        START,
        MINUTES,
        lambda i: 60000 + 40 * math.sin(i / 37) + i / 10,
        skip=range(300, 340),
        fillers=range(500, 530),
    )
    fut = minute_series(
        "BTC-29MAR24", START, MINUTES, lambda i: 61000 + 30 * math.cos(i / 23), skip={7, 8, 1000}
    )
    opt = minute_series(
        "BTC-29MAR24-60000-C",
        START,
        MINUTES,
        lambda i: 0.05 + (i % 11) / 1000,
        skip=[i for i in range(MINUTES) if i % 13],
    )  # sparse, like options
    load(db, "perpetuals_ohlcv", perp)
    load(db, "futures_ohlcv", fut)
    load(db, "options_ohlcv", opt)
    refresh_all(db)
    # the options refresh policy looks back 7 days only (raw option candles expire): history older
    # than that is aggregated by an explicit refresh, as a backfill does
    assert materialized_only(db, "options_ohlcv_1h") == {}
    assert refresh_aggregates(
        db, START - timedelta(hours=1), START + timedelta(days=3), names=["options_ohlcv_1h"]
    ) == ["options_ohlcv_1h"]

    for view, rows, width in (
        ("perpetuals_ohlcv_1h", perp, timedelta(hours=1)),
        ("futures_ohlcv_1h", fut, timedelta(hours=1)),
        ("options_ohlcv_1h", opt, timedelta(hours=1)),
        ("perpetuals_ohlcv_1d", perp, timedelta(days=1)),
        ("futures_ohlcv_1d", fut, timedelta(days=1)),
    ):
        want = expected(rows, width)
        assert materialized_only(db, view) == want, view
        assert stored(db, view) == want, view


def test_late_rows_are_picked_up_by_the_next_refresh(db):
    rows = minute_series("BTC-PERPETUAL", START, 600, lambda i: 50000 + i)
    load(db, "perpetuals_ohlcv", rows[:300])
    refresh_all(db)
    load(db, "perpetuals_ohlcv", rows[300:])
    # a correction of an already aggregated minute
    fixed = list(rows[10])
    fixed[3] = fixed[3] + 1000  # high
    load(db, "perpetuals_ohlcv", [tuple(fixed)])
    rows[10] = tuple(fixed)
    run_job(db, "perpetuals_ohlcv_1h", "policy_refresh_continuous_aggregate")
    run_job(db, "perpetuals_ohlcv_1d", "policy_refresh_continuous_aggregate")
    assert materialized_only(db, "perpetuals_ohlcv_1h") == expected(rows, timedelta(hours=1))
    assert materialized_only(db, "perpetuals_ohlcv_1d") == expected(rows, timedelta(days=1))


def test_greeks_hourly_keeps_the_last_snapshot_of_each_hour(db):
    from decimal import Decimal

    from ingest.storage.load import copy_upsert
    from ingest.storage.tables import OPTIONS_GREEKS

    t0 = day(2024, 3, 1, 10)
    rows = [
        (
            t0 + timedelta(minutes=i),
            "BTC-29MAR24-60000-C",
            "exchange",
            Decimal(i) / 1000,
            None,
            None,
            None,
            None,
            Decimal(50 + i % 3),
            None,
            None,
            Decimal("0.05"),
            Decimal(60000 + i),
            None,
            Decimal(100),
            None,
            "exchange",
        )
        for i in range(0, 150, 5)
    ]
    copy_upsert(db, OPTIONS_GREEKS, rows)
    refresh_all(db)
    got = db.execute("SELECT ts, delta, mark_iv, snapshots FROM options_greeks_1h ORDER BY ts").fetchall()
    assert got == [
        (t0, Decimal("0.055"), Decimal(51), 12),
        (t0 + timedelta(hours=1), Decimal("0.115"), Decimal(51), 12),
        (t0 + timedelta(hours=2), Decimal("0.145"), Decimal(51), 6),
    ]
