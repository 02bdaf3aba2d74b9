"""Run a backfill of one dataset (or all): plan, pump windows, refresh continuous aggregates, report."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ingest import datasets as registry
from ingest.backfill import checkpoints
from ingest.backfill import planning as ds
from ingest.backfill.engine import Engine, Window
from ingest.backfill.progress import Progress, Stats, summary
from ingest.deribit import calendar as cal
from ingest.deribit.client import DeribitClient
from ingest.storage import caggs
from ingest.storage.sqlfiles import query
from ingest.storage.validate import ms_to_datetime

log = logging.getLogger("ingest.backfill")

ALL = "all"


def backfill_names() -> tuple[str, ...]:
    """The datasets `ingest backfill` knows, in their registry order (the order of `all`)."""
    return tuple(d.name for d in registry.backfillable())


@dataclass
class PlanLine:
    dataset: str
    instrument: str
    first_ms: int
    last_ms: int
    windows: int = 0
    done: int = 0
    requests: int = 0  # the plan's estimate for the windows still to fetch


@dataclass
class Result:
    stats: Stats
    client_stats: Counter
    failed: list = field(default_factory=list)  # windows still 'failed' (this run or earlier ones)
    partial: list = field(default_factory=list)  # windows recorded 'partial' (this run or earlier ones)
    plan: list[PlanLine] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    analyzed: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def status(self) -> str:
        """'failed' (windows or instruments failed: run again), 'partial' (complete but for values
        quarantined after two answers showed them invalid), or 'ok'."""
        if self.failed or self.stats.windows_failed or self.stats.problems:
            return "failed"
        if self.stats.windows_partial or self.partial:
            return "partial"
        return "ok"


def instrument_kind(name: str) -> str:
    """'perpetual', 'future' or 'option'; ValueError (saying why) for a name Deribit would refuse."""
    parsed = cal.parse_instrument_name(name)
    return "perpetual" if parsed.is_perpetual else parsed.kind


def check_instruments(names, datasets) -> None:
    """Refuse malformed names, and names no requested dataset takes, before anything is fetched."""
    problems = []
    for name in names:
        try:
            kind = instrument_kind(name)
        except ValueError as exc:
            problems.append(f"{name!r}: {exc}")
            continue
        takes = set().union(*(registry.get(d).backfill.instrument_kinds for d in datasets))
        if kind not in takes:
            problems.append(f"{name!r} is a {kind}; {'/'.join(datasets)} takes "
                            f"{' or '.join(sorted(takes)) or 'no'} names")
    if problems:
        raise ValueError("bad --instrument: " + "; ".join(problems))


def server_now(client: DeribitClient) -> int:
    """The exchange's clock (the simulator's may be frozen in the past)."""
    return int(client.call("get_time"))


def _windows(dataset: str, ctx: ds.Context, conn: psycopg.Connection, options: dict, counter=None,
             probe: bool = True, progress: Progress | None = None) -> Iterator[Window]:
    def count(instrument: str, s: int, e: int, done: bool, requests: int = 1) -> None:
        if progress is not None:
            progress.add_planned(1)
            if done:  # a window a 'done' checkpoint contains
                progress.stats.windows_skipped += 1
        if counter is not None:
            counter(instrument, s, e, done, requests)

    yield from registry.get(dataset).backfill.plan(ctx, conn, count, probe=probe, options=options)


def backfill(dataset: str, client: DeribitClient, conn: psycopg.Connection, *, since_ms: int | None = None,
             until_ms: int | None = None, instruments: list[str] | tuple = (), sources=(), options: dict | None = None,
             restart: bool = False, dry_run: bool = False, workers: int | None = None, depth: int | None = None,
             refresh: bool = True, analyze: bool = True, progress_stream=None, tty: bool | None = None,
             echo: Callable[[str], None] = print) -> Result:
    """Backfill `dataset` (a registered dataset with a backfill, or all). `conn` must be autocommit
    (transactions are opened per window; the aggregate refresh needs autocommit). Afterwards the
    touched tables are ANALYZEd (`analyze`) and their continuous aggregates refreshed (`refresh`)."""
    if not conn.autocommit:
        raise ValueError("backfill needs an autocommit connection")
    known = backfill_names()
    names = tuple(d.name for d in registry.backfillable() if d.backfill.in_all) if dataset == ALL else (dataset,)
    for n in names:
        if n not in known:
            raise ValueError(f"unknown dataset {n!r}; one of {', '.join(known)} or all")
    options = dict(options or {})
    if sources:  # the index dataset's --source (kept as a keyword for callers of this API)
        options["sources"] = tuple(sources)
    check_instruments(instruments, names)
    now_ms = server_now(client)
    ctx = ds.Context(client, now_ms, since_ms, until_ms, list(instruments))
    stats = Stats()
    result = Result(stats, client.stats)
    if dry_run:
        return _dry_run(names, ctx, conn, options, client, result, echo)
    if restart:
        for n in names:
            for cp in registry.get(n).backfill.checkpoints:
                removed = checkpoints.restart(conn, cp, list(instruments) or None)
                log.info("--restart: forgot %d checkpoints of %s", removed, cp)
    progress = Progress(stats, stream=progress_stream, tty=tty)
    engine = Engine(conn, stats, progress, workers=workers, depth=depth, client=client)
    try:
        for n in names:
            progress.label = f"backfill {n}"
            engine.run(_windows(n, ctx, conn, options, progress=progress))
    finally:
        progress.update(force=True)
        progress.close()
    stats.problems.extend(ctx.problems)
    if analyze and engine.touched.ranges:
        result.analyzed = analyze_tables(conn, engine.touched.ranges)
    if refresh:
        # every range loaded and not yet refreshed, by this run or by an earlier one that was killed
        result.refreshed = caggs.refresh_pending(conn)
    cps = sorted({cp for n in names for cp in registry.get(n).backfill.checkpoints})
    result.failed = checkpoints.windows_in(conn, cps, "failed")
    result.partial = checkpoints.windows_in(conn, cps, "partial")
    result.text = summary(stats, client.stats, result.failed, len(result.partial))
    echo(result.text)
    return result


# ANALYZE samples 300 x the statistics target rows per chunk. The backfilled columns it covers (the key,
# ts, close) need no fine histograms; 10 (3,000 rows a chunk) instead of the default 100 makes the
# post-load ANALYZE ~6x cheaper (a year of candles on the embedded server: 0.65-0.9 s -> 0.1-0.14 s).
# Autovacuum on a real server re-analyzes later at its own target.
ANALYZE_STATISTICS_TARGET = 10


def analyze_tables(conn: psycopg.Connection, ranges: dict[str, list]) -> list[str]:
    """ANALYZE what a backfill loaded: the embedded server has no autovacuum, and the planner needs
    fresh statistics after a big load. Only the chunks overlapping the loaded range of each hypertable,
    and only the columns queries filter and join on (the unique key, and `close` for candles): the
    NUMERIC price and volume columns are most of ANALYZE's cost (2.5 s instead of 0.3 s for a year
    of candles on the embedded server) and no view filters on them."""
    done = []
    for table, (lo, hi) in sorted(ranges.items()):
        t = time.monotonic()
        chunks = [c for (c,) in conn.execute(query("backfill_touched_chunks"),
                                             {"table": table, "lo": lo, "hi": hi}).fetchall()]
        targets: list[sql.Composable] = [sql.SQL(c) for c in chunks] or [sql.Identifier(table)]
        columns = sql.SQL(", ").join(map(sql.Identifier, analyzed_columns(table)))
        with conn.transaction():
            # SET LOCAL: the embedded server's session state is shared by every client
            conn.execute(f"SET LOCAL default_statistics_target = {ANALYZE_STATISTICS_TARGET}")
            for target in targets:
                conn.execute(sql.SQL("ANALYZE {} ({})").format(target, columns))
        log.info("analyzed %s (%d chunk(s)) in %.1f s", table, len(chunks), time.monotonic() - t)
        done.append(table)
    return done


def analyzed_columns(table: str) -> tuple[str, ...]:
    spec = next(s for s in registry.data_tables() if s.name == table)
    return spec.key + (("close",) if "close" in spec.column_names else ())


def _dry_run(names, ctx, conn, options, client, result: Result, echo) -> Result:
    lines: dict[tuple[str, str], PlanLine] = {}
    for n in names:
        def counter(instrument, s, e, done, requests, n=n):
            key = (n, instrument)
            line = lines.get(key)
            if line is None:
                line = lines[key] = PlanLine(n, instrument, s, e)
            line.first_ms, line.last_ms = min(line.first_ms, s), max(line.last_ms, e)
            line.windows += 1
            line.done += bool(done)
            line.requests += 0 if done else requests
        for _ in _windows(n, ctx, conn, options, counter=counter, probe=False):
            pass
    result.plan = list(lines.values())
    rps = client.limiter.requests_per_s
    total = sum(p.requests for p in result.plan)
    out = [f"plan (dry run; server time {ms_to_datetime(ctx.now_ms):%Y-%m-%d %H:%M} UTC)",
           f"{'dataset':<11} {'instrument':<24} {'from':<17} {'to':<17} {'windows':>8} {'done':>6} "
           f"{'requests':>9}"]
    for p in result.plan:
        out.append(f"{p.dataset:<11} {p.instrument:<24} {ms_to_datetime(p.first_ms):%Y-%m-%d %H:%M} "
                   f"{ms_to_datetime(p.last_ms):%Y-%m-%d %H:%M} {p.windows:>8,} {p.done:>6,} "
                   f"{p.requests:>9,}")
    in_plan = {p.dataset for p in result.plan}
    backfills = [registry.get(n).backfill for n in names if n in in_plan]
    notes = [b.dry_run_note for b in backfills if b is not None and b.dry_run_note]
    out.append(f"{len(result.plan)} instrument series, {sum(p.windows for p in result.plan):,} windows, "
               f"{total:,} requests to send; at {rps:.0f} requests/s about {total / rps:,.0f} s"
               + (f" ({'; '.join(notes)})" if notes else ""))
    result.text = "\n".join(out)
    echo(result.text)
    return result
