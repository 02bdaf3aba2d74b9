"""Hourly funding of the perpetuals: get_funding_rate_history, validated, loaded into funding_rates.

Deribit's quirk (ingest/deribit/quirks.py FUNDING_ROWS_PER_CALL): one call returns at most 744 hourly
rows (31 days) counted *backwards from end_timestamp*, whatever start_timestamp says. A single call
therefore looks like "only a month exists"; the whole history (since 2019-05) is read by paging
backwards, one ≤744-hour window at a time, until the API returns nothing.

Sample result of get_funding_rate_history(instrument_name=BTC-PERPETUAL, start_timestamp=1717192800000,
end_timestamp=1717200000000):
    [{"timestamp": 1717196400000, "index_price": 67489.17, "prev_index_price": 67530.02,
      "interest_8h": 0.0000409315, "interest_1h": 0.0000051164},
     {"timestamp": 1717200000000, "index_price": 67512.4, "prev_index_price": 67489.17,
      "interest_8h": 0.0000401284, "interest_1h": 0.0000049212}]
(ascending; `timestamp` is the end of the hour the rate covers; interest_* may be negative.)

Public API (plain functions; the backfill and the live collector both use them):
    window_bounds(end_ms)                       -> (start_ms, end_ms) of the ≤744-hour window ending at end_ms
    fetch_window(client, instrument, end_ms, start_ms=None) -> raw result list (one call)
    validate(instrument, result, start_ms=None, end_ms=None) -> Validated (rows in FUNDING_RATES order)
    load(conn, validated)                       -> (rows inserted or changed, rows quarantined)
    plan(ctx, conn, count, ...)                 -> the backfill's windows (DATASET.backfill)
    live(ctx, client, minute_ms)                -> the hourly live job (DATASET.live)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.engine import Fetched, Part, Window
from ingest.backfill.planning import EARLIEST_MS, Context
from ingest.datasets import index as index_mod
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import FUNDING_LOWER_BOUND_SLACK_MS, FUNDING_ROWS_PER_CALL, HOUR_MS, PERPETUALS
from ingest.live.jobs import JobResult, isolated
from ingest.storage.load import load_validated
from ingest.storage.tables import FUNDING_RATES, INDEX_PRICES
from ingest.storage.validate import (
    Rejected,
    Validated,
    broken_values,
    finite_number,
    is_number,
    json_safe,
    ms_to_datetime,
    within_limits,
)

QUARANTINE = "funding"  # the quarantine's dataset value for these rows
FIELDS = ("timestamp", "index_price", "prev_index_price", "interest_8h", "interest_1h")
WINDOW_MS = FUNDING_ROWS_PER_CALL * HOUR_MS


def window_bounds(end_ms: int) -> tuple[int, int]:
    """The inclusive [start, end] of the window one call answers in full when asked up to end_ms:
    the 744 hour marks ending at the last full hour ≤ end_ms."""
    last = end_ms - end_ms % HOUR_MS
    return last - (FUNDING_ROWS_PER_CALL - 1) * HOUR_MS, last


def fetch_window(client: DeribitClient, instrument: str, end_ms: int, start_ms: int | None = None) -> Any:
    """One call: the (at most 744) hourly rows ending at end_ms, from start_ms (inclusive) if given,
    else the full 744-hour window. Returns the raw `result` (normally a list of dicts); rows before
    start_ms may come with it (validate() keeps [start, end])."""
    if start_ms is None:
        start_ms = window_bounds(end_ms)[0]
    return client.call("get_funding_rate_history", {
        "instrument_name": instrument, "start_timestamp": int(start_ms) - FUNDING_LOWER_BOUND_SLACK_MS,
        "end_timestamp": int(end_ms)})


def row_problem(item: Any) -> str | None:
    """Why a funding row is invalid, or None."""
    if not isinstance(item, dict):
        return "row is not an object"
    ts = item.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "timestamp is not an integer"
    if ts % HOUR_MS:
        return "timestamp not on the hour"
    for name in ("index_price", "prev_index_price"):
        x = item.get(name)
        if not is_number(x):
            return f"{name} is not a number"
        if not finite_number(x):
            return f"{name} is not finite"
        if x <= 0:
            return f"{name} is not positive"
    for name in ("interest_8h", "interest_1h"):
        x = item.get(name)
        if not finite_number(x):
            return f"{name} is not a finite number"
    return None


def validate(instrument: str, result: Any, start_ms: int | None = None, end_ms: int | None = None
             ) -> Validated:
    """Rows (ts, instrument_name, interest_1h, interest_8h, index_price, prev_index_price), keeping only
    timestamps inside [start_ms, end_ms] when given; bad rows become Rejected (never raise)."""
    out = Validated()
    if not isinstance(result, list):
        if result not in (None, []):
            out.rejected.append(Rejected(QUARANTINE, instrument, "result is not a list", json_safe(result),
                                         whole=True))
        return out
    seen: set[int] = set()
    for item in result:
        reason = row_problem(item)
        if reason is not None:
            whole = not isinstance(item, dict) or not isinstance(item.get("timestamp"), int) or broken_values(
                *(item.get(f) for f in FIELDS[1:]))
            out.rejected.append(Rejected(QUARANTINE, instrument, reason, json_safe(item), whole=whole))
            continue
        ts = item["timestamp"]
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms) or ts in seen:
            continue
        seen.add(ts)
        out.rows.append((ms_to_datetime(ts), instrument, item["interest_1h"], item["interest_8h"],
                         item["index_price"], item["prev_index_price"]))
    return out


def load(conn: psycopg.Connection, validated: Validated) -> tuple[int, int]:
    """COPY + upsert the rows and quarantine the rejects in one transaction (idempotent)."""
    return load_validated(conn, FUNDING_RATES, validated)


# --------------------------------------------------------------------------- backfill

FUNDING_GRID_MS = FUNDING_ROWS_PER_CALL * HOUR_MS


def funding_windows(ctx: Context, done: DoneIndex, counter=None) -> Iterator[Window]:
    """Backwards from --until (or now) on the 744-hour grid, to --since or until the API returns
    nothing. Each window loads funding_rates and the hourly index (index_prices, source 'funding')."""
    names = [n for n in ctx.instruments if n.endswith("-PERPETUAL")] if ctx.instruments else list(PERPETUALS)
    # a row covers the hour before it
    hi = ctx.now_ms if ctx.until_ms is None else min(ctx.until_ms, ctx.now_ms)
    hi -= hi % HOUR_MS
    lo = max(ctx.since_ms if ctx.since_ms is not None else EARLIEST_MS, EARLIEST_MS)
    for name in names:
        index_name = index_mod.index_name_for(name)
        end = hi
        while end >= lo:
            g = end - end % FUNDING_GRID_MS
            start = max(g, -(-lo // HOUR_MS) * HOUR_MS)
            hit = done.contains(name, start, end, g)
            if counter is not None:
                counter(name, start, end, hit is not None)
            if hit is not None:
                if hit[1] == 0 and ctx.since_ms is None:
                    break  # a finished window that held nothing: the start of the history
            else:
                yield Window("funding", name, start, end, _funding_fetch(ctx, name, index_name, start, end),
                             group=f"funding:{name}", stop_on_empty=ctx.since_ms is None)
            end = start - HOUR_MS


def _funding_fetch(ctx: Context, name: str, index_name: str, start: int, end: int):
    def fetch() -> Fetched:
        result = fetch_window(ctx.client, name, end, start)
        # rows the columns cannot hold are quarantined once, as funding rows, before the index is derived
        validated = within_limits(FUNDING_RATES, validate(name, result, start, end))
        index = index_mod.from_funding(index_name, validated)
        return Fetched([Part(FUNDING_RATES, validated, (name, start, end)), Part(INDEX_PRICES, index)],
                       empty=not result)
    return fetch


def plan(ctx: Context, conn, count, probe: bool = True, options: dict | None = None) -> Iterator[Window]:
    return funding_windows(ctx, DoneIndex.load(conn, "funding"), count)


# --------------------------------------------------------------------------- live

# the live job reads the last hours every hour: a row missed by one run (late, or the run failed)
# is caught by the next ones
LIVE_LOOKBACK_MS = 12 * HOUR_MS


def live(ctx, client, minute_ms: int) -> JobResult:
    """Funding rows of the perpetuals for the last hours (and their index as source 'funding')."""
    r = JobResult(expected=True)
    now = ctx.now_ms()
    for currency in ctx.config.currencies:
        inst = f"{currency}-PERPETUAL"

        def one(inst=inst):
            result = fetch_window(client, inst, now, now - LIVE_LOOKBACK_MS)
            v = validate(inst, result, now - LIVE_LOOKBACK_MS, now)
            idx = index_mod.from_funding(index_mod.index_name_for(inst), v)
            with ctx.connect() as conn:
                n, q = load(conn, v)
                n2, q2 = index_mod.load(conn, idx)
            r.loaded(v, n, q)
            r.rows += n2
            r.quarantined += q2
        isolated(r, inst, one)
    return r


BACKFILL_HELP = """Hourly funding of the perpetuals since their funding
    history starts (also fills the hourly index, index_prices source 'funding').

    \b
    Example:
        ingest backfill funding
        ingest backfill funding --instrument ETH-PERPETUAL --since 2023-01-01
    """


DATASET = Dataset(
    name="funding",
    description="hourly funding of the perpetuals, with the index it was computed against",
    tables=(FUNDING_RATES, INDEX_PRICES),
    order=20,
    backfill=Backfill(plan=plan, checkpoints=("funding",), instrument_kinds=frozenset({"perpetual"}),
                      help=BACKFILL_HELP, dry_run_note="funding pages stop earlier, at the start of the history"),
    live=Live(job=live, schedule={"minute": 1, "second": 15}),
    freshness=Freshness(query="freshness_funding"),
)
