"""The live jobs. Each is a plain function ``job(ctx, client, minute_ms) -> JobResult``:

* ``ctx`` is the shared Context (settings, connection factory, lease, spool, state, stop event);
* ``client`` a per-run CountingClient over the one rate-limited DeribitClient;
* ``minute_ms`` the start of the minute the run belongs to (its scheduled time floored).

HTTP calls never happen inside a database transaction: each job fetches, then opens a connection for a
short write. A failure of one instrument (an API error, or a database error about its rows) is recorded
and the others go on; a connection problem ends a run of re-fetchable data with 'error' and the next
run's catch-up fills the minutes. Rows the exchange cannot serve again later (datasets whose live job
spools: chain snapshots, the tickers' exchange greeks, the index now) go to the spool when the database does not
answer, and are loaded from there when it does (ingest/live/spool.py).

Outcomes (job_heartbeats.last_outcome): 'ok' only when every row the run had was stored; 'partial' when
some instrument failed, rows were quarantined or spooled; 'error' when the run stored (or spooled)
nothing although it had something to store, when it quarantined its whole input, or when rows were
lost (spool full). ``last_error`` says which.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ingest.datasets import candles as candles_mod
from ingest.deribit.calendar import to_ms
from ingest.deribit.client import DeribitError, RequestFailed
from ingest.deribit.quirks import MINUTE_MS
from ingest.live import monitoring
from ingest.live.writes import connection_problem, load_or_isolate, short_error
from ingest.storage.sqlfiles import query
from ingest.storage.tables import (
    FUTURES_OHLCV,
    OPTIONS_OHLCV,
    PERPETUALS_OHLCV,
    TableSpec,
)
from ingest.storage.validate import Validated

log = logging.getLogger(__name__)

API_ERRORS = (DeribitError, RequestFailed)
# an answer with invalid values is asked again (at most this many times in all) before its invalid
# values are taken as data: the exchange never sends NaN or strings for numbers, a fault in transit
# does, and a forward-only minute has no second chance later
FETCH_ATTEMPTS = 3

# per job thread: whether this run must hold a confirmed lease to write to the database
_run = threading.local()


@dataclass
class JobResult:
    rows: int = 0  # rows inserted or changed
    stored: int = 0  # valid rows the database holds after this run (inserted, changed or already equal)
    quarantined: int = 0
    spooled: int = 0  # rows kept in the spool (the database did not answer)
    lost: int = 0  # rows neither stored nor spooled (spool full or unwritable)
    expected: bool = False  # the run had something to store: storing nothing is an error
    failures: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def outcome(self) -> str:
        kept = self.stored + self.spooled
        if self.lost or (self.failures and not kept) or (self.expected and not kept):
            return "error"
        if self.failures or self.quarantined or self.spooled:
            return "partial"
        return "ok"

    @property
    def error(self) -> str | None:
        """What job_heartbeats.last_error says about a run that is not 'ok'."""
        parts = []
        if self.lost:
            parts.append(f"{self.lost} rows LOST (database unreachable and the spool refused them)")
        if self.expected and not (self.stored + self.spooled) and not self.lost:
            parts.append(f"stored nothing: all {self.quarantined} input rows quarantined" if self.quarantined
                         else "stored nothing")
        elif self.quarantined:
            parts.append(f"{self.quarantined} rows quarantined")
        if self.spooled:
            parts.append(f"database unreachable: {self.spooled} rows spooled")
        parts.extend(self.failures)
        return "; ".join(parts)[:500] if parts else None

    def fail(self, what: str, exc: BaseException | str) -> None:
        text = exc if isinstance(exc, str) else (str(exc) if isinstance(exc, API_ERRORS) else short_error(exc))
        self.failures.append(f"{what}: {text}")
        log.warning("%s: %s", what, text)

    def loaded(self, validated: Validated, changed: int, quarantined: int, offered: int | None = None) -> None:
        """Account for one committed load of `validated` (`offered` valid rows, default all)."""
        offered = len(validated.rows) if offered is None else offered
        self.rows += changed
        self.quarantined += quarantined
        # rows the load itself quarantined (out of a column's range, refused by the database)
        self.stored += max(0, offered - max(0, quarantined - len(validated.rejected)))



def last_closed_minute(now_ms: int) -> int:
    return now_ms - now_ms % MINUTE_MS - MINUTE_MS


def fetch_clean(fetch: Callable[[], Validated], attempts: int = FETCH_ATTEMPTS) -> Validated:
    """fetch() again while its answer has invalid values (at most `attempts` calls); the last answer."""
    v = fetch()
    for _ in range(attempts - 1):
        if not v.rejected:
            break
        v = fetch()
    return v


# --- writes that survive a database outage ---------------------------------------------------------

def may_write_db(ctx) -> bool:
    """A run under run_job(require_leader=True) writes to the database only with a confirmed lease and
    while the heartbeats reach it; holding over (database unreachable) it writes to the spool at once."""
    if not getattr(_run, "require_leader", False):
        return True
    return ctx.lease.is_leader and not ctx.lease.holding_over


def store_forward_only(ctx, dataset: str, spec: TableSpec, validated: Validated, minute_ms: int,
                       r: JobResult) -> None:
    """Write rows the exchange cannot serve again: into the database (rows it refuses quarantined, the
    others loaded), or, when it does not answer or we hold no confirmed lease, into the spool."""
    if not validated.rows and not validated.rejected:
        return
    if may_write_db(ctx):
        try:
            with ctx.connect() as conn:
                n, q = load_or_isolate(conn, spec, validated)
            r.loaded(validated, n, q)
            return
        except Exception as exc:
            if not connection_problem(exc):
                raise
            log.warning("%s: the database does not answer (%s): spooling %d rows", dataset,
                        short_error(exc), len(validated.rows))
    try:
        path = ctx.spool.put(dataset, spec, validated, minute_ms)
    except OSError as exc:
        log.error("%s: spool %s not writable (%s): %d rows LOST", dataset, ctx.spool.dir, exc,
                  len(validated.rows))
        path = None
    if path is None:
        r.lost += len(validated.rows)
    else:
        r.spooled += len(validated.rows)


def isolated(r: JobResult, what: str, fn: Callable[[], None]) -> None:
    """Run one instrument's part; its API errors and the database's refusals of its rows are recorded
    and the job goes on with the next one. A connection problem ends the run (nothing else would work)."""
    try:
        fn()
    except API_ERRORS as exc:
        r.fail(what, exc)
    except Exception as exc:
        if connection_problem(exc):
            raise
        r.fail(what, f"database error: {short_error(exc)}")


# --- candles of perpetuals and futures --------------------------------------------------------------

def candle_targets(ctx) -> list[tuple[str, bool, int | None, int | None]]:
    """(instrument, is_perpetual, expiry_ms, last stored candle ms) for the live candle job."""
    horizon_s = int(ctx.config.catchup_days * 86400)
    with ctx.connect() as conn:
        rows = conn.execute(query("live_candle_instruments"), {
            "currencies": list(ctx.config.currencies), "grace_hours": 6, "horizon_s": horizon_s}).fetchall()
    out = [(name, perp, to_ms(exp) if exp else None, to_ms(last) if last else None)
           for name, perp, exp, last in rows]
    if not any(perp for _, perp, _, _ in out):  # instruments not synced yet: the perpetuals at least
        out = [(f"{c}-PERPETUAL", True, None, None) for c in ctx.config.currencies] + out
    return out


def fetch_range(ctx, client, instrument: str, spec, start_ms: int, end_ms: int, r: JobResult) -> None:
    fetcher = ctx.fetcher(client)
    dataset = spec.name.replace("_ohlcv", "")
    for first, last in candles_mod.windows(start_ms, end_ms):
        if ctx.stop.is_set():
            return
        validated, _host = fetcher.fetch_validated(dataset, instrument, first, last)
        with ctx.connect() as conn:
            n, q = candles_mod.load(conn, spec, validated)
        # options keep only candles with trades (candles.load): the fillers are not offered
        offered = sum(1 for row in validated.rows if row[6] > 0) if spec is OPTIONS_OHLCV else None
        r.loaded(validated, n, q, offered)


def candle_catch_up(ctx, client, perpetual: bool) -> JobResult:
    """The last closed minute of every perpetual (perpetual=True) or active future, from the minute after
    its last stored candle (catch-up after downtime, capped at catchup_days; initial_lookback_min when
    none). Each instrument on its own: a failure (API, or the database refusing its rows) is recorded and
    the others go on."""
    r = JobResult()
    end = last_closed_minute(ctx.now_ms())
    lookback = ctx.config.initial_lookback_min * MINUTE_MS
    horizon = int(ctx.config.catchup_days * 86400_000)
    behind = 0
    for name, perp, expiry_ms, last_ms in candle_targets(ctx):
        if ctx.stop.is_set():
            break
        if perp != perpetual:
            continue
        stop = end if expiry_ms is None else min(end, expiry_ms - MINUTE_MS)
        start = last_ms + MINUTE_MS if last_ms is not None else max(end - lookback, end - horizon)
        if start > stop:
            continue
        r.expected = True  # a minute is due: storing nothing is an error
        behind += (stop - start) // MINUTE_MS
        spec = PERPETUALS_OHLCV if perp else FUTURES_OHLCV
        isolated(r, name, lambda name=name, spec=spec, start=start, stop=stop:
                 fetch_range(ctx, client, name, spec, start, stop, r))
    r.detail = f"catchup_minutes={behind}" if behind else ""
    return r


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: Callable  # run(ctx, client, minute_ms) -> JobResult
    schedule: dict  # APScheduler cron fields
    spool: bool = False  # forward-only: runs while the leader holds over, into the spool
    on_takeover: bool = False  # run at once when this process becomes the leader


def job_table() -> dict[str, JobSpec]:
    """Every live job: each dataset's (the registry, in dataset order), then the maintenance jobs."""
    from ingest import datasets
    from ingest.live import maintenance

    out = {d.name: JobSpec(d.name, d.live.job, d.live.schedule, d.live.spool, d.live.on_takeover)
           for d in datasets.live()}
    for spec in maintenance.JOBS:
        out[spec.name] = spec
    return out


def selected_jobs(config) -> list[JobSpec]:
    """The jobs this process runs (LiveConfig.jobs; None: all), in job_table() order."""
    table = job_table()
    return [spec for name, spec in table.items() if config.jobs is None or name in config.jobs]


def run_job(ctx, name: str, minute_ms: int | None = None, *, require_leader: bool = True) -> JobResult | None:
    """Run one job with its heartbeat and its one log line; never raises (returns None if skipped).

    With require_leader, a job runs only with a confirmed lease, except the forward-only jobs, which
    also run while the leader holds over (database unreachable): into the spool, without heartbeats."""
    from datetime import datetime, timezone

    from ingest.live import heartbeat
    from ingest.live.context import CountingClient

    holding_over = False
    if require_leader and (ctx.lease.holding_over or not ctx.lease.is_leader):
        # the database does not answer our heartbeats: only what cannot be fetched later, into the spool
        if not (job_table()[name].spool and ctx.lease.may_collect):
            return None
        holding_over = True
    if minute_ms is None:
        now = ctx.now_ms()
        minute_ms = now - now % MINUTE_MS
    client = CountingClient(ctx.client)
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    if not holding_over:
        heartbeat.started(ctx.connect, name, ctx.holder)
    result: JobResult | None = None
    error = None
    _run.require_leader = require_leader
    try:
        result = job_table()[name].run(ctx, client, minute_ms)
        outcome = result.outcome
        error = result.error
    except Exception as exc:  # database down, a bug: logged, recorded, never fatal
        outcome, error = "error", short_error(exc)
        result = JobResult()
    finally:
        _run.require_leader = False
    duration_ms = int((time.monotonic() - t0) * 1000)
    log.log(logging.ERROR if outcome == "error" else logging.INFO,
            "job=%s rows=%d requests=%d duration_ms=%d outcome=%s%s%s%s%s", name, result.rows,
            client.requests, duration_ms, outcome,
            f" quarantined={result.quarantined}" if result.quarantined else "",
            f" spooled={result.spooled}" if result.spooled else "",
            f" {result.detail}" if result.detail else "", f" error={error}" if error else "")
    if not holding_over:
        heartbeat.finished(ctx.connect, name, ctx.holder, started_at=started, outcome=outcome,
                           rows=result.rows, requests=client.requests, duration_ms=duration_ms, error=error)
    monitoring.job_finished(ctx, name, result, outcome, error, client.requests, duration_ms / 1000, holding_over)
    result.outcome_override = outcome  # type: ignore[attr-defined]
    return result


def flush_spool(ctx, budget_s: float | None = None):
    """Load spooled rows (oldest first) for at most budget_s; never raises. A process holding over does
    not flush: it first needs a heartbeat to reach the database and settle the lease. Returns the
    FlushResult, or None when there was nothing to do or the database did not answer."""
    if ctx.lease.holding_over or not ctx.spool.files():
        return None
    try:
        res = ctx.spool.flush(ctx.connect, budget_s=budget_s, stop=ctx.stop)
    except Exception as exc:
        log.warning("spool flush: the database does not answer (%s); %d files wait",
                    short_error(exc), len(ctx.spool.files()))
        return None
    monitoring.spool_loaded(ctx, res)
    if res.files or res.errors or res.refused:
        log.log(logging.ERROR if res.errors else logging.INFO,
                "job=spool_flush files=%d rows=%d quarantined=%d left=%d duration_ms=%d%s%s", res.files,
                res.rows, res.quarantined, res.left, int(res.seconds * 1000),
                f" refused={res.refused}" if res.refused else "",
                f" errors={'; '.join(res.errors)[:300]}" if res.errors else "")
    return res
