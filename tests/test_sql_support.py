"""Helpers shared by the tests of the SQL layer (tests/test_sql_*.py); this module holds no test.

Synthetic candles with known prices, instruments rows, running TimescaleDB jobs by hand (the
embedded server has no background workers) and loading a range of the simulated market.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg

from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUTURES_OHLCV, INSTRUMENTS, OPTIONS_OHLCV, PERPETUALS_OHLCV

UTC = timezone.utc
MINUTE = timedelta(minutes=1)
SPEC_BY_TABLE = {s.name: s for s in (PERPETUALS_OHLCV, FUTURES_OHLCV, OPTIONS_OHLCV)}


def candle(ts, name, close, prev=None, volume=1.0):
    """A valid candle closing at `close` (open = previous close), with exact 8-decimal values."""
    close = Decimal(str(round(close, 4)))
    open_ = close if prev is None else Decimal(str(round(prev, 4)))
    high = (max(open_, close) * Decimal("1.001")).quantize(Decimal("0.00000001"))
    low = (min(open_, close) * Decimal("0.998")).quantize(Decimal("0.00000001"))
    vol = Decimal(str(volume))
    return (ts, name, open_, high, low, close, vol, (vol * close).quantize(Decimal("0.00000001")))


def filler(ts, name, price):
    p = Decimal(str(round(price, 4)))
    return (ts, name, p, p, p, p, Decimal(0), Decimal(0))


def minute_series(name, start, minutes, price_fn, skip=(), fillers=()):
    """Candles for minutes [0, minutes) from `start`; minute indexes in `skip` are missing, those in
    `fillers` are zero-volume filler candles."""
    rows, prev = [], None
    skip, fillers = set(skip), set(fillers)
    for i in range(minutes):
        if i in skip:
            continue
        ts = start + i * MINUTE
        price = price_fn(i)
        if i in fillers:
            rows.append(filler(ts, name, prev if prev is not None else price))
            continue
        rows.append(candle(ts, name, price, prev, volume=1 + (i % 7) / 4))
        prev = price
    return rows


def load(conn: psycopg.Connection, table: str, rows) -> int:
    return copy_upsert(conn, SPEC_BY_TABLE[table], rows)


def add_instrument(
    conn,
    name,
    kind="future",
    currency="BTC",
    creation=None,
    expiration=None,
    strike=None,
    option_type=None,
    settlement_period=None,
):
    row = (
        name,
        kind,
        currency,
        "USD",
        currency,
        settlement_period,
        creation,
        expiration,
        strike,
        option_type,
        Decimal("0.5"),
        Decimal("10"),
        True,
        "open",
        "exchange",
    )
    copy_upsert(conn, INSTRUMENTS, [row])


def job_id(conn, relation: str, proc: str) -> int:
    """proc: 'policy_refresh_continuous_aggregate' | 'policy_compression' | 'policy_retention'."""
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_name = %s AND proc_name = %s",
        (relation, proc),
    ).fetchone()
    assert row, f"no {proc} job for {relation}"
    return row[0]


def run_job(conn, relation: str, proc: str) -> None:
    conn.execute("CALL run_job(%s)", (job_id(conn, relation, proc),))


def refresh_all(conn) -> None:
    """Run every refresh policy, hourly aggregates before daily ones (what the scheduler does)."""
    from ingest.storage.policies import aggregates_in_refresh_order

    for agg in aggregates_in_refresh_order(conn):
        run_job(conn, agg, "policy_refresh_continuous_aggregate")


def compressed_chunks(conn, table: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = %s AND is_compressed",
        (table,),
    ).fetchone()[0]


def day(y, m, d, h=0, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=UTC)
