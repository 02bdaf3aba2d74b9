"""Progress of a backfill: a one-line bar on a terminal (rows/s, ETA), plain log lines otherwise, and
the run's counters for the closing summary."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("ingest.backfill")

CANDLE_TABLES = ("perpetuals_ohlcv", "futures_ohlcv", "options_ohlcv")


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    rows: Counter = field(default_factory=Counter)  # rows inserted or changed, per table
    fetched: Counter = field(default_factory=Counter)  # valid rows received, per table
    windows_done: int = 0
    windows_skipped: int = 0
    windows_failed: int = 0
    windows_partial: int = 0  # loaded, less values quarantined after they stayed invalid
    quarantined: int = 0
    failures: list = field(default_factory=list)  # (dataset, instrument, start_ms, end_ms, error)
    partial: list = field(default_factory=list)  # (dataset, instrument, start_ms, end_ms, rejected, reasons)
    problems: list = field(default_factory=list)  # what failed outside a window (e.g. an unknown instrument)
    max_in_flight: int = 0  # most windows fetched ahead at once (follows the round trip: engine.Concurrency)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def candles(self) -> int:
        return sum(self.fetched[t] for t in CANDLE_TABLES)

    @property
    def total_rows(self) -> int:
        return sum(self.fetched.values())


class Progress:
    """Call `update()` after each window; `planned` may grow while windows are discovered."""

    def __init__(self, stats: Stats, stream=None, tty: bool | None = None, interval: float | None = None,
                 label: str = "backfill"):
        self.stats = stats
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.planned = 0
        self.label = label
        self._last = 0.0
        self._lock = threading.Lock()
        self._drawn = False

    def add_planned(self, n: int = 1) -> None:
        self.planned += n

    def line(self) -> str:
        s = self.stats
        done = s.windows_done + s.windows_skipped + s.windows_failed
        elapsed = s.elapsed
        rate = s.total_rows / elapsed if elapsed > 0 else 0.0
        fetched_windows = s.windows_done + s.windows_failed
        remaining = max(self.planned - done, 0)
        eta = (elapsed / fetched_windows * remaining) if fetched_windows else 0.0
        frac = done / self.planned if self.planned else 0.0
        return (f"{self.label}: {done}/{self.planned} windows ({frac:5.1%}), {s.total_rows:,} rows, "
                f"{rate:,.0f} rows/s, {s.quarantined} quarantined, {s.windows_partial} partial, "
                f"{s.windows_failed} failed, "
                f"elapsed {_duration(elapsed)}, ETA {_duration(eta)}")

    def bar(self) -> str:
        s = self.stats
        done = s.windows_done + s.windows_skipped + s.windows_failed
        frac = min(done / self.planned, 1.0) if self.planned else 0.0
        width = 24
        filled = int(frac * width)
        return f"\r[{'#' * filled}{'.' * (width - filled)}] {self.line()}\x1b[K"

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self.interval:
                return
            self._last = now
            if self.tty:
                self.stream.write(self.bar())
                self.stream.flush()
                self._drawn = True
            else:
                log.info(self.line())

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write(self.bar() + "\n")
            self.stream.flush()


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def summary(stats: Stats, client_stats: dict, failed: list[tuple] | None = None, partial_windows: int = 0) -> str:
    """The closing summary: rows per table, requests, retries, quarantined, failed windows, speed."""
    elapsed = stats.elapsed
    lines = ["backfill summary"]
    tables = sorted(set(stats.rows) | set(stats.fetched))
    for t in tables:
        lines.append(f"  {t:<22} {stats.fetched[t]:>12,} rows received, "
                     f"{stats.rows[t]:>12,} inserted or changed")
    if not tables:
        lines.append("  (no rows)")
    lines.append(f"  windows                {stats.windows_done:,} loaded ({stats.windows_partial:,} partial), "
                 f"{stats.windows_skipped:,} skipped (already done), {stats.windows_failed:,} failed")
    lines.append(f"  requests               {client_stats.get('requests', 0):,} "
                 f"(retries {client_stats.get('retries', 0):,}, "
                 f"rate-limited {client_stats.get('rate_limited', 0):,})")
    lines.append(f"  quarantined rows       {stats.quarantined:,}")
    lines.append(f"  elapsed                {_duration(elapsed)} ({elapsed:.1f} s)")
    rate = stats.candles / elapsed if elapsed > 0 else 0.0
    lines.append(f"  candles/s              {rate:,.0f}")
    for dataset, name, start, end, n, reasons in stats.partial:
        lines.append(f"  PARTIAL {dataset} {name} {_when(start)} .. {_when(end)}: {n} value(s) quarantined "
                     f"(invalid in two answers): {reasons}")
    earlier = partial_windows - len(stats.partial)
    if earlier > 0:
        lines.append(f"  PARTIAL {earlier:,} window(s) recorded by earlier runs (quarantined values; "
                     "see backfill_checkpoints, status 'partial')")
    for problem in stats.problems:
        lines.append(f"  FAILED {problem}")
    for f in failed or []:
        dataset, name, start, end, attempts, error = f
        lines.append(f"  FAILED {dataset} {name} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} "
                     f"(attempts {attempts}): {error}")
    return "\n".join(lines)
