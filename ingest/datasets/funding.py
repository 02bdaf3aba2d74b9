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
    pages_backwards(client, instrument, end_ms, start_ms=0) -> iterator of (win_start, win_end, result)
    collect(client, conn, instrument, start_ms, end_ms) -> (loaded, quarantined): fetch + load a range
                                                   (e.g. the live collector: the last few hours)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import FUNDING_LOWER_BOUND_SLACK_MS, FUNDING_ROWS_PER_CALL, HOUR_MS
from ingest.storage.load import load_validated
from ingest.storage.tables import FUNDING_RATES
from ingest.storage.validate import (
    Rejected,
    Validated,
    broken_values,
    finite_number,
    is_number,
    json_safe,
    ms_to_datetime,
)

DATASET = "funding"
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
            out.rejected.append(Rejected(DATASET, instrument, "result is not a list", json_safe(result),
                                         whole=True))
        return out
    seen: set[int] = set()
    for item in result:
        reason = row_problem(item)
        if reason is not None:
            whole = not isinstance(item, dict) or not isinstance(item.get("timestamp"), int) or broken_values(
                *(item.get(f) for f in FIELDS[1:]))
            out.rejected.append(Rejected(DATASET, instrument, reason, json_safe(item), whole=whole))
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


def pages_backwards(client: DeribitClient, instrument: str, end_ms: int, start_ms: int = 0
                    ) -> Iterator[tuple[int, int, Any]]:
    """Yield (window_start, window_end, raw result) for consecutive 744-hour windows going back from
    end_ms, stopping after the first window the API answers with nothing or once start_ms is passed.
    Streams: one window in memory at a time."""
    _, win_end = window_bounds(end_ms)
    while win_end >= start_ms:
        win_start = max(win_end - (FUNDING_ROWS_PER_CALL - 1) * HOUR_MS, start_ms)
        result = fetch_window(client, instrument, win_end, win_start)
        yield win_start, win_end, result
        if not result:
            return
        win_end = win_start - HOUR_MS


def collect(client: DeribitClient, conn: psycopg.Connection, instrument: str, start_ms: int, end_ms: int
            ) -> tuple[int, int]:
    """Fetch and load every hour of [start_ms, end_ms] (any length; pages backwards). Returns
    (rows inserted or changed, rows quarantined). The live collector calls this for the last hours."""
    loaded = quarantined = 0
    for win_start, win_end, result in pages_backwards(client, instrument, end_ms, start_ms):
        n, q = load(conn, validate(instrument, result, win_start, win_end))
        loaded += n
        quarantined += q
    return loaded, quarantined
