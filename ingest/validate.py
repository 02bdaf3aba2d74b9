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
from datetime import datetime, timezone
from typing import Any

from ingest.deribit.quirks import MINUTE_MS

CHART_FIELDS = ("ticks", "open", "high", "low", "close", "volume", "cost")


@dataclass
class Rejected:
    dataset: str
    instrument_name: str | None
    reason: str
    payload: Any


@dataclass
class Validated:
    rows: list[tuple] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def json_safe(value: Any) -> Any:
    """jsonb has no NaN/Infinity: keep them visible in quarantine as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def candle_problem(o: Any, h: Any, low: Any, c: Any, v: Any, cost: Any) -> str | None:
    """Why a candle is invalid, or None when it is fine."""
    for name, x in (("open", o), ("high", h), ("low", low), ("close", c)):
        if not is_number(x):
            return f"{name} is not a number: {type(x).__name__}"
        if not math.isfinite(x):
            return f"{name} is not finite"
        if x <= 0:
            return f"{name} is not positive"
    for name, x in (("volume", v), ("cost", cost)):
        if not finite_number(x):
            return f"{name} is not a finite number"
        if x < 0:
            return f"{name} is negative"
    if h < max(o, c):
        return "high below max(open, close)"
    if low > min(o, c):
        return "low above min(open, close)"
    return None


def chart_candles(dataset: str, instrument: str, result: Any, start_ms: int, end_ms: int,
                  step_ms: int = MINUTE_MS) -> Validated:
    """Rows (ts, instrument, open, high, low, close, volume, cost) from a chart-data result, keeping only
    ticks inside [start_ms, end_ms] on the resolution's grid; everything else is rejected."""
    out = Validated()
    if not isinstance(result, dict):
        out.rejected.append(Rejected(dataset, instrument, "result is not an object", json_safe(result)))
        return out
    if result.get("status") == "no_data" and not result.get("ticks"):
        return out
    arrays = [result.get(f) for f in CHART_FIELDS]
    if any(not isinstance(a, list) for a in arrays):
        missing = [f for f, a in zip(CHART_FIELDS, arrays, strict=True) if not isinstance(a, list)]
        out.rejected.append(Rejected(dataset, instrument, f"arrays missing or null: {', '.join(missing)}",
                                     json_safe(result)))
        return out
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        out.rejected.append(Rejected(dataset, instrument, "arrays of different lengths", json_safe(result)))
        return out
    append, reject = out.rows.append, out.rejected.append
    for t, o, h, low, c, v, cost in zip(*arrays, strict=True):
        if not isinstance(t, int) or isinstance(t, bool):
            reason = "tick is not an integer"
        elif t < start_ms or t > end_ms:
            continue  # outside the asked window (Deribit's inclusive lower bound): not an error
        elif t % step_ms:
            reason = "tick not on the resolution grid"
        else:
            reason = candle_problem(o, h, low, c, v, cost)
            if reason is None:
                append((ms_to_datetime(t), instrument, o, h, low, c, v, cost))
                continue
        reject(Rejected(dataset, instrument, reason, json_safe(
            {"tick": t, "open": o, "high": h, "low": low, "close": c, "volume": v, "cost": cost})))
    return out
