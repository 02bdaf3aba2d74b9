"""What every dataset's backfill plan uses: the run's Context (the exchange, its clock, the requested
range and instruments, cached listings, probes), fixed window grids and the candle windows. Each plan
(a dataset module's `plan`) is a lazy iterator of Windows (instruments × windows), skipping windows a
'done' checkpoint contains; nothing whole-history is held in memory.

Windows sit on a fixed grid (5,000 minutes for candles, 744 hours for funding, one day for trades,
counted from the epoch), clipped to the requested range, so that runs with a different "now" or
--since find the same windows and their checkpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.engine import Fetched, Part, Window, fetch_checked
from ingest.datasets.candles import CandleFetcher
from ingest.deribit import calendar as cal
from ingest.deribit.client import DeribitClient, DeribitError, RequestFailed
from ingest.deribit.quirks import (
    CURRENCIES,
    MAX_CANDLES_PER_CALL,
    MINUTE_MS,
)
from ingest.storage.tables import (
    OPTIONS_OHLCV,
    TableSpec,
)
from ingest.storage.validate import BrokenAnswer, Rejected, Validated, json_safe

log = logging.getLogger("ingest.backfill")

# probes load nothing: a pseudo-table for their one-row answers (no NUMERIC column, nothing to bound)
PROBE = TableSpec("probe", (("first_tick", "bigint"),), ("first_tick",), hypertable=False)
PROBE_ERRORS = (RequestFailed, DeribitError, BrokenAnswer)

CANDLE_GRID_MS = MAX_CANDLES_PER_CALL * MINUTE_MS
# Deribit's history does not reach before this: lower bound of every backwards paging
EARLIEST_MS = cal.to_ms(datetime(2018, 1, 1, tzinfo=timezone.utc))
@dataclass
class Target:
    """An instrument to backfill and its life [start_ms, end_ms] (before clipping to --since/--until)."""

    name: str
    start_ms: int
    end_ms: int
    source: str = "exchange"  # exchange | calendar | given
    item: dict | None = None


@dataclass
class Context:
    client: DeribitClient
    now_ms: int
    since_ms: int | None = None
    until_ms: int | None = None
    instruments: list[str] = field(default_factory=list)
    fetcher: CandleFetcher | None = None
    # what failed outside a window (an instrument the exchange does not know, a probe that kept
    # failing): reported in the summary, and the run's exit status is not 0
    problems: list[str] = field(default_factory=list)
    _listing: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.fetcher is None:
            self.fetcher = CandleFetcher(self.client)

    @property
    def last_minute_ms(self) -> int:
        """The last complete minute: min(--until, now - 1 minute) floored to the minute."""
        hi = self.now_ms - MINUTE_MS
        if self.until_ms is not None:
            hi = min(hi, self.until_ms)
        return hi - hi % MINUTE_MS

    def clip(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        lo = start_ms if self.since_ms is None else max(start_ms, self.since_ms)
        return lo, min(end_ms, self.last_minute_ms)

    def currencies(self) -> tuple[str, ...]:
        if self.instruments:
            return tuple(dict.fromkeys(cal.base_currency_of(n) for n in self.instruments))
        return CURRENCIES

    def listing(self, currency: str, kind: str, expired: bool) -> list[dict]:
        """get_instruments, cached for the run (it has its own ~1 request/s limit)."""
        key = (currency, kind, expired)
        if key not in self._listing:
            result = self.client.call("get_instruments",
                                      {"currency": currency, "kind": kind, "expired": expired})
            items = result if isinstance(result, list) else []
            self._listing[key] = [i for i in items if isinstance(i, dict)]
        return self._listing[key]

    def listed(self, kind: str, expired_too: bool = True) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for cur in self.currencies():
            for expired in ((False, True) if expired_too else (False,)):
                for item in self.listing(cur, kind, expired):
                    name = item.get("instrument_name")
                    if isinstance(name, str):
                        out.setdefault(name, item)
        return out

    def first_candle_ms(self, name: str) -> int | None:
        """Probe: the first daily candle of an instrument (www, else the history host); None when
        neither host knows it, or it never traded. Raises (RequestFailed, DeribitError, BrokenAnswer)
        when the exchange's answers cannot decide: a broken answer never means "not listed"."""
        params = {"instrument_name": name, "start_timestamp": EARLIEST_MS,
                  "end_timestamp": self.now_ms, "resolution": "1D"}
        for host in ("www", "history"):
            try:
                result = fetch_checked(partial(_probe_answer, self.client, name, params, host)) \
                    .parts[0].validated.rows
            except DeribitError as exc:
                if exc.instrument_not_found:
                    continue
                raise
            if result:
                if host == "history":
                    self.fetcher.prefer_history(name)  # archived: chart data lives on the history host
                return result[0][0]
            return None
        return None

    def problem(self, name: str, what: str) -> None:
        log.warning("%s: %s", name, what)
        self.problems.append(f"{name}: {what}")


def _probe_answer(client: DeribitClient, name: str, params: dict, host: str) -> Fetched:
    """A probe's answer as a Fetched whose one row is (first tick,), or no row for `no_data`; an answer
    without a usable ticks array is rejected as a whole (so that fetch_checked asks again)."""
    result = client.call("get_tradingview_chart_data", params, host=host)
    validated = Validated()
    ticks = result.get("ticks") if isinstance(result, dict) else None
    if isinstance(result, dict) and result.get("status") == "no_data" and not ticks:
        pass
    elif not isinstance(ticks, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ticks):
        validated.rejected.append(Rejected("probe", name, "chart data without a list of integer ticks",
                                           json_safe(result), whole=True))
    elif ticks:
        validated.rows.append((int(min(ticks)),))
    return Fetched([Part(PROBE, validated)])


def grid_windows(start_ms: int, end_ms: int, width_ms: int, step_ms: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, grid_start) inclusive windows on a fixed grid of `width_ms`, clipped to the range."""
    t = -(-start_ms // step_ms) * step_ms
    last = end_ms - end_ms % step_ms
    while t <= last:
        g = t - t % width_ms
        e = min(g + width_ms - step_ms, last)
        yield t, e, g
        t = e + step_ms


def ms_of(value) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


# --------------------------------------------------------------------------- candles


def _candle_fetch(ctx: Context, dataset: str, spec: TableSpec, name: str, start: int, end: int):
    def fetch() -> Fetched:
        columns, rejected, _host = ctx.fetcher.fetch_columns(dataset, name, start, end)
        if spec is OPTIONS_OHLCV:
            # options: only candles with trades (a filler candle of an illiquid option says nothing)
            columns = columns.traded()
        part = Part(spec, Validated([], rejected), (name, start, end), columns=columns)
        part.prepare()  # COPY text formatted here, in the fetch thread, not in the loading one
        return Fetched([part], empty=not len(columns) and not rejected)
    return fetch


def target_counter(count):
    """A plan's count(instrument, start, end, done) as candle_windows calls it (with a Target)."""
    def counter(target, s, e, done):
        count(target.name, s, e, done)
    return counter


def candle_windows(ctx: Context, dataset: str, spec: TableSpec, targets: Iterator[Target], done: DoneIndex,
                   counter=None) -> Iterator[Window]:
    for t in targets:
        lo, hi = ctx.clip(t.start_ms, t.end_ms)
        for s, e, g in grid_windows(lo, hi, CANDLE_GRID_MS, MINUTE_MS):
            if counter is not None:
                counter(t, s, e, done.contains(t.name, s, e, g) is not None)
            if done.contains(t.name, s, e, g) is not None:
                continue
            yield Window(dataset, t.name, s, e, _candle_fetch(ctx, dataset, spec, t.name, s, e))


# --------------------------------------------------------------------------- funding and index


