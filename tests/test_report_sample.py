"""A sample database for the report and dashboard tests (tests/test_report*.py, tests/test_dashboard*.py);
no test here.

Everything comes from the simulated exchange (ingest.sim.market.Market) through the project's loaders,
relative to the current minute so that "the last N days" holds it:

* candles of BTC/ETH-PERPETUAL and of every live BTC/ETH future from noon two UTC days ago up to the
  last closed minute, with known holes: BTC-PERPETUAL lacks 2 hours yesterday (HOLE_*), ETH's
  second-nearest future lacks the whole of yesterday (its day is "missing", the others "complete");
* hourly funding of both perpetuals over the same span, with two rows the validator quarantines;
* two chain snapshots per currency (an hour apart, so two hours of ATM volatility), and the
  analytics (constant-maturity basis, ATM vol) refreshed over the span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

from ingest.datasets import funding
from ingest.sim.market import Market
from ingest.storage import analytics
from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUTURES_OHLCV, PERPETUALS_OHLCV

from .test_sql_basis import add_sim_instrument, sim_candles
from .test_sql_vol_support import exchange, load_instruments, load_snapshot

UTC = timezone.utc
MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
CURRENCIES = ("BTC", "ETH")


@dataclass
class Sample:
    now: datetime  # the current minute when the sample was loaded
    start: datetime  # first candle: noon, two UTC days before `now`'s day
    yesterday: datetime  # 00:00 UTC of the day before `now`'s day
    hole_instrument: str = "BTC-PERPETUAL"
    hole_start: datetime | None = None  # BTC-PERPETUAL misses [hole_start, hole_end)
    hole_end: datetime | None = None
    missing_day_instrument: str = ""  # an ETH future without any candle yesterday
    futures: dict[str, list[str]] = field(default_factory=dict)  # currency -> dated futures loaded
    quarantined: int = 0
    snapshot_minutes: tuple[datetime, ...] = ()


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def load_report_sample(conn, market: Market | None = None, now: datetime | None = None) -> Sample:
    """Load the sample into an empty, migrated database (autocommit connection)."""
    market = market or Market(seed=0)
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    now_ms = to_ms(now)
    today = now.replace(hour=0, minute=0)
    yesterday = today - timedelta(days=1)
    start = yesterday - timedelta(hours=12)
    sample = Sample(now=now, start=start, yesterday=yesterday,
                    hole_start=yesterday + timedelta(hours=5), hole_end=yesterday + timedelta(hours=7))
    start_ms = to_ms(start)

    for currency in CURRENCIES:
        dated = []
        for inst in market.list_instruments(currency, "future", now_ms):
            rows = sim_candles(market, inst.name, start_ms, now_ms - MIN_MS, now_ms)
            if inst.name == sample.hole_instrument:
                rows = [r for r in rows if not sample.hole_start <= r[0] < sample.hole_end]
            copy_upsert(conn, PERPETUALS_OHLCV if inst.is_perpetual else FUTURES_OHLCV, rows)
            add_sim_instrument(conn, market, inst.name)
            if not inst.is_perpetual:
                dated.append(inst.name)
        sample.futures[currency] = dated
    # the ETH future with the second-nearest expiry that was listed before yesterday loses that day
    listed = [n for n in sample.futures["ETH"] if market.instrument(n).creation_ms < to_ms(yesterday)]
    sample.missing_day_instrument = listed[1]
    conn.execute("DELETE FROM futures_ohlcv WHERE instrument_name = %s AND ts >= %s AND ts < %s",
                 (sample.missing_day_instrument, yesterday, yesterday + timedelta(days=1)))

    for currency in CURRENCIES:
        perp = f"{currency}-PERPETUAL"
        items = market.funding(currency, start_ms, now_ms, now_ms, limit=None)
        if currency == "BTC":  # two rows the validator refuses: they land in quarantine
            items = items + [dict(items[-1], timestamp=items[-1]["timestamp"] + 30 * MIN_MS),
                             dict(items[-2], index_price=-1.0)]
        checked = funding.validate(perp, items)
        sample.quarantined += len(checked.rejected)
        funding.load(conn, checked)

    ex = exchange(market, 0.25)
    minutes = (now - timedelta(minutes=62), now - timedelta(minutes=2))
    load_instruments(conn, ex, CURRENCIES, now_ms, kinds=("option",))
    for currency in CURRENCIES:
        for minute in minutes:
            load_snapshot(conn, ex, currency, to_ms(minute))
    sample.snapshot_minutes = minutes
    analytics.refresh(conn, start, now + timedelta(minutes=1))
    conn.execute("ANALYZE")
    return sample


def wiped_and_loaded(conn, attempts: int = 3) -> Sample:
    """Empty the database and load the sample. On a native TimescaleDB the background jobs (aggregate
    refreshes, analytics_refresh_job) may pick this loader as a deadlock victim: start over, as a
    deadlock victim should."""
    from .conftest import wipe

    for attempt in range(1, attempts + 1):
        try:
            wipe(conn)
            return load_report_sample(conn)
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
