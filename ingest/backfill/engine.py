"""The window pump: fetches run ahead in a small thread pool (HTTP only, no database), the calling
thread loads each window and its checkpoint in one short transaction, in plan order.

* at most `depth` windows are in flight, so memory stays flat however long the range; by default the
  depth follows the rate budget and the measured round trip (`Concurrency`), so that enough requests
  are under way to keep the rate limiter busy at any distance from the exchange;
* an answer with anything invalid in it is fetched again (`fetch_checked`): a broken answer is a
  failed fetch, not data. Only values that come back invalid, identically, on a second answer are
  quarantined, and their window is recorded as 'partial';
* a window whose fetch keeps failing (RequestFailed after the client's retries, an API error, or an
  answer broken on every attempt) is recorded as 'failed' and the rest continues; the next run
  retries it. A database error while loading one window fails that window only;
* every load records its time range for the aggregate refresh (ingest/storage/caggs.py) in its transaction;
* no transaction is ever open across an HTTP call (the embedded server serialises transactions).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
from psycopg import sql

from ingest.backfill import checkpoints
from ingest.backfill.progress import Progress, Stats
from ingest.config import error_line
from ingest.deribit.client import DeribitError, RequestFailed
from ingest.storage import caggs, quarantine
from ingest.storage.load import copy_into, copy_upsert
from ingest.storage.sqlfiles import query
from ingest.storage.tables import TableSpec
from ingest.storage.validate import BrokenAnswer, Validated, ms_to_datetime, within_limits

log = logging.getLogger("ingest.backfill")


class Columns(Protocol):
    """Rows held as columns and sent as COPY text (validate.CandleColumns; trades.CopyText): their
    count, their ticks in epoch ms, one row per key, the COPY text."""

    ticks: list

    def __len__(self) -> int: ...

    def unique(self) -> "Columns": ...

    def copy_text(self) -> bytes: ...


@dataclass
class Part:
    """Validated rows for one table. `window` = (instrument, start_ms, end_ms) allows the fast path:
    COPY straight into the table when that window of that instrument holds no row yet; `window_query`
    names the sql/queries file that tells (parameters instrument, start, end; {table}): by default one
    instrument's rows, for a part of many instruments (a day of a currency's trades) its own test.

    Candles come as `columns` (validated.rows stays empty, validated.rejected holds the rejects) and
    are sent as COPY text formatted once by `prepare()`, in the fetch thread."""

    spec: TableSpec
    validated: Validated
    window: tuple[str, int, int] | None = None
    columns: Columns | None = None
    text: bytes | None = None
    text_rows: int = 0  # rows in `text` (one per key)
    window_query: str = "backfill_window_has_rows"

    def prepare(self) -> None:
        if self.columns is not None and self.text is None:
            unique = self.columns.unique()
            self.text, self.text_rows = unique.copy_text(), len(unique)

    @property
    def count(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.validated.rows)

    def check_limits(self) -> None:
        """Rows a column could not hold become rejects (candle columns are checked while validated)."""
        if self.columns is None:
            self.validated = within_limits(self.spec, self.validated)

    def ts_range(self) -> tuple | None:
        if self.columns is not None:
            ticks = self.columns.ticks
            return (ms_to_datetime(min(ticks)), ms_to_datetime(max(ticks))) if ticks else None
        rows = self.validated.rows
        return (min(r[0] for r in rows), max(r[0] for r in rows)) if rows else None


@dataclass
class Fetched:
    parts: list[Part] = field(default_factory=list)
    empty: bool = False  # the API answered with nothing at all
    partial: bool = False  # values stayed invalid across answers: loaded less those, quarantined

    @property
    def rejected(self) -> list:
        return [r for p in self.parts for r in p.validated.rejected]


# An answer with invalid content is fetched up to this many times, pausing between attempts.
PAYLOAD_ATTEMPTS = 5
PAYLOAD_PAUSES_S = (0.2, 0.5, 1.0)


def fetch_checked(fetch: Callable[[], "Fetched"], attempts: int = PAYLOAD_ATTEMPTS,
                  pauses: tuple[float, ...] = PAYLOAD_PAUSES_S) -> "Fetched":
    """Fetch until an answer is clean, or until its invalid values repeat exactly (then they are the
    exchange's data, not a transmission accident: the result is marked partial and its rejects are
    quarantined). Raises BrokenAnswer when every attempt was broken as a whole, or its invalid values
    kept changing: the window is then failed and fetched again by the next run."""
    previous: set | None = None
    first = None
    for attempt in range(attempts):
        fetched = fetch()
        for part in fetched.parts:
            part.check_limits()
        rejected = fetched.rejected
        if not rejected:
            return fetched
        first = next((r for r in rejected if r.whole), rejected[0])
        keys = None if any(r.whole for r in rejected) else {r.key for r in rejected}
        if keys is not None and previous is not None and keys <= previous:
            fetched.partial = True
            return fetched
        previous = keys
        if attempt + 1 < attempts:
            time.sleep(pauses[min(attempt, len(pauses) - 1)])
    raise BrokenAnswer(f"answer still invalid after {attempts} attempts ({first.reason})")


@dataclass
class Window:
    dataset: str
    instrument: str
    start_ms: int
    end_ms: int
    fetch: Callable[[], Fetched]
    group: str | None = None  # windows of a group stop after one comes back empty (if stop_on_empty)
    stop_on_empty: bool = False
    checkpoint: bool = True


@dataclass
class Touched:
    """The time range loaded per table, for the continuous-aggregate refresh."""

    ranges: dict[str, list] = field(default_factory=dict)

    def add(self, table: str, rows: list) -> None:
        if rows:
            self.add_range(table, (min(r[0] for r in rows), max(r[0] for r in rows)))

    def add_range(self, table: str, lo_hi: Sequence | None) -> None:
        if lo_hi is None:
            return
        lo, hi = lo_hi
        cur = self.ranges.get(table)
        self.ranges[table] = [min(cur[0], lo), max(cur[1], hi)] if cur else [lo, hi]


def _dedupe(rows: list) -> list:
    """One row per (ts, name) — Deribit's inclusive bounds or a faulty payload may repeat one."""
    seen = set()
    out = []
    for r in rows:
        k = (r[0], r[1])
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def empty_windows(conn: psycopg.Connection, parts: list[Part]) -> set[int]:
    """The ids of the parts whose window holds no row yet: window_is_empty for many parts in one
    pipeline (one round trip instead of one per window)."""
    if not parts:
        return set()
    with conn.pipeline():
        cursors = [conn.execute(sql.SQL(query(p.window_query)).format(
            table=sql.Identifier(p.spec.name)),
            {"instrument": p.window[0], "start": ms_to_datetime(p.window[1]),
             "end": ms_to_datetime(p.window[2])}) for p in parts]
    return {id(p) for p, cur in zip(parts, cursors, strict=True) if not cur.fetchone()[0]}


def copy_rows(conn: psycopg.Connection, spec: TableSpec, rows: list, text: Sequence[bytes] = ()) -> int:
    """Plain COPY into the table (the caller checked that none of these keys exists); `text` chunks
    are pre-formatted rows (see Part.prepare)."""
    copy_into(conn, spec, rows, text)
    return len(rows)


class Concurrency:
    """How many windows to have in flight: Little's law, requests/s allowed x round-trip time, with
    headroom for the exchange's own time to build an answer and for jitter, bounded (memory: each
    window in flight holds at most one answer). Until a round trip has been measured: the floor.

    At 20 requests/s: 0 ms away -> the floor (8); 300 ms round trip -> 10; 600 ms -> 17."""

    FLOOR = 8
    CEILING = 32
    HEADROOM = 1.25
    SPARE = 2

    def __init__(self, client=None, fixed: int | None = None):
        self.client = client
        self.fixed = fixed

    def depth(self) -> int:
        if self.fixed is not None:
            return self.fixed
        rtt = getattr(self.client, "round_trip_s", None)
        rate = getattr(getattr(self.client, "limiter", None), "requests_per_s", None)
        if not rtt or not rate:
            return self.FLOOR
        want = math.ceil(rate * rtt * self.HEADROOM) + self.SPARE
        return max(self.FLOOR, min(self.CEILING, want))

    @property
    def threads(self) -> int:
        return self.fixed if self.fixed is not None else self.CEILING


class Engine:
    def __init__(self, conn: psycopg.Connection, stats: Stats, progress: Progress | None = None,
                 workers: int | None = None, depth: int | None = None, fast_path: bool = True,
                 batch_rows: int = 50_000, client=None):
        """`workers`/`depth` fix the fetch threads and the windows in flight; left None, both follow
        the client's rate budget and measured round trip (Concurrency)."""
        self.conn = conn
        self.stats = stats
        self.progress = progress
        fixed = None if workers is None and depth is None else max(1, depth or 2 * (workers or 4))
        self.concurrency = Concurrency(client, fixed)
        self.workers = max(1, workers) if workers is not None else self.concurrency.threads
        self.fast_path = fast_path
        self.batch_rows = batch_rows
        self.touched = Touched()
        self._stopped: set[str] = set()

    def _next(self, it: Iterator[Window]) -> Window | None:
        for w in it:
            if w.group is not None and w.group in self._stopped:
                continue
            return w
        return None

    def run(self, windows: Iterable[Window]) -> None:
        it = iter(windows)
        pending: deque = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as pool:
            peeked: list[Window] = []

            def fill() -> None:
                # windows that stop their group when empty (backwards paging) run at most 2 ahead,
                # so little is fetched past the start of a history
                while len(pending) < self.concurrency.depth():
                    self.stats.max_in_flight = max(self.stats.max_in_flight, len(pending) + 1)
                    w = peeked.pop() if peeked else self._next(it)
                    if w is None:
                        return
                    if w.group is not None and w.group in self._stopped:
                        continue
                    if w.stop_on_empty and sum(1 for p, _ in pending if p.stop_on_empty) >= 2:
                        peeked.append(w)
                        return
                    pending.append((w, pool.submit(fetch_checked, w.fetch)))

            try:
                fill()
                while pending:
                    # the oldest window (waiting for it), then any later ones already fetched, up to
                    # batch_rows: one transaction loads them all with their checkpoints
                    batch: list = []
                    rows = 0
                    while pending and (not batch or (pending[0][1].done() and rows < self.batch_rows)):
                        w, future = pending.popleft()
                        try:
                            fetched = future.result()
                        except (RequestFailed, DeribitError, BrokenAnswer) as exc:
                            self._failed(w, str(exc))
                            continue
                        if fetched.empty and w.stop_on_empty and w.group is not None:
                            self._stopped.add(w.group)
                        batch.append((w, fetched))
                        rows += sum(p.count for p in fetched.parts)
                        fill()
                    if batch:
                        self._load(batch)
                    if self.progress:
                        self.progress.update()
                    fill()
            finally:
                for _, future in pending:
                    future.cancel()

    def _failed(self, w: Window, error: str) -> None:
        error = " ".join(error.split())
        log.warning("window failed: %s %s [%d, %d]: %s", w.dataset, w.instrument, w.start_ms, w.end_ms, error)
        self.stats.windows_failed += 1
        self.stats.failures.append((w.dataset, w.instrument, w.start_ms, w.end_ms, error))
        if w.checkpoint:
            checkpoints.mark_failed(self.conn, w.dataset, w.instrument, w.start_ms, w.end_ms, error)

    def _load(self, batch: list[tuple[Window, Fetched]]) -> None:
        """All windows of the batch in one transaction; if the database refuses it (a value no check
        foresaw, a constraint), each window alone, so that one window's data cannot stop the others."""
        try:
            self._load_transaction(batch)
        except psycopg.OperationalError:
            raise  # the database is away: stop; the next run resumes from the checkpoints
        except psycopg.DatabaseError as exc:
            if len(batch) > 1:
                log.warning("loading %d windows failed (%s); loading them one by one", len(batch),
                            error_line(exc))
                for one in batch:
                    self._load([one])
                return
            w, _ = batch[0]
            self._failed(w, f"database refused the window: {error_line(exc)}")

    def _load_transaction(self, batch: list[tuple[Window, Fetched]]) -> None:
        # per table: rows that can be COPYed straight in (their window held nothing) and rows that
        # need the staging upsert; one COPY of each kind per table per transaction
        fast: dict[str, _Load] = {}
        slow: dict[str, _Load] = {}
        done = []
        touched = Touched()
        rows_by_table: Counter = Counter()
        fetched_by_table: Counter = Counter()
        quarantined = partial = 0
        with self.conn.transaction():
            loadable = [p for _, fetched in batch for p in fetched.parts if p.count]
            for part in loadable:
                part.prepare()
            direct = empty_windows(self.conn, [p for p in loadable if p.window is not None]) \
                if self.fast_path else set()
            for w, fetched in batch:
                loaded_total = 0
                for part in fetched.parts:
                    n = part.count
                    if n:
                        load = (fast if id(part) in direct else slow).setdefault(part.spec.name,
                                                                                 _Load(part.spec))
                        load.add(part)
                    fetched_by_table[part.spec.name] += n
                    quarantined += quarantine.save(self.conn, part.validated.rejected)
                    loaded_total += n
                    touched.add_range(part.spec.name, part.ts_range())
                if fetched.partial:
                    partial += 1
                    reasons = sorted({r.reason for r in fetched.rejected})
                    self.stats.partial.append((w.dataset, w.instrument, w.start_ms, w.end_ms,
                                               len(fetched.rejected), "; ".join(reasons)[:500]))
                if w.checkpoint:
                    done.append((w.dataset, w.instrument, w.start_ms, w.end_ms, loaded_total,
                                 "partial" if fetched.partial else "done",
                                 "; ".join(sorted({r.reason for r in fetched.rejected}))[:2000] or None))
            checkpoints.mark_done_many(self.conn, done)
            for load in fast.values():
                copy_rows(self.conn, load.spec, _dedupe(load.rows), load.text)
                rows_by_table[load.spec.name] += load.count + len(_dedupe(load.rows))
            for load in slow.values():
                rows_by_table[load.spec.name] += copy_upsert(self.conn, load.spec, load.rows, text=load.text)
            for table, (lo, hi) in touched.ranges.items():
                caggs.record(self.conn, table, lo, hi)
        # counted once committed (a batch retried window by window is not counted twice)
        self.stats.rows.update(rows_by_table)
        self.stats.fetched.update(fetched_by_table)
        self.stats.quarantined += quarantined
        self.stats.windows_partial += partial
        for table, lo_hi in touched.ranges.items():
            self.touched.add_range(table, lo_hi)
        self.stats.windows_done += len(batch)


@dataclass
class _Load:
    """What one COPY of a table carries: pre-formatted text chunks (candles) and/or row tuples."""

    spec: TableSpec
    rows: list = field(default_factory=list)
    text: list = field(default_factory=list)
    count: int = 0  # rows in `text`

    def add(self, part: Part) -> None:
        if part.text is not None:
            self.text.append(part.text)
            self.count += part.text_rows
        else:
            self.rows.extend(part.validated.rows)
