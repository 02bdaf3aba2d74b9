"""The trade tape: every trade of BTC and ETH options, dated futures and perpetuals, into `trades`; and
the 1-minute candles of options built from it (`options_ohlcv`, traded minutes only).

Source: get_last_trades_by_currency_and_time on the history host (it keeps every trade since the
platform began; www only the last 24 hours), `count` 1,000 (quirks.MAX_TRADES_PER_CALL), `sorting`
asc, paged forward with `has_more`. A page ends at some trade; the next page asks from that trade's
millisecond again, so trades sharing it across the boundary come back and are dropped by trade_id:
none lost, none twice. More than 1,000 trades in one millisecond of one currency cannot be paged by
time: the window then fails with that reason (never silently cut).

What is unique: trade_id within a currency (Deribit's reference; ids are one sequence per currency
across kinds, BTC's bare numbers, ETH's prefixed "ETH-"); tests/test_dataset_trades.py proves it on
the simulator's tape. Key: (currency, trade_id, ts).

Sample trade (history host, 2026; `iv` on options only; starbase_* on trades of Deribit's newer
matching engine, 64-bit integers above 2^53 that the client's orjson keeps exact):
    {"trade_seq": 3471, "trade_id": "48077291", "timestamp": 1590470616101, "tick_direction": 2,
     "price": 0.032, "mark_price": 0.04070324, "iv": 74.74, "instrument_name": "BTC-25SEP20-6000-P",
     "index_price": 8899.93, "direction": "sell", "amount": 0.5, "contracts": 0.5,
     "starbase_match_id": 4611686022722355203, "starbase_timestamp": 1590470616101003471}
Block trades add block_trade_id (and block_trade_leg_count, block_rfq_id), combo legs combo_id and
combo_trade_id, liquidations liquidation ('M', 'T' or 'MT').

Backfill (`ingest backfill trades [--kind option|future|perpetual] [--currency BTC|ETH]`): one window
per currency, kind and UTC day on a fixed day grid (checkpoint dataset 'trades', instrument e.g.
"BTC option"); options by default. The API's kinds are `option` and `future` (perpetuals included):
asking for futures and perpetuals together fetches each day once ("BTC future+perpetual"). A window
loads its trades and, for options, their candles, with its checkpoint in one transaction.

Live (job 'trades', every minute): for each currency and API kind, from the cursor (the last minute
stored) through the last closed minute, whole minutes only, so the option candles of those minutes
are complete; www while the cursor is within its 24 hours, else the history host.

Option candles (the exchange's 1-minute chart data, traded minutes only): per option and minute,
open/close = the first/last trade by (timestamp, trade_seq), high/low = the extremes, volume = sum of
amount (contracts), cost = sum of amount × price (in the coin), both rounded to 8 decimals: the
definition of the simulator's chart data (ingest/sim/market.py `_minute_candles`), which models the
exchange's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import click
import numpy as np

from ingest.backfill.engine import Fetched, Part, Window
from ingest.backfill.planning import EARLIEST_MS, grid_windows
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit import calendar as cal
from ingest.deribit.quirks import CURRENCIES, DAY_MS, MAX_TRADES_PER_CALL, MINUTE_MS
from ingest.storage.tables import AMOUNT, OPTIONS_OHLCV, PRICE, TS, TableSpec
from ingest.storage.validate import (
    BrokenAnswer,
    CandleColumns,
    Rejected,
    Validated,
    copy_escape,
    finite_number,
    is_number,
    json_safe,
    ms_to_datetime,
    within_limits,
)

log = logging.getLogger("ingest.trades")

NAME = "trades"
KINDS = ("option", "future", "perpetual")
DEFAULT_KINDS = ("option",)
# the API's `kind` for each stored kind: perpetuals come with kind=future
API_KIND = {"option": "option", "future": "future", "perpetual": "future"}
# www answers by_currency_and_time for the last 24 hours only (older: an empty answer, no error)
WWW_TRADES_REACH_MS = 23 * 3_600_000
LIQUIDATION_SIDES = ("M", "T", "MT")
INT64_MAX = 2**63 - 1

TRADES = TableSpec(
    "trades",
    (("ts", TS), ("trade_id", "text"), ("currency", "text"), ("kind", "text"), ("instrument_name", "text"),
     ("trade_seq", "bigint"), ("price", PRICE), ("amount", AMOUNT), ("contracts", AMOUNT),
     ("direction", "text"), ("tick_direction", "smallint"), ("index_price", "double precision"),
     ("mark_price", "double precision"), ("iv", "double precision"), ("liquidation", "text"),
     ("block_trade_id", "text"), ("block_trade_leg_count", "integer"), ("combo_id", "text"),
     ("combo_trade_id", "text"), ("block_rfq_id", "bigint"), ("starbase_match_id", "bigint"),
     ("starbase_timestamp", "bigint")),
    ("currency", "trade_id", "ts"),
)
_COL = {c: i for i, c in enumerate(TRADES.column_names)}


# --------------------------------------------------------------------------- instrument names


@lru_cache(maxsize=65_536)
def kind_of(instrument_name: str) -> tuple[str, str] | None:
    """(currency, stored kind) of a name: ('BTC', 'option' | 'future' | 'perpetual'); None when the
    name is not a Deribit future, perpetual or option."""
    try:
        parsed = cal.parse_instrument_name(instrument_name)
    except (ValueError, TypeError):
        return None
    kind = "perpetual" if parsed.is_perpetual else parsed.kind
    return parsed.currency, kind


def checkpoint_name(currency: str, kinds: tuple[str, ...]) -> str:
    """The checkpoint's instrument for a currency and the stored kinds one window fetches."""
    return f"{currency} {'+'.join(kinds)}"


# --------------------------------------------------------------------------- validation


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_text(item: dict, key: str) -> tuple[str | None, str | None]:
    """(value, problem) of an optional identifier: a string, or a whole number written as one."""
    value = item.get(key)
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    if _int(value):
        return str(value), None
    return None, f"{key} is not a string"


def _optional_int(item: dict, key: str, lo: int = 0, hi: int = INT64_MAX) -> tuple[int | None, str | None]:
    value = item.get(key)
    if value is None:
        return None, None
    if not _int(value):
        # a float here went through a float parser somewhere: its last digits are gone
        return None, f"{key} is not an integer"
    if not lo <= value <= hi:
        return None, f"{key} {value} out of range for bigint"
    return value, None


def _optional_number(item: dict, key: str, lo: float = 0.0) -> tuple[float | None, str | None]:
    value = item.get(key)
    if value is None:
        return None, None
    if not finite_number(value):
        return None, f"{key} is not a finite number"
    if value < lo:
        return None, f"{key} is negative"
    return value, None


# numeric fields whose type or finiteness decides whether an answer is broken (fetched again)
_NUMBERS = ("price", "amount", "contracts", "index_price", "mark_price", "iv")


def _broken(item: dict) -> bool:
    """True when a trade's fields have the wrong JSON types (numbers as strings, NaN, Infinity, null
    where a number belongs): Deribit never sends those, a fault in transit does."""
    if not _int(item.get("timestamp")) or not _int(item.get("trade_seq")):
        return True
    for key in ("price", "amount"):
        if not finite_number(item.get(key)):
            return True
    for key in _NUMBERS[2:]:
        value = item.get(key)
        if value is not None and not finite_number(value):
            return True
    return not isinstance(item.get("trade_id"), str) or not isinstance(item.get("instrument_name"), str)


def trade_row(currency: str, item: Any, kinds: tuple[str, ...]) -> tuple[tuple | None, str | None]:
    """(row in TRADES order, None) for a valid trade of `currency` and one of `kinds`; (None, reason)
    otherwise; (None, None) for a valid trade of a kind not asked for (perpetuals in a kind=future
    answer when only futures are wanted)."""
    if not isinstance(item, dict):
        return None, "trade is not an object"
    ts = item.get("timestamp")
    if not _int(ts):
        return None, "timestamp is not an integer"
    trade_id = item.get("trade_id")
    if not isinstance(trade_id, str) or not trade_id:
        return None, "trade_id is not a string"
    name = item.get("instrument_name")
    if not isinstance(name, str):
        return None, "instrument_name is not a string"
    parsed = kind_of(name)
    if parsed is None:
        return None, "instrument_name is not a Deribit future, perpetual or option"
    name_currency, kind = parsed
    if name_currency != currency:
        return None, f"an instrument of {name_currency} in the {currency} answer"
    if kind not in kinds:
        if API_KIND[kind] in {API_KIND[k] for k in kinds}:
            return None, None  # asked with the same API kind, not wanted
        return None, f"a {kind} trade in a kind={API_KIND[kinds[0]]} answer"
    seq = item.get("trade_seq")
    if not _int(seq) or seq < 0:
        return None, "trade_seq is not a non-negative integer"
    price, amount = item.get("price"), item.get("amount")
    for key, value in (("price", price), ("amount", amount)):
        if not is_number(value):
            return None, f"{key} is not a number"
        if not finite_number(value):
            return None, f"{key} is not finite"
        if value <= 0:
            return None, f"{key} is not positive"
    direction = item.get("direction")
    if direction not in ("buy", "sell"):
        return None, "direction is not buy or sell"
    tick = item.get("tick_direction")
    if tick is not None and (not _int(tick) or not 0 <= tick <= 3):
        return None, "tick_direction is not 0..3"
    liquidation = item.get("liquidation")
    if liquidation is not None and liquidation not in LIQUIDATION_SIDES:
        return None, "liquidation is not M, T or MT"
    values: dict[str, Any] = {}
    for key in ("contracts", "index_price", "mark_price", "iv"):
        values[key], problem = _optional_number(item, key)
        if problem:
            return None, problem
    if values["index_price"] == 0:
        return None, "index_price is not positive"
    for key in ("block_trade_id", "combo_id", "combo_trade_id"):
        values[key], problem = _optional_text(item, key)
        if problem:
            return None, problem
    for key, hi in (("block_trade_leg_count", 2**31 - 1), ("block_rfq_id", INT64_MAX),
                    ("starbase_match_id", INT64_MAX), ("starbase_timestamp", INT64_MAX)):
        values[key], problem = _optional_int(item, key, 0, hi)
        if problem:
            return None, problem
    return (ts, trade_id, currency, kind, name, seq, price, amount, values["contracts"], direction, tick,
            values["index_price"], values["mark_price"], values["iv"], liquidation, values["block_trade_id"],
            values["block_trade_leg_count"], values["combo_id"], values["combo_trade_id"],
            values["block_rfq_id"], values["starbase_match_id"], values["starbase_timestamp"]), None


@dataclass
class TradeBatch:
    """Valid trades (rows in TRADES order, ts still in epoch ms) and the rejects of one range."""

    rows: list[tuple] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    requests: int = 0
    complete_ms: int | None = None  # trades are complete through this instant (None: the whole range)

    def validated(self) -> Validated:
        """The rows with ts as datetimes (for load_validated), less those a column cannot hold."""
        rows = [(ms_to_datetime(r[0]),) + r[1:] for r in self.rows]
        return within_limits(TRADES, Validated(rows, list(self.rejected)))


def validate_page(currency: str, trades: list, kinds: tuple[str, ...], start_ms: int, end_ms: int,
                  seen: set, batch: TradeBatch) -> None:
    """Validate one page into `batch`: trades outside [start, end] and trade_ids already in `seen`
    (the millisecond shared with the previous page) are dropped; every other invalid trade becomes
    a Rejected, `whole` when its types say the answer was broken in transit."""
    for item in trades:
        if isinstance(item, dict):
            ts, trade_id = item.get("timestamp"), item.get("trade_id")
            if _int(ts) and (ts < start_ms or ts > end_ms):
                continue
            if isinstance(trade_id, str) and trade_id in seen:
                continue
        row, problem = trade_row(currency, item, kinds)
        if problem is not None:
            name = item.get("instrument_name") if isinstance(item, dict) else None
            batch.rejected.append(Rejected(NAME, name if isinstance(name, str) else None, problem,
                                           json_safe(item), whole=not isinstance(item, dict) or _broken(item)))
        if isinstance(item, dict) and isinstance(item.get("trade_id"), str):
            seen.add(item["trade_id"])
        if row is not None:
            batch.rows.append(row)


# --------------------------------------------------------------------------- paging


def ask_page(client, currency: str, api_kind: str, start_ms: int, end_ms: int, count: int, host: str,
             what: str) -> tuple[list, list[int], bool]:
    """One page of get_last_trades_by_currency_and_time, oldest first: (trades, their integer
    timestamps, has_more). Raises BrokenAnswer (naming `what`) when the answer has no trades list."""
    result = client.call("get_last_trades_by_currency_and_time", {
        "currency": currency, "kind": api_kind, "start_timestamp": start_ms, "end_timestamp": end_ms,
        "count": count, "sorting": "asc"}, host=host)
    page = result.get("trades") if isinstance(result, dict) else None
    if not isinstance(page, list):
        raise BrokenAnswer(f"{what}: answer without a trades list")
    stamps = [t["timestamp"] for t in page if isinstance(t, dict) and _int(t.get("timestamp"))]
    return page, stamps, bool(result.get("has_more"))


def fetch_trades(client, currency: str, kinds: tuple[str, ...], start_ms: int, end_ms: int, *,
                 host: str = "history", page_size: int = MAX_TRADES_PER_CALL,
                 max_pages: int | None = None) -> TradeBatch:
    """Every trade of `currency` and `kinds` (one API kind) with start <= timestamp <= end, paged forward
    with has_more. With `max_pages`, stops early: `complete_ms` then says through which instant the
    trades are complete (the last page's last millisecond may continue on the next page).

    Raises BrokenAnswer when an answer has no trades list (a fault in transit: the caller asks again),
    or when more than `page_size` trades share one millisecond (time paging cannot pass it)."""
    api_kind = API_KIND[kinds[0]]
    batch = TradeBatch()
    seen: set[str] = set()
    cursor = start_ms
    while True:
        if max_pages is not None and batch.requests >= max_pages:
            batch.complete_ms = cursor - 1
            return batch
        page, stamps, has_more = ask_page(
            client, currency, api_kind, cursor, end_ms, page_size, host,
            f"{currency} {api_kind} trades from {ms_to_datetime(cursor):%Y-%m-%d %H:%M:%S.%f}")
        batch.requests += 1
        before = len(seen)
        validate_page(currency, page, kinds, start_ms, end_ms, seen, batch)
        if not has_more or not stamps:
            return batch
        last = max(stamps)
        if last <= cursor and len(seen) == before:
            raise BrokenAnswer(f"more than {page_size} {currency} {api_kind} trades at "
                               f"{ms_to_datetime(cursor).isoformat()}: paging by time cannot pass that "
                               f"millisecond")
        cursor = max(last, cursor)  # the last millisecond again: its trades are dropped by trade_id


# --------------------------------------------------------------------------- candles of options


def option_candles(rows: list[tuple], first_minute_ms: int, last_minute_ms: int) -> list[CandleColumns]:
    """1-minute candles of every option in `rows` (TRADES rows, ts in ms) for the minutes in
    [first_minute, last_minute]: only minutes with trades. The trades of every such minute must all be
    in `rows` (whole minutes)."""
    by_name: dict[str, list[tuple]] = {}
    k_ts, k_name, k_seq, k_price, k_amount = (_COL[c] for c in ("ts", "instrument_name", "trade_seq", "price",
                                                                "amount"))
    for r in rows:
        if r[_COL["kind"]] == "option" and first_minute_ms <= r[k_ts] - r[k_ts] % MINUTE_MS <= last_minute_ms:
            by_name.setdefault(r[k_name], []).append(r)
    out = []
    for name in sorted(by_name):
        trades = sorted(by_name[name], key=lambda r: (r[k_ts], r[k_seq]))
        ts = np.fromiter((r[k_ts] for r in trades), np.int64, len(trades))
        price = np.fromiter((r[k_price] for r in trades), np.float64, len(trades))
        amount = np.fromiter((r[k_amount] for r in trades), np.float64, len(trades))
        minute = ts - ts % MINUTE_MS
        starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
        ends = np.r_[starts[1:], len(ts)] - 1
        # the exchange's sums, in its order (the trades of each minute, by time)
        volume = np.round(np.add.reduceat(amount, starts), 8)
        cost = np.round(np.add.reduceat(amount * price, starts), 8)
        out.append(CandleColumns(name, minute[starts].tolist(), price[starts].tolist(),
                                 np.maximum.reduceat(price, starts).tolist(),
                                 np.minimum.reduceat(price, starts).tolist(), price[ends].tolist(),
                                 volume.tolist(), cost.tolist()))
    return out


# --------------------------------------------------------------------------- COPY text


class CopyText:
    """Rows already formatted as COPY text, in the shape the backfill engine loads candle columns in
    (`Part.columns`: its length, its first and last tick; `unique()` and `copy_text()`): formatted
    once in the fetch thread, sent as bytes by the loading one. The rows must be unique by key."""
    # (the engine takes pre-formatted text through Part.columns only; a Part(text=..., rows=...,
    # ts_range=...) of its own would make this adapter unnecessary)

    def __init__(self, text: bytes, rows: int, first_ms: int, last_ms: int):
        self.text, self.n = text, rows
        self.ticks = [first_ms, last_ms]

    def __len__(self) -> int:
        return self.n

    def unique(self) -> "CopyText":
        return self

    def copy_text(self) -> bytes:
        return self.text


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return copy_escape(value)
    return repr(value) if isinstance(value, float) else str(value)


def copy_text(rows: list[tuple]) -> bytes:
    """TRADES rows (ts in epoch ms) as COPY text: timestamps in ISO form (numpy, at C speed), floats in
    their shortest round-trip form (repr), integers exactly."""
    if not rows:
        return b""
    stamps = np.datetime_as_string(np.array([r[0] for r in rows], dtype="datetime64[ms]"), unit="ms",
                                   timezone="UTC").tolist()
    value = _copy_value
    lines = [ts + "\t" + "\t".join([value(v) for v in r[1:]]) for ts, r in zip(stamps, rows, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def trades_part(rows: list[tuple], window: tuple[str, int, int]) -> Part:
    """The window's trades as one part of COPY text: COPYed straight into the table when the window
    (its currency, kinds and time: trades_window_has_rows.sql) holds no trade yet, else staged and
    upserted."""
    text = copy_text(rows)
    stamps = [r[0] for r in rows]
    columns = CopyText(text, len(rows), min(stamps), max(stamps))
    return Part(TRADES, Validated(), window, columns=columns, text=text, text_rows=len(rows),
                window_query="trades_window_has_rows")


def candles_part(candles: list[CandleColumns], window: tuple[str, int, int]) -> Part:
    """The option candles built from a window's trades as one part of COPY text (straight into
    options_ohlcv when it holds no candle of the currency in the window yet)."""
    text = b"".join(c.copy_text() for c in candles)
    n = sum(len(c) for c in candles)
    columns = CopyText(text, n, min(c.ticks[0] for c in candles), max(c.ticks[-1] for c in candles))
    return Part(OPTIONS_OHLCV, Validated(), window, columns=columns, text=text, text_rows=n,
                window_query="trades_window_has_option_candles")


def rows_within_limits(batch: TradeBatch) -> tuple[list[tuple], list[Rejected]]:
    """The batch's rows less those a NUMERIC column cannot hold (those become rejects)."""
    limits = TRADES.limits
    keep, rejected = [], list(batch.rejected)
    for r in batch.rows:
        bad = next((f"{c} {r[i]!r} out of range for {TRADES.columns[i][1]}" for i, (c, bound) in limits.items()
                    if r[i] is not None and not abs(r[i]) < bound), None)
        if bad is None:
            keep.append(r)
        else:
            rejected.append(Rejected(NAME, r[_COL["instrument_name"]], bad, json_safe(
                dict(zip(TRADES.column_names, r, strict=True)))))
    return keep, rejected


# --------------------------------------------------------------------------- backfill plan


def window_fetch(client, currency: str, kinds: tuple[str, ...], start_ms: int, end_ms: int,
                 page_size: int = MAX_TRADES_PER_CALL):
    """The fetch of one window: its trades and the candles of its options (whole minutes: windows are
    whole days), each formatted as COPY text here, in the fetch thread; its rejects."""
    window = (checkpoint_name(currency, kinds), start_ms, end_ms)

    def fetch() -> Fetched:
        batch = fetch_trades(client, currency, kinds, start_ms, end_ms, page_size=page_size)
        rows, rejected = rows_within_limits(batch)
        parts = [Part(TRADES, Validated([], rejected))]
        if rows:
            parts.append(trades_part(rows, window))
        candles = option_candles(rows, start_ms, end_ms) if "option" in kinds else []
        if candles:
            parts.append(candles_part(candles, window))
        return Fetched(parts, empty=not batch.rows and not batch.rejected)
    return fetch


def _kind_groups(kinds: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Stored kinds grouped by the API kind that serves them (futures and perpetuals together)."""
    groups: dict[str, list[str]] = {}
    for k in KINDS:
        if k in kinds:
            groups.setdefault(API_KIND[k], []).append(k)
    return [tuple(g) for g in groups.values()]


def _wanted(done, currency: str, group: tuple[str, ...], s: int, e: int, g: int) -> tuple[str, ...]:
    """The kinds of `group` no 'done' checkpoint covers yet for this window (one kind may have been
    fetched alone by an earlier run)."""
    if done.contains(checkpoint_name(currency, group), s, e, g) is not None:
        return ()
    if len(group) == 1:
        both = checkpoint_name(currency, ("future", "perpetual"))
        if API_KIND[group[0]] == "future" and done.contains(both, s, e, g) is not None:
            return ()
        return group
    return tuple(k for k in group if done.contains(checkpoint_name(currency, (k,)), s, e, g) is None)


def backfill_range(ctx) -> tuple[int, int]:
    """[first, last] instant of the backfill: --since (default: the start of Deribit's history) through
    the end of the last complete minute (--until, inclusive)."""
    hi = ctx.last_minute_ms + MINUTE_MS - 1
    lo = ctx.since_ms if ctx.since_ms is not None else EARLIEST_MS
    return max(lo, EARLIEST_MS), hi


# a dry run's estimate of a day's trades: one page of 1,000 from this hour of a sample day (noon UTC:
# Europe and Asia both awake, neither the quietest nor the busiest hour), one sample day a month
SAMPLE_FROM_HOUR = 12


def sampled_trades_per_day(client, currency: str, api_kind: str, day_ms: int) -> float:
    """About how many trades of `currency` and `api_kind` the UTC day starting at `day_ms` holds, from one
    page from its noon: 1,000 trades spanning S ms make 1,000 x day / S; a page without more holds every
    trade of the afternoon (twice that for the day). Raises what the client raises."""
    start = day_ms + SAMPLE_FROM_HOUR * 3_600_000
    _, stamps, has_more = ask_page(client, currency, api_kind, start, day_ms + DAY_MS - 1, MAX_TRADES_PER_CALL,
                                   "history", f"{currency} {api_kind} trades sample")
    if not has_more or not stamps:
        return 2.0 * len(stamps)
    return len(stamps) * DAY_MS / max(max(stamps) - start, 1)


class RequestEstimate:
    """A dry run's requests per window: ceil(trades / 1,000) from one sampled day per month of a currency
    and API kind (the first window of the month still to fetch); one a window when a sample fails."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.per_day: dict[tuple[str, str, int], float | None] = {}  # None: the sample failed

    @property
    def samples(self) -> int:
        return sum(v is not None for v in self.per_day.values())

    @property
    def failed(self) -> int:
        return sum(v is None for v in self.per_day.values())

    def requests(self, currency: str, api_kind: str, s: int, e: int) -> int:
        day = ms_to_datetime(s)
        key = (currency, api_kind, day.year * 12 + day.month)
        if key not in self.per_day:
            try:
                self.per_day[key] = sampled_trades_per_day(self.client, currency, api_kind, s - s % DAY_MS)
            except Exception as exc:  # an estimate only: say so, count one a window
                log.warning("trades: no sample of %s %s trades on %s (%s); counting one request a day there",
                            currency, api_kind, f"{day:%Y-%m-%d}", exc)
                self.per_day[key] = None
        per_day = self.per_day[key]
        if per_day is None:
            return 1
        return max(1, -(-round(per_day * (e - s + 1) / DAY_MS) // MAX_TRADES_PER_CALL))


def plan(ctx, conn, count, probe: bool = True, options: Mapping | None = None) -> Iterator[Window]:
    """Windows of one UTC day per currency and kind group, oldest first, skipping those a 'done'
    checkpoint covers. `options`: kind (default options only), currency (default BTC and ETH).
    A dry run (`probe` False) estimates each window's requests from one sample page a month."""
    from ingest.backfill.checkpoints import DoneIndex

    options = options or {}
    kinds = tuple(options.get("kind") or DEFAULT_KINDS)
    currencies = tuple(options.get("currency") or CURRENCIES)
    estimate = None if probe else RequestEstimate(ctx.client)
    if estimate is not None and any(k != "option" for k in kinds):
        log.warning("trades of futures and perpetuals: Deribit's tape since 2018 holds hundreds of millions "
                    "of them (the perpetuals trade tens of thousands of times a day): one request per 1,000 "
                    "trades, days to weeks at 20 requests/s")
    done = DoneIndex.load(conn, NAME)
    lo, hi = backfill_range(ctx)
    for currency in currencies:
        for group in _kind_groups(kinds):
            for s, e, g in grid_windows(lo, hi, DAY_MS, MINUTE_MS):
                e_ms = min(e + MINUTE_MS - 1, hi)  # through the end of the window's last minute
                want = _wanted(done, currency, group, s, e_ms, g)
                name = checkpoint_name(currency, want or group)
                requests = estimate.requests(currency, API_KIND[group[0]], s, e_ms) if estimate and want else 1
                count(name, s, e_ms, not want, requests=requests)
                if want:
                    yield Window(NAME, name, s, e_ms, window_fetch(ctx.client, currency, want, s, e_ms))
    if estimate is not None:
        log.info("trades: requests estimated from %d sample pages (one a month of each currency and kind, "
                 "from its first day to fetch, at %02d:00 UTC)%s", estimate.samples, SAMPLE_FROM_HOUR,
                 f"; {estimate.failed} samples failed (one request a day counted there)" if estimate.failed else "")


# --------------------------------------------------------------------------- live


def _cursor_from_db(ctx, currency: str, kinds: tuple[str, ...]) -> int | None:
    from ingest.storage.sqlfiles import query

    with ctx.connect() as conn:
        row = conn.execute(query("trades_last_ts"), {"currency": currency, "kinds": list(kinds)}).fetchone()
    return None if row is None else int(row[0].timestamp() * 1000)


# per currency, API kind and run (20,000 trades): a longer catch-up continues over the next runs
LIVE_MAX_PAGES = 20


def live_start(ctx, currency: str, group: tuple[str, ...], end_ms: int) -> int:
    """Where a live run starts for a currency and API kind: the cursor (the first minute not yet
    processed); after a restart, the minute of the last stored trade (fetched again whole, so that
    its candles are complete), at most catchup_days back; with nothing stored, initial_lookback_min."""
    cursors = ctx.state.setdefault("trades_from", {})
    start = cursors.get((currency, group[0]))
    if start is None:
        last = _cursor_from_db(ctx, currency, group)
        horizon = end_ms + 1 - int(ctx.config.catchup_days * DAY_MS)
        start = end_ms + 1 - ctx.config.initial_lookback_min * MINUTE_MS if last is None else max(last, horizon)
    return start - start % MINUTE_MS


def live_job(ctx, client, minute_ms: int):
    """Every kind's trades of each currency from its cursor through the last closed minute, then the
    candles of the options that traded in those (whole) minutes. Each currency and API kind on its
    own: a failure is recorded, the others go on, and its cursor stays for the next run."""
    from ingest.live.jobs import JobResult, isolated, last_closed_minute
    from ingest.live.writes import load_or_isolate

    r = JobResult()
    end = last_closed_minute(ctx.now_ms()) + MINUTE_MS - 1  # through the end of the last closed minute
    cursors = ctx.state.setdefault("trades_from", {})
    counts = {"trades": 0, "behind_min": 0}
    for currency in ctx.config.currencies:
        for group in _kind_groups(KINDS):
            def one(currency=currency, group=group):
                start = live_start(ctx, currency, group, end)
                if start > end:
                    return
                counts["behind_min"] += (end + 1 - start) // MINUTE_MS
                host = "www" if start >= ctx.now_ms() - WWW_TRADES_REACH_MS else "history"

                def fetch() -> TradeBatch:
                    return fetch_trades(client, currency, group, start, end, host=host, max_pages=LIVE_MAX_PAGES)
                batch = fetch()
                for _ in range(2):  # invalid values: asked again before they are taken as the exchange's
                    if not batch.rejected:
                        break
                    batch = fetch()
                # whole minutes: up to the end, or up to the minute the last page stopped in (fetched
                # again by the next run)
                upto = end + 1 if batch.complete_ms is None else batch.complete_ms + 1 - (batch.complete_ms + 1) \
                    % MINUTE_MS
                r.expected = r.expected or bool(batch.rows or batch.rejected)
                v = batch.validated()
                with ctx.connect() as conn:
                    n, q = load_or_isolate(conn, TRADES, v)
                r.loaded(v, n, q)
                counts["trades"] += len(v.rows)
                if "option" in group and upto > start:
                    candles = option_candles(batch.rows, start, upto - MINUTE_MS)
                    cv = Validated([row for c in candles for row in c.rows()], [])
                    if cv.rows:
                        with ctx.connect() as conn:
                            n2, q2 = load_or_isolate(conn, OPTIONS_OHLCV, cv)
                        r.rows += n2
                        r.quarantined += q2
                cursors[(currency, group[0])] = max(start, upto)
            isolated(r, f"{currency} {'/'.join(group)} trades", one)
    r.detail = f"trades={counts['trades']}" + (f" catchup_minutes={counts['behind_min']}"
                                               if counts["behind_min"] > 2 else "")
    return r


# --------------------------------------------------------------------------- declaration

KIND_OPTION = click.option(
    "--kind", "kind", multiple=True, type=click.Choice(KINDS),
    help="Kinds of instrument (repeatable): option (default), future (dated), perpetual. Futures and "
         "perpetuals are hundreds of millions of trades since 2018 (see --dry-run).")
CURRENCY_OPTION = click.option(
    "--currency", "currency", multiple=True, type=click.Choice(CURRENCIES),
    help="Currencies (repeatable); default BTC and ETH.")

BACKFILL_HELP = """Every trade (the history host's tape) of BTC and ETH
    options, and of dated futures and perpetuals with --kind, by currency and UTC day; the candles of
    the options (options_ohlcv, traded minutes only) are built from them. Default range: since 2018
    (--since to narrow it); days already done are skipped.

    \b
    Example:
        ingest backfill trades --since 2024-05-01 --until 2024-05-31
        ingest backfill trades --kind future --kind perpetual --currency BTC --since 2024-06-01 --dry-run
    """

DATASET = Dataset(
    name=NAME,
    description="the trade tape of options, dated futures and perpetuals (and option candles built from it)",
    tables=(TRADES, OPTIONS_OHLCV),
    order=60,
    backfill=Backfill(plan=plan, checkpoints=(NAME,), in_all=False, help=BACKFILL_HELP,
                      options=(KIND_OPTION, CURRENCY_OPTION),
                      dry_run_note="trades: ceil(trades / 1,000) a day, estimated from one sample page a month"),
    live=Live(job=live_job, schedule={"second": 12}, on_takeover=True),
    # the perpetuals trade every minute; options and dated futures may be quiet for minutes
    freshness=Freshness(query="freshness_trades", expected=("BTC perpetual", "ETH perpetual")),
)
