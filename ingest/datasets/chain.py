"""Option chain snapshots into options_greeks, and the traded options of a time range.

Two sources, one row shape (OPTIONS_GREEKS column order):

* ``computed`` — every minute, one ``get_book_summary_by_currency(currency, kind=option)`` call per
  currency returns the whole chain; greeks are computed with Black-76 (ingest.datasets.greeks) on
  ``underlying_price`` from the implied volatility, which is

  - ``mark_iv`` when the summary carries it (``iv_source`` 'exchange'), or
  - when it does not (docs example, 2020 captures: ``mark_iv`` is optional), the volatility that
    reproduces ``mark_price`` (in the coin: Black-76 USD premium / forward) — ``iv_source`` 'inverted';
  - neither when the mark says nothing about volatility: outside the no-arbitrage bounds, or within one
    tick (``OPTION_TICK``) of them — a mark at the minimum tick, or a deep in-the-money mark whose time
    value is below the tick (BTC-12MAR25-65000-C: mark 0.2182, intrinsic 0.21819, inverts to 224 %
    where the exchange shows 159 %). The row is stored with mark, underlying, OI and NULL IV, greeks
    and ``iv_source``: every option of the chain gets its row, nothing is invented.

  bid_iv/ask_iv are not in the summary: NULL.
  Sample item (``mark_iv`` may be absent):
      {"instrument_name": "BTC-27DEC24-100000-C", "base_currency": "BTC", "quote_currency": "BTC",
       "mark_price": 0.0213, "mark_iv": 61.27, "underlying_price": 67510.5,
       "underlying_index": "BTC-27DEC24", "interest_rate": 0.0, "bid_price": 0.021,
       "ask_price": 0.0215, "mid_price": 0.02125, "open_interest": 512.3, "volume": 12.0,
       "estimated_delivery_price": 67489.17, "creation_timestamp": 1717200005123}
* ``exchange`` — the hourly sweep calls ``ticker(instrument_name)`` per option and stores Deribit's own
  greeks and bid/ask IVs as sent, except: ``bid_iv``/``ask_iv`` 0 mean *no quote on that side* (seen
  even beside a live best bid) and are stored NULL; IVs of 500 (the 2020 cap) or above (863.38 seen in
  2025) are the exchange's numbers for quotes far from the mark and are kept; an IV the column cannot
  hold (1e6 % or more) is stored NULL and the payload quarantined with the reason, so it is not lost.
  An expired option's ticker (greeks all 0.0, ``estimated_delivery_price: "expired"``, or a quote time
  at/after the expiry) is not a snapshot: it is skipped and counted (``ChainRows.skipped``), not
  quarantined — it is a valid, known answer.
  Sample ticker result (trimmed):
      {"instrument_name": "BTC-27DEC24-100000-C", "timestamp": 1717200005123, "mark_price": 0.0213,
       "mark_iv": 61.27, "bid_iv": 60.1, "ask_iv": 62.4, "underlying_price": 67510.5,
       "index_price": 67489.17, "interest_rate": 0.0, "open_interest": 512.3,
       "greeks": {"delta": 0.31245, "gamma": 1e-05, "vega": 181.2, "theta": -61.3, "rho": 52.1}}

``ts`` of a row is the snapshot's minute (the quote time floored to the minute); time to expiry for the
greeks uses the exact quote time. Invalid items (NaN, missing fields, unparseable names, negative
IVs) are rejected into quarantine, never loaded. Real payloads of both shapes: tests/fixtures/deribit-real/
(tests/test_options_chain_real.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Iterable

import psycopg

from ingest.datasets import greeks
from ingest.datasets.base import Dataset, Freshness, Live
from ingest.deribit.calendar import parse_instrument_name
from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import MINUTE_MS
from ingest.live.jobs import API_ERRORS, JobResult, fetch_clean, store_forward_only
from ingest.storage.load import load_validated
from ingest.storage.tables import OPTIONS_GREEKS
from ingest.storage.validate import Rejected, Validated, finite_number, json_safe, ms_to_datetime

QUARANTINE = "options_greeks"  # the quarantine's dataset value for these rows
# the largest values the columns hold: NUMERIC(10,4) IVs, NUMERIC(12,6) greeks
MAX_IV = 999_999.9999
MAX_GREEK = 999_999.999999
# Exchange quirks of option quotes (docs: ../shared/deribit-api.md, "Seen in real captures"):
# the minimum price step of BTC and ETH options, in the coin; marks are known to about this resolution
OPTION_TICK = 0.0001
# bid_iv / ask_iv of 0 (int or float) mean "no quote on that side", not a volatility of 0 %
NO_QUOTE_IV = 0.0
# an expired option's ticker says estimated_delivery_price: "expired" (a string)
EXPIRED_MARKER = "expired"
# iv_source values (options_greeks.iv_source)
IV_FROM_EXCHANGE = "exchange"
IV_INVERTED = "inverted"
GREEK_NAMES = ("delta", "gamma", "vega", "theta", "rho")


@dataclass
class Skipped:
    instrument_name: str | None
    reason: str


@dataclass
class ChainRows(Validated):
    """Rows and rejects, plus the answers deliberately not stored (``skipped``: expired options) and
    the computed rows stored without an IV (``without_iv``: the mark says nothing about volatility)."""

    skipped: list[Skipped] = field(default_factory=list)
    without_iv: list[Skipped] = field(default_factory=list)


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


def _expiry_ms(meta) -> int:
    return int(meta.expiry.timestamp() * 1000)


def implied_vol_of_mark(meta, mark: float, under: float, snap_ms: int) -> greeks.ImpliedVol:
    """The volatility (fraction) implied by an inverse option's mark price in the coin, or None with
    the reason when the mark carries no information about it (see the module docstring)."""
    if meta.quote_currency is not None:
        # linear (USDC) options quote in USDC with their own ticks: not collected, not inverted
        return greeks.ImpliedVol(None, "linear option: mark not in the coin")
    t = greeks.years_to_expiry(_expiry_ms(meta), snap_ms)
    return greeks.implied_vol(mark * under, under, meta.strike, t, meta.option_type == "call",
                              resolution_usd=OPTION_TICK * under)


def summary_rows(currency: str, result: Any, now_ms: int | None = None) -> ChainRows:
    """Rows with source 'computed' from a get_book_summary_by_currency(kind=option) result."""
    out = ChainRows()
    if not isinstance(result, list):
        out.rejected.append(Rejected(QUARANTINE, None, f"{currency} book summary is not a list",
                                     json_safe(result)))
        return out
    for item in result:
        name = item.get("instrument_name") if isinstance(item, dict) else None
        meta = _option_meta(name)
        if meta is None:
            out.rejected.append(Rejected(QUARANTINE, name if isinstance(name, str) else None,
                                         "not an option summary", json_safe(item)))
            continue
        snap = _snapshot_ms(item, "creation_timestamp", now_ms)
        problem = None if snap is not None else "no snapshot time"
        # mark_iv is optional (absent or null); when present it must be valid
        mark_iv, p1 = _num(item, "mark_iv", nonneg=True, optional=True)
        under, p2 = _num(item, "underlying_price", positive=True)
        mark, p3 = _num(item, "mark_price", nonneg=True)
        oi, p4 = _num(item, "open_interest", nonneg=True, optional=True)
        rate, p5 = _num(item, "interest_rate", optional=True)
        edp, p6 = _num(item, "estimated_delivery_price", positive=True, optional=True)
        problem = problem or p1 or p2 or p3 or p4 or p5 or p6
        if problem is None and mark_iv is not None and mark_iv > MAX_IV:
            problem = "mark_iv out of range"
        if problem:
            out.rejected.append(Rejected(QUARANTINE, name, problem, json_safe(item)))
            continue
        expiry = _expiry_ms(meta)
        if snap >= expiry:
            out.skipped.append(Skipped(name, "expired"))
            continue
        iv, iv_source = mark_iv, IV_FROM_EXCHANGE if mark_iv is not None else None
        if mark_iv is None:
            implied = implied_vol_of_mark(meta, mark, under, snap)
            if implied.sigma is not None:
                iv, iv_source = round(implied.sigma * 100, 4), IV_INVERTED
            else:
                out.without_iv.append(Skipped(name, implied.reason))
        values: tuple = (None,) * len(GREEK_NAMES)
        if iv is not None:
            g = greeks.from_mark_iv(iv, under, meta.strike, expiry, snap, meta.option_type == "call")
            values = (g.delta, g.gamma, g.vega, g.theta, g.rho)
            if any(not math.isfinite(v) or abs(v) > MAX_GREEK for v in values):
                out.rejected.append(Rejected(QUARANTINE, name, "computed greek out of range", json_safe(item)))
                continue
        out.rows.append((ms_to_datetime(snap - snap % MINUTE_MS), name, "computed", *values,
                         iv, None, None, mark, under, edp, oi, rate, iv_source))
    return out


def _expired_ticker(result: dict, meta, snap: int | None) -> str | None:
    if result.get("estimated_delivery_price") == EXPIRED_MARKER:
        return "expired: estimated_delivery_price is 'expired'"
    if snap is not None and snap >= _expiry_ms(meta):
        return "expired: quote at or after the expiry"
    return None


def ticker_row(result: Any, now_ms: int | None = None) -> ChainRows:
    """One row with source 'exchange' from a ticker(option) result (none for an expired option)."""
    out = ChainRows()
    name = result.get("instrument_name") if isinstance(result, dict) else None
    meta = _option_meta(name)
    if meta is None:
        out.rejected.append(Rejected(QUARANTINE, name if isinstance(name, str) else None,
                                     "not an option ticker", json_safe(result)))
        return out
    snap = _snapshot_ms(result, "timestamp", now_ms)
    expired = _expired_ticker(result, meta, snap)
    if expired:
        out.skipped.append(Skipped(name, expired))
        return out
    g = result.get("greeks")
    problem = None if snap is not None else "no snapshot time"
    if not isinstance(g, dict):
        problem = problem or "greeks missing"
        g = {}
    vals = []
    for k in GREEK_NAMES:
        v, p = _num(g, k)
        problem = problem or (f"greeks.{p}" if p else None)
        if v is not None and abs(v) > MAX_GREEK:
            problem = problem or f"greeks.{k} out of range"
        vals.append(v)
    mark_iv, p1 = _num(result, "mark_iv", nonneg=True, optional=True)
    bid_iv, p2 = _num(result, "bid_iv", nonneg=True, optional=True)
    ask_iv, p3 = _num(result, "ask_iv", nonneg=True, optional=True)
    mark, p4 = _num(result, "mark_price", nonneg=True)
    under, p5 = _num(result, "underlying_price", positive=True)
    index, p6 = _num(result, "index_price", positive=True, optional=True)
    oi, p7 = _num(result, "open_interest", nonneg=True, optional=True)
    rate, p8 = _num(result, "interest_rate", optional=True)
    problem = problem or p1 or p2 or p3 or p4 or p5 or p6 or p7 or p8
    if problem:
        out.rejected.append(Rejected(QUARANTINE, name, problem, json_safe(result)))
        return out
    ivs = {"mark_iv": mark_iv, "bid_iv": bid_iv, "ask_iv": ask_iv}
    for key in ("bid_iv", "ask_iv"):
        if ivs[key] == NO_QUOTE_IV:
            ivs[key] = None
    for key, x in ivs.items():
        if x is not None and x > MAX_IV:
            # the exchange's number, but not one the column can hold: keep the row, the value in quarantine
            out.rejected.append(Rejected(QUARANTINE, name, f"{key} {x!r} exceeds numeric(10,4): stored NULL",
                                         json_safe(result)))
            ivs[key] = None
    iv_source = IV_FROM_EXCHANGE if ivs["mark_iv"] is not None else None
    out.rows.append((ms_to_datetime(snap - snap % MINUTE_MS), name, "exchange", *vals,
                     ivs["mark_iv"], ivs["bid_iv"], ivs["ask_iv"], mark, under, index, oi, rate, iv_source))
    return out


def merge(parts: Iterable[Validated]) -> ChainRows:
    out = ChainRows()
    for p in parts:
        out.rows.extend(p.rows)
        out.rejected.extend(p.rejected)
        out.skipped.extend(getattr(p, "skipped", ()))
        out.without_iv.extend(getattr(p, "without_iv", ()))
    return out


def fetch_summary(client: DeribitClient, currency: str) -> Any:
    return client.call("get_book_summary_by_currency", {"currency": currency, "kind": "option"})


def fetch_ticker(client: DeribitClient, instrument: str) -> Any:
    return client.call("ticker", {"instrument_name": instrument})


def load(conn: psycopg.Connection, validated: Validated) -> tuple[int, int]:
    """COPY + upsert into options_greeks, quarantine rejects; one transaction, idempotent."""
    return load_validated(conn, OPTIONS_GREEKS, validated)


# --------------------------------------------------------------------------- live

def _fetch_summary_rows(client, currency: str, now_ms: int) -> ChainRows:
    return summary_rows(currency, fetch_summary(client, currency), now_ms=now_ms)


def live(ctx, client, minute_ms: int) -> JobResult:
    """One book summary per currency -> mark, IV, underlying, OI and computed greeks of every option."""
    r = JobResult(expected=True)
    parts = []
    names: list[str] = []
    for currency in ctx.config.currencies:
        try:
            v = fetch_clean(partial(_fetch_summary_rows, client, currency, ctx.now_ms()))
        except API_ERRORS as exc:
            r.fail(f"{currency} book summary", exc)
            continue
        names.extend(row[1] for row in v.rows)
        parts.append(v)
    if names:
        ctx.state["options"] = sorted(set(names))
    store_forward_only(ctx, "chain", OPTIONS_GREEKS, merge(parts), minute_ms, r)
    r.detail = f"options={len(names)}"
    return r


DATASET = Dataset(
    name="chain",
    description="the whole option chain every minute: mark, IV, underlying, OI and computed greeks",
    tables=(OPTIONS_GREEKS,),
    order=30,
    forward_only=True,
    live=Live(job=live, schedule={"second": 6}, on_takeover=True, spool=True),
    freshness=Freshness(query="freshness_chain", expected=("BTC options computed", "ETH options computed")),
    quarantine_name=QUARANTINE,
)
