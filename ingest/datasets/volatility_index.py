"""DVOL, Deribit's 30-day implied volatility index of BTC and ETH: 1-minute OHLC into `dvol`, since its
launch (2021-03-24); hourly and daily roll-ups are continuous aggregates (dvol_1h, dvol_1d).

Source: get_volatility_index_data(currency, start_timestamp, end_timestamp, resolution "60"): values
in percent (a real capture: 38.62; the docs' example shows placeholder fractions), ticks may lie outside
the asked range (ignored). One answer holds at most the newest 1,000 points of the range
(quirks-like constant DVOL_POINTS_PER_CALL, the simulator's limit; Deribit's is undocumented) and a
`continuation`: pass it as end_timestamp for the older ones, until it is null.

Sample result:
    {"data": [[1711929600000, 52.13, 52.2, 52.1, 52.18], [1711929660000, 52.18, 52.31, 52.15, 52.3]],
     "continuation": 1711929540000}

Backfill (`ingest backfill dvol`): windows of 1,000 minutes on a fixed grid (one answer each when the
exchange serves 1,000 points; a window still follows `continuation` should it serve fewer), checkpoint
dataset 'dvol', instrument = the currency. Live (job 'dvol', every minute): from the minute after the
last stored one (at most catchup_days back) through the last closed minute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import click

from ingest.backfill.engine import Fetched, Part, Window
from ingest.backfill.planning import grid_windows
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit import calendar as cal
from ingest.deribit.quirks import CURRENCIES, DAY_MS, MINUTE_MS
from ingest.storage.tables import TS, TableSpec
from ingest.storage.validate import BrokenAnswer, Rejected, Validated, finite_number, json_safe, ms_to_datetime

NAME = "dvol"
DVOL_LAUNCH_MS = cal.to_ms(datetime(2021, 3, 24, tzinfo=timezone.utc))
DVOL_POINTS_PER_CALL = 1_000
RESOLUTION = "60"  # seconds: 1-minute points
GRID_MS = DVOL_POINTS_PER_CALL * MINUTE_MS
MAX_PAGES_PER_WINDOW = 50  # a continuation that never ends is a fault, not data

DVOL = TableSpec(
    "dvol",
    (("ts", TS), ("currency", "text"), ("open", "double precision"), ("high", "double precision"),
     ("low", "double precision"), ("close", "double precision")),
    ("currency", "ts"),
)


def point_problem(point: Any) -> tuple[str | None, bool]:
    """(why a [ms, open, high, low, close] point is invalid, whether the answer is broken), or (None, _)."""
    if not isinstance(point, list) or len(point) != 5:
        return "point is not [timestamp, open, high, low, close]", True
    ts, o, h, low, c = point
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "timestamp is not an integer", True
    if not all(finite_number(x) for x in (o, h, low, c)):
        return "a value is not a finite number", True
    if ts % MINUTE_MS:
        return "timestamp not on the minute", False
    if min(o, h, low, c) < 0:
        return "negative volatility", False
    if h < max(o, c) or low > min(o, c):
        return "high/low do not bound open and close", False
    return None, False


def validate(currency: str, result: Any, start_ms: int, end_ms: int, out: Validated, seen: set) -> None:
    """Rows (ts, currency, open, high, low, close) of the points inside [start, end] into `out`."""
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list):
        out.rejected.append(Rejected(NAME, currency, "answer without a data list", json_safe(result), whole=True))
        return
    for point in data:
        problem, broken = point_problem(point)
        if problem is None:
            ts = point[0]
            if start_ms <= ts <= end_ms and ts not in seen:
                seen.add(ts)
                out.rows.append((ms_to_datetime(ts), currency, *point[1:]))
            continue
        if isinstance(point, list) and point and isinstance(point[0], int) and not (start_ms <= point[0] <= end_ms):
            continue  # outside the asked range: not ours to judge
        out.rejected.append(Rejected(NAME, currency, problem, json_safe(point), whole=broken))


def fetch_range(client, currency: str, start_ms: int, end_ms: int, host: str = "www") -> Validated:
    """Every 1-minute point of [start, end], following `continuation` backwards. Raises BrokenAnswer
    when the continuation does not move back or never ends."""
    out = Validated()
    seen: set[int] = set()
    end = end_ms
    for _ in range(MAX_PAGES_PER_WINDOW):
        result = client.call("get_volatility_index_data", {
            "currency": currency, "start_timestamp": start_ms, "end_timestamp": end, "resolution": RESOLUTION},
            host=host)
        validate(currency, result, start_ms, end_ms, out, seen)
        cont = result.get("continuation") if isinstance(result, dict) else None
        if cont is None or not isinstance(cont, int) or isinstance(cont, bool) or cont < start_ms:
            return out
        if cont >= end:
            raise BrokenAnswer(f"{currency} DVOL: continuation {cont} does not move back from {end}")
        end = cont
    raise BrokenAnswer(f"{currency} DVOL: more than {MAX_PAGES_PER_WINDOW} pages for one window")


def _window_fetch(client, currency: str, start_ms: int, end_ms: int):
    def fetch() -> Fetched:
        v = fetch_range(client, currency, start_ms, end_ms)
        return Fetched([Part(DVOL, v)], empty=not v.rows and not v.rejected)
    return fetch


def plan(ctx, conn, count, probe: bool = True, options: Mapping | None = None) -> Iterator[Window]:
    """Windows of 1,000 minutes on a fixed grid from the launch (or --since) to the last closed minute,
    per currency (--currency, default BTC and ETH), skipping those a 'done' checkpoint covers."""
    from ingest.backfill.checkpoints import DoneIndex

    options = options or {}
    currencies = tuple(options.get("currency") or CURRENCIES)
    done = DoneIndex.load(conn, NAME)
    lo = max(ctx.since_ms if ctx.since_ms is not None else DVOL_LAUNCH_MS, DVOL_LAUNCH_MS)
    hi = ctx.last_minute_ms
    for currency in currencies:
        for s, e, g in grid_windows(lo, hi, GRID_MS, MINUTE_MS):
            hit = done.contains(currency, s, e, g) is not None
            count(currency, s, e, hit)
            if not hit:
                yield Window(NAME, currency, s, e, _window_fetch(ctx.client, currency, s, e))


# --------------------------------------------------------------------------- live


def live_job(ctx, client, minute_ms: int):
    """Every currency's DVOL from the minute after the last stored one through the last closed minute."""
    from ingest.live.jobs import FETCH_ATTEMPTS, JobResult, isolated, last_closed_minute
    from ingest.live.writes import load_or_isolate
    from ingest.storage.sqlfiles import query

    r = JobResult()  # a run with nothing due (a second run in the same minute) is 'ok', not an error
    end = last_closed_minute(ctx.now_ms())
    for currency in ctx.config.currencies:
        def one(currency=currency):
            with ctx.connect() as conn:
                last = conn.execute(query("dvol_last_ts"), {"currency": currency}).fetchone()
            horizon = end - int(ctx.config.catchup_days * DAY_MS)
            start = end - ctx.config.initial_lookback_min * MINUTE_MS if last is None else \
                max(int(last[0].timestamp() * 1000) + MINUTE_MS, horizon)
            if start > end:
                return
            r.expected = True  # a minute is due: storing nothing is an error
            v = fetch_range(client, currency, start, end)
            for _ in range(FETCH_ATTEMPTS - 1):
                if not v.rejected:
                    break
                v = fetch_range(client, currency, start, end)
            with ctx.connect() as conn:
                n, q = load_or_isolate(conn, DVOL, v)
            r.loaded(v, n, q)
        isolated(r, f"{currency} DVOL", one)
    return r


# --------------------------------------------------------------------------- declaration

CURRENCY_OPTION = click.option(
    "--currency", "currency", multiple=True, type=click.Choice(CURRENCIES),
    help="Currencies (repeatable); default BTC and ETH.")

BACKFILL_HELP = """DVOL, Deribit's volatility index of BTC and ETH:
    1-minute OHLC since its launch (2021-03-24), in windows of 1,000 minutes (one request each).

    \b
    Example:
        ingest backfill dvol
        ingest backfill dvol --currency BTC --since 2024-01-01 --dry-run
    """

DATASET = Dataset(
    name=NAME,
    description="DVOL, the 30-day implied volatility index of BTC and ETH (1-minute OHLC; hourly, daily)",
    tables=(DVOL,),
    order=55,
    backfill=Backfill(plan=plan, checkpoints=(NAME,), help=BACKFILL_HELP, options=(CURRENCY_OPTION,)),
    live=Live(job=live_job, schedule={"second": 25}, on_takeover=True),
    freshness=Freshness(query="freshness_dvol", expected=("BTC", "ETH")),
)
