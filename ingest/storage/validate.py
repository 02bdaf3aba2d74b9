"""Validation of API payloads before anything is loaded.

A bad row is never loaded and never aborts its batch: it comes back as a `Rejected` with the reason
and the raw values, for the quarantine table. A payload whose shape is wrong as a whole (arrays of
different lengths, a null array) is rejected as one record.

Sample chart-data payload (get_tradingview_chart_data, resolution 1):
    {"status": "ok", "ticks": [1717200000000, 1717200060000],
     "open": [67501.5, 67510.0], "high": [67522.0, 67510.0], "low": [67490.0, 67510.0],
     "close": [67510.0, 67510.0], "volume": [12.43, 0.0], "cost": [839210.0, 0.0]}
(the second candle is a filler: no trade, O=H=L=C=previous close, volume 0 — a valid row, not a gap.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from ingest.deribit.calendar import from_ms as ms_to_datetime
from ingest.deribit.quirks import MINUTE_MS
from ingest.storage.tables import PERPETUALS_OHLCV, TableSpec

CHART_FIELDS = ("ticks", "open", "high", "low", "close", "volume", "cost")


@dataclass
class Rejected:
    """A value or a payload that is not loaded. `whole` marks an answer broken as a whole (not an
    object, arrays null or of different lengths, wrong types everywhere): that is a failed fetch, to
    be fetched again, never data to quarantine while its window is marked done."""

    dataset: str
    instrument_name: str | None
    reason: str
    payload: Any
    whole: bool = False

    @property
    def key(self) -> tuple:
        """Identity across attempts: the same instrument and the same invalid values."""
        return (self.instrument_name, orjson.dumps(self.payload, option=orjson.OPT_SORT_KEYS,
                                                   default=str))


class BrokenAnswer(Exception):
    """An answer that stayed unusable on every attempt (malformed as a whole, or invalid values that
    changed from one answer to the next): a failed fetch, retried on the next run — never data."""


@dataclass
class Validated:
    rows: list[tuple] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def broken_values(*values: Any) -> bool:
    """True when a value is not a finite JSON number: the exchange never sends NaN, Infinity or a
    number as a string, so such a value means a broken answer (fetched again), not data to quarantine."""
    return not all(finite_number(v) for v in values)


def json_safe(value: Any) -> Any:
    """jsonb has no NaN/Infinity: keep them visible in quarantine as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def out_of_range(spec: TableSpec, row: tuple) -> str | None:
    """Why a row would not fit its table's NUMERIC columns (see TableSpec.limits), or None."""
    for i, (column, bound) in spec.limits.items():
        x = row[i]
        if x is not None and is_number(x) and not abs(x) < bound:
            return f"{column} {x!r} out of range for {spec.columns[i][1]}"
    return None


def within_limits(spec: TableSpec, validated: Validated) -> Validated:
    """The same rows less those a column could not hold, which become Rejected (quarantined like any
    invalid value) instead of rolling back the whole load."""
    if not validated.rows:
        return validated
    keep = []
    rejected = list(validated.rejected)
    for row in validated.rows:
        reason = out_of_range(spec, row)
        if reason is None:
            keep.append(row)
        else:
            rejected.append(Rejected(spec.name, _row_instrument(spec, row), reason, json_safe(
                {c: (v.isoformat() if isinstance(v, datetime) else v)
                 for c, v in zip(spec.column_names, row, strict=True)})))
    if len(keep) == len(validated.rows):
        return validated
    return Validated(keep, rejected)


def _row_instrument(spec: TableSpec, row: tuple) -> str | None:
    for name in ("instrument_name", "index_name"):
        if name in spec.column_names:
            return row[spec.column_names.index(name)]
    return None


# candles: prices NUMERIC(18,8), volume and cost NUMERIC(24,8) (the three candle tables are alike)
PRICE_BOUND = PERPETUALS_OHLCV.limits[2][1]
AMOUNT_BOUND = PERPETUALS_OHLCV.limits[6][1]


def candle_problem(o: Any, h: Any, low: Any, c: Any, v: Any, cost: Any) -> str | None:
    """Why a candle is invalid, or None when it is fine."""
    for name, x in (("open", o), ("high", h), ("low", low), ("close", c)):
        if not is_number(x):
            return f"{name} is not a number: {type(x).__name__}"
        if not math.isfinite(x):
            return f"{name} is not finite"
        if x <= 0:
            return f"{name} is not positive"
        if x >= PRICE_BOUND:
            return f"{name} {x!r} out of range for numeric(18,8)"
    for name, x in (("volume", v), ("cost", cost)):
        if not finite_number(x):
            return f"{name} is not a finite number"
        if x < 0:
            return f"{name} is negative"
        if x >= AMOUNT_BOUND:
            return f"{name} {x!r} out of range for numeric(24,8)"
    if h < max(o, c):
        return "high below max(open, close)"
    if low > min(o, c):
        return "low above min(open, close)"
    return None


@dataclass
class CandleColumns:
    """Valid candles of one instrument, column by column (ticks in epoch ms, values as the API sent
    them). `rows()` gives the classic row tuples; `copy_text()` the COPY text the loader sends, built
    at C speed (numpy for timestamps, orjson for numbers)."""

    instrument: str
    ticks: list = field(default_factory=list)
    open: list = field(default_factory=list)
    high: list = field(default_factory=list)
    low: list = field(default_factory=list)
    close: list = field(default_factory=list)
    volume: list = field(default_factory=list)
    cost: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ticks)

    def _values(self) -> tuple[list, ...]:
        return (self.open, self.high, self.low, self.close, self.volume, self.cost)

    def take(self, idx) -> "CandleColumns":
        idx = list(idx)
        return CandleColumns(self.instrument, [self.ticks[i] for i in idx],
                             *([a[i] for i in idx] for a in self._values()))

    def traded(self) -> "CandleColumns":
        """Only candles with volume > 0 (options: a filler candle of an illiquid option says nothing)."""
        if all(v > 0 for v in self.volume):
            return self
        return self.take(i for i, v in enumerate(self.volume) if v > 0)

    def rows(self) -> list[tuple]:
        """(ts, instrument, open, high, low, close, volume, cost) tuples, ts a UTC datetime."""
        return list(zip(map(ms_to_datetime, self.ticks), repeat(self.instrument), *self._values(),
                        strict=False))

    def unique(self) -> "CandleColumns":
        """One candle per tick (the first), for a plain COPY into a table with a unique key."""
        t = self.ticks
        if all(a < b for a, b in zip(t, t[1:], strict=False)):
            return self
        seen: set = set()
        keep = []
        for i, x in enumerate(t):  # the first of each repeated tick
            if x not in seen:
                seen.add(x)
                keep.append(i)
        return self.take(keep)

    def copy_text(self) -> bytes:
        """COPY text rows in (ts, instrument_name, open, high, low, close, volume, cost) order."""
        if not self.ticks:
            return b""
        ts = np.datetime_as_string(np.array(self.ticks, dtype="datetime64[ms]"), unit="ms",
                                   timezone="UTC").tolist()
        name = copy_escape(self.instrument)
        cols = [_numbers_text(a) for a in self._values()]
        lines = map("\t".join, zip(ts, repeat(name), *cols, strict=False))
        return ("\n".join(lines) + "\n").encode()


def _numbers_text(values: list) -> list[str]:
    """Numbers as COPY text (shortest round-trip form, like repr), at C speed."""
    try:
        text = orjson.dumps(values)
    except TypeError:  # an integer beyond 64 bits
        return [repr(v) for v in values]
    return text[1:-1].decode().split(",") if values else []


def copy_escape(text: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


_NUMBER_TYPES = {int, float}
_EXACT_INT = 2**53


def _clean_numbers(a: list) -> np.ndarray | None:
    """The values as float64 if every one is a plain int/float exactly representable, else None."""
    types = set(map(type, a))
    if not types <= _NUMBER_TYPES:
        return None
    try:
        arr = np.array(a, dtype=np.float64)
    except (OverflowError, ValueError):
        return None
    if int in types and np.nanmax(np.abs(np.where(np.isfinite(arr), arr, 0.0)), initial=0.0) >= _EXACT_INT:
        return None
    return arr


def _vector_check(arrays: list[list], start_ms: int, end_ms: int, step_ms: int) -> np.ndarray | None:
    """Fast path: indexes of the in-window rows when every one of them is valid and ticks strictly
    increase; None when any row needs the row-by-row checks (which then decide, with reasons)."""
    ticks = arrays[0]
    if set(map(type, ticks)) - {int}:
        return None
    try:
        t = np.array(ticks, dtype=np.int64)
    except OverflowError:
        return None
    idx = np.flatnonzero((t >= start_ms) & (t <= end_ms))
    t = t[idx]
    if len(t) == 0:
        return idx
    if (t % step_ms).any() or (len(t) > 1 and not (np.diff(t) > 0).all()):
        return None
    values = []
    for a in arrays[1:]:
        arr = _clean_numbers(a)
        if arr is None:
            return None
        values.append(arr[idx])
    o, h, low, c, v, cost = values
    prices = np.stack((o, h, low, c))
    amounts = np.stack((v, cost))
    if not (np.isfinite(prices).all() and (prices > 0).all() and (prices < PRICE_BOUND).all()
            and np.isfinite(amounts).all() and (amounts >= 0).all() and (amounts < AMOUNT_BOUND).all()):
        return None
    if (h < np.maximum(o, c)).any() or (low > np.minimum(o, c)).any():
        return None
    return idx


def chart_candle_columns(dataset: str, instrument: str, result: Any, start_ms: int, end_ms: int,
                         step_ms: int = MINUTE_MS) -> tuple[CandleColumns, list[Rejected]]:
    """Like chart_candles (same checks, same reasons), but the valid candles come back as columns.
    A payload whose rows are all valid is checked with vectorised numpy; any doubt falls back to the
    row-by-row checks."""
    out = CandleColumns(instrument)
    rejected: list[Rejected] = []
    if not isinstance(result, dict):
        rejected.append(Rejected(dataset, instrument, "result is not an object", json_safe(result), whole=True))
        return out, rejected
    if result.get("status") == "no_data" and not result.get("ticks"):
        return out, rejected
    arrays = [result.get(f) for f in CHART_FIELDS]
    if any(not isinstance(a, list) for a in arrays):
        missing = [f for f, a in zip(CHART_FIELDS, arrays, strict=True) if not isinstance(a, list)]
        rejected.append(Rejected(dataset, instrument, f"arrays missing or null: {', '.join(missing)}",
                                 json_safe(result), whole=True))
        return out, rejected
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        rejected.append(Rejected(dataset, instrument, "arrays of different lengths", json_safe(result),
                                 whole=True))
        return out, rejected
    n = len(arrays[0])
    idx = _vector_check(arrays, start_ms, end_ms, step_ms)
    if idx is not None:
        k = len(idx)
        if k == n:
            cols = arrays
        elif k and int(idx[-1]) - int(idx[0]) + 1 == k:
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            cols = [a[lo:hi] for a in arrays]
        else:
            cols = [[a[i] for i in idx.tolist()] for a in arrays]
        return CandleColumns(instrument, *cols), rejected
    keep = []
    reject = rejected.append
    for i, (t, o, h, low, c, v, cost) in enumerate(zip(*arrays, strict=True)):
        if not isinstance(t, int) or isinstance(t, bool):
            reason = "tick is not an integer"
        elif t < start_ms or t > end_ms:
            continue  # outside the asked window (Deribit's inclusive lower bound): not an error
        elif t % step_ms:
            reason = "tick not on the resolution grid"
        else:
            reason = candle_problem(o, h, low, c, v, cost)
            if reason is None:
                keep.append(i)
                continue
        reject(Rejected(dataset, instrument, reason, json_safe(
            {"tick": t, "open": o, "high": h, "low": low, "close": c, "volume": v, "cost": cost}),
            whole=not isinstance(t, int) or broken_values(o, h, low, c, v, cost)))
    return CandleColumns(instrument, *([a[i] for i in keep] for a in arrays)), rejected


def chart_candles(dataset: str, instrument: str, result: Any, start_ms: int, end_ms: int,
                  step_ms: int = MINUTE_MS) -> Validated:
    """Rows (ts, instrument, open, high, low, close, volume, cost) from a chart-data result, keeping only
    ticks inside [start_ms, end_ms] on the resolution's grid; everything else is rejected."""
    columns, rejected = chart_candle_columns(dataset, instrument, result, start_ms, end_ms, step_ms)
    return Validated(columns.rows(), rejected)
