"""Option chain snapshots into options_greeks, and the traded options of a time range.

Two sources, one row shape (OPTIONS_GREEKS column order):

* ``computed`` — every minute, one ``get_book_summary_by_currency(currency, kind=option)`` call per
  currency returns the whole chain; greeks are computed with Black-76 from ``mark_iv`` on
  ``underlying_price`` (ingest.greeks). bid_iv/ask_iv are not in the summary: NULL.
  Sample item:
      {"instrument_name": "BTC-27DEC24-100000-C", "base_currency": "BTC", "quote_currency": "BTC",
       "mark_price": 0.0213, "mark_iv": 61.27, "underlying_price": 67510.5,
       "underlying_index": "BTC-27DEC24", "interest_rate": 0.0, "bid_price": 0.021,
       "ask_price": 0.0215, "mid_price": 0.02125, "open_interest": 512.3, "volume": 12.0,
       "estimated_delivery_price": 67489.17, "creation_timestamp": 1717200005123}
* ``exchange`` — the hourly sweep calls ``ticker(instrument_name)`` per option and stores Deribit's own
  greeks and bid/ask IVs.
  Sample ticker result (trimmed):
      {"instrument_name": "BTC-27DEC24-100000-C", "timestamp": 1717200005123, "mark_price": 0.0213,
       "mark_iv": 61.27, "bid_iv": 60.1, "ask_iv": 62.4, "underlying_price": 67510.5,
       "index_price": 67489.17, "interest_rate": 0.0, "open_interest": 512.3,
       "greeks": {"delta": 0.31245, "gamma": 1e-05, "vega": 181.2, "theta": -61.3, "rho": 52.1}}

``ts`` of a row is the snapshot's minute (the quote time floored to the minute); time to expiry for the
greeks uses the exact quote time. Invalid items (NaN, missing fields, unparseable names, negative
IVs) are rejected into quarantine, never loaded.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import psycopg

from ingest import greeks
from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import MAX_TRADES_PER_CALL, MINUTE_MS
from ingest.deribit_calendar import parse_instrument_name
from ingest.load import load_validated
from ingest.tables import OPTIONS_GREEKS
from ingest.validate import Rejected, Validated, finite_number, json_safe, ms_to_datetime

DATASET = "options_greeks"
# NUMERIC(10,4) holds IVs below 1e6; NUMERIC(12,6) greeks below 1e6 in absolute value
MAX_IV = 100_000.0
MAX_GREEK = 999_999.0


def _num(item: dict, key: str, *, positive: bool = False, nonneg: bool = False,
         optional: bool = False) -> tuple[float | None, str | None]:
    x = item.get(key)
    if x is None and optional:
        return None, None
    if not finite_number(x):
        return None, f"{key} is not a finite number"
    if positive and x <= 0:
        return None, f"{key} is not positive"
    if nonneg and x < 0:
        return None, f"{key} is negative"
    return float(x), None


def _option_meta(name: Any):
    if not isinstance(name, str):
        return None
    try:
        parsed = parse_instrument_name(name)
    except ValueError:
        return None
    if parsed.kind != "option" or parsed.strike is None or parsed.expiry is None:
        return None
    return parsed


def _snapshot_ms(item: dict, key: str, fallback_ms: int | None) -> int | None:
    t = item.get(key)
    if isinstance(t, int) and not isinstance(t, bool) and t > 0:
        return t
    return fallback_ms


def summary_rows(currency: str, result: Any, now_ms: int | None = None) -> Validated:
    """Rows with source 'computed' from a get_book_summary_by_currency(kind=option) result."""
    out = Validated()
    if not isinstance(result, list):
        out.rejected.append(Rejected(DATASET, None, f"{currency} book summary is not a list",
                                     json_safe(result)))
        return out
    for item in result:
        name = item.get("instrument_name") if isinstance(item, dict) else None
        meta = _option_meta(name)
        if meta is None:
            out.rejected.append(Rejected(DATASET, name if isinstance(name, str) else None,
                                         "not an option summary", json_safe(item)))
            continue
        snap = _snapshot_ms(item, "creation_timestamp", now_ms)
        problem = None if snap is not None else "no snapshot time"
        mark_iv, p1 = _num(item, "mark_iv", nonneg=True)
        under, p2 = _num(item, "underlying_price", positive=True)
        mark, p3 = _num(item, "mark_price", nonneg=True)
        oi, p4 = _num(item, "open_interest", nonneg=True, optional=True)
        rate, p5 = _num(item, "interest_rate", optional=True)
        edp, p6 = _num(item, "estimated_delivery_price", positive=True, optional=True)
        problem = problem or p1 or p2 or p3 or p4 or p5 or p6
        if problem is None and mark_iv > MAX_IV:
            problem = "mark_iv out of range"
        if problem:
            out.rejected.append(Rejected(DATASET, name, problem, json_safe(item)))
            continue
        g = greeks.from_mark_iv(mark_iv, under, meta.strike, int(meta.expiry.timestamp() * 1000), snap,
                                meta.option_type == "call")
        values = (g.delta, g.gamma, g.vega, g.theta, g.rho)
        if any(not math.isfinite(v) or abs(v) > MAX_GREEK for v in values):
            out.rejected.append(Rejected(DATASET, name, "computed greek out of range", json_safe(item)))
            continue
        out.rows.append((ms_to_datetime(snap - snap % MINUTE_MS), name, "computed", *values,
                         mark_iv, None, None, mark, under, edp, oi, rate))
    return out


def ticker_row(result: Any, now_ms: int | None = None) -> Validated:
    """One row with source 'exchange' from a ticker(option) result."""
    out = Validated()
    name = result.get("instrument_name") if isinstance(result, dict) else None
    if _option_meta(name) is None:
        out.rejected.append(Rejected(DATASET, name if isinstance(name, str) else None,
                                     "not an option ticker", json_safe(result)))
        return out
    snap = _snapshot_ms(result, "timestamp", now_ms)
    g = result.get("greeks")
    problem = None if snap is not None else "no snapshot time"
    if not isinstance(g, dict):
        problem = problem or "greeks missing"
        g = {}
    vals = []
    for k in ("delta", "gamma", "vega", "theta", "rho"):
        v, p = _num(g, k)
        problem = problem or (f"greeks.{p}" if p else None)
        if v is not None and abs(v) > MAX_GREEK:
            problem = problem or f"greeks.{k} out of range"
        vals.append(v)
    mark_iv, p1 = _num(result, "mark_iv", nonneg=True)
    bid_iv, p2 = _num(result, "bid_iv", nonneg=True, optional=True)
    ask_iv, p3 = _num(result, "ask_iv", nonneg=True, optional=True)
    mark, p4 = _num(result, "mark_price", nonneg=True)
    under, p5 = _num(result, "underlying_price", positive=True)
    index, p6 = _num(result, "index_price", positive=True, optional=True)
    oi, p7 = _num(result, "open_interest", nonneg=True, optional=True)
    rate, p8 = _num(result, "interest_rate", optional=True)
    problem = problem or p1 or p2 or p3 or p4 or p5 or p6 or p7 or p8
    if problem is None and max(x or 0.0 for x in (mark_iv, bid_iv, ask_iv)) > MAX_IV:
        problem = "iv out of range"
    if problem:
        out.rejected.append(Rejected(DATASET, name, problem, json_safe(result)))
        return out
    out.rows.append((ms_to_datetime(snap - snap % MINUTE_MS), name, "exchange", *vals,
                     mark_iv, bid_iv, ask_iv, mark, under, index, oi, rate))
    return out


def merge(parts: Iterable[Validated]) -> Validated:
    out = Validated()
    for p in parts:
        out.rows.extend(p.rows)
        out.rejected.extend(p.rejected)
    return out


def fetch_summary(client: DeribitClient, currency: str) -> Any:
    return client.call("get_book_summary_by_currency", {"currency": currency, "kind": "option"})


def fetch_ticker(client: DeribitClient, instrument: str) -> Any:
    return client.call("ticker", {"instrument_name": instrument})


def load(conn: psycopg.Connection, validated: Validated) -> tuple[int, int]:
    """COPY + upsert into options_greeks, quarantine rejects; one transaction, idempotent."""
    return load_validated(conn, OPTIONS_GREEKS, validated)


def traded_options(client: DeribitClient, currency: str, start_ms: int, end_ms: int,
                   max_pages: int = 20) -> tuple[dict[str, set[int]], int]:
    """Which options traded in [start_ms, end_ms] and in which minutes: {instrument: {minute_ms}},
    from get_last_trades_by_currency_and_time (kind=option, ascending, ≤1000 per page). Returns the
    map and the number of requests made. Trades with a bad instrument name or timestamp are skipped."""
    traded: dict[str, set[int]] = {}
    start, requests = start_ms, 0
    for _ in range(max_pages):
        result = client.call("get_last_trades_by_currency_and_time", {
            "currency": currency, "kind": "option", "start_timestamp": start, "end_timestamp": end_ms,
            "count": MAX_TRADES_PER_CALL, "sorting": "asc"})
        requests += 1
        trades = result.get("trades") if isinstance(result, dict) else None
        if not isinstance(trades, list) or not trades:
            break
        last_ts = start
        for t in trades:
            if not isinstance(t, dict):
                continue
            name, ts = t.get("instrument_name"), t.get("timestamp")
            if not isinstance(name, str) or not isinstance(ts, int) or isinstance(ts, bool):
                continue
            last_ts = max(last_ts, ts)
            if start_ms <= ts <= end_ms and _option_meta(name) is not None:
                traded.setdefault(name, set()).add(ts - ts % MINUTE_MS)
        if not result.get("has_more") or last_ts <= start:
            break
        start = last_ts  # overlapping by one ms at most: sets de-duplicate
    return traded, requests
