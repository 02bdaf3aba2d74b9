"""The live jobs. Each is a plain function ``job(ctx, client, minute_ms) -> JobResult``:

* ``ctx`` is the shared Context (settings, connection factory, state, stop event);
* ``client`` a per-run CountingClient over the one rate-limited DeribitClient;
* ``minute_ms`` the start of the minute the run belongs to (its scheduled time floored).

HTTP calls never happen inside a database transaction: each job fetches, then opens a connection for a
short write. A Deribit failure of one instrument makes the run 'partial' and the others go on; a
database failure ends the run with 'error' (the scheduler logs it) and the next run's catch-up fills
the minutes. Rows of datasets the exchange cannot serve again later (chain snapshots, the index now)
are kept in memory while the database is unreachable and written once it answers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ingest import candles as candles_mod
from ingest import funding as funding_mod
from ingest import index_prices as index_mod
from ingest import instruments as instruments_mod
from ingest import options_chain
from ingest.deribit.client import DeribitError, RequestFailed
from ingest.deribit.quirks import HOUR_MS, INDEX_NAMES, MINUTE_MS
from ingest.sqlfiles import query
from ingest.tables import FUTURES_OHLCV, OPTIONS_OHLCV, PERPETUALS_OHLCV
from ingest.validate import Validated

log = logging.getLogger(__name__)

API_ERRORS = (DeribitError, RequestFailed)


@dataclass
class JobResult:
    rows: int = 0
    quarantined: int = 0
    failures: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def outcome(self) -> str:
        return "partial" if self.failures else "ok"

    def fail(self, what: str, exc: BaseException) -> None:
        self.failures.append(f"{what}: {exc}")
        log.warning("%s: %s", what, exc)


def _ms(dt) -> int:
    return int(dt.timestamp() * 1000)


def last_closed_minute(now_ms: int) -> int:
    return now_ms - now_ms % MINUTE_MS - MINUTE_MS


# --- writes that survive a database outage ---------------------------------------------------------

def _write_or_keep(ctx, key: str, loader: Callable, validated: Validated, result: JobResult) -> None:
    """Write this payload and any kept from earlier runs; on a database error keep them all (bounded)
    and re-raise so the run is recorded as an error."""
    queue = ctx.pending.setdefault(key, deque(maxlen=ctx.config.pending_max))
    queue.append(validated)
    if len(queue) > 1:
        log.info("%s: writing %d payloads kept while the database was away", key, len(queue))
    with ctx.connect() as conn:
        while queue:
            try:
                n, q = loader(conn, queue[0])
            except Exception as exc:
                if not _connection_problem(exc):
                    queue.popleft()  # the payload itself is the problem: never retry it forever
                raise
            queue.popleft()
            result.rows += n
            result.quarantined += q


def _connection_problem(exc: BaseException) -> bool:
    import psycopg
    import psycopg_pool

    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout))


# --- instruments -----------------------------------------------------------------------------------

def instruments(ctx, client, minute_ms: int) -> JobResult:
    """get_instruments for BTC and ETH futures and options (new listings, expiries, is_active)."""
    r = JobResult()
    with ctx.connect() as conn:
        r.rows = instruments_mod.sync(client, conn, currencies=ctx.config.currencies)
    ctx.state["instruments_synced_ms"] = ctx.now_ms()
    return r


# --- candles of perpetuals and futures --------------------------------------------------------------

def candle_targets(ctx) -> list[tuple[str, bool, int | None, int | None]]:
    """(instrument, is_perpetual, expiry_ms, last stored candle ms) for the live candle job."""
    horizon_s = int(ctx.config.catchup_days * 86400)
    with ctx.connect() as conn:
        rows = conn.execute(query("live_candle_instruments"), {
            "currencies": list(ctx.config.currencies), "grace_hours": 6, "horizon_s": horizon_s}).fetchall()
    out = [(name, perp, _ms(exp) if exp else None, _ms(last) if last else None)
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
        r.rows += n
        r.quarantined += q


def candles(ctx, client, minute_ms: int) -> JobResult:
    """The last closed minute of every perpetual and active future, from the minute after the last
    stored candle (catch-up after downtime, capped at catchup_days; initial_lookback_min when none)."""
    r = JobResult()
    end = last_closed_minute(ctx.now_ms())
    lookback = ctx.config.initial_lookback_min * MINUTE_MS
    horizon = int(ctx.config.catchup_days * 86400_000)
    behind = 0
    for name, perp, expiry_ms, last_ms in candle_targets(ctx):
        if ctx.stop.is_set():
            break
        stop = end if expiry_ms is None else min(end, expiry_ms - MINUTE_MS)
        start = last_ms + MINUTE_MS if last_ms is not None else max(end - lookback, end - horizon)
        if start > stop:
            continue
        behind += (stop - start) // MINUTE_MS
        try:
            fetch_range(ctx, client, name, PERPETUALS_OHLCV if perp else FUTURES_OHLCV, start, stop, r)
        except API_ERRORS as exc:
            r.fail(name, exc)
    r.detail = f"catchup_minutes={behind}" if behind else ""
    return r


# --- option chain: computed greeks every minute --------------------------------------------------

def chain(ctx, client, minute_ms: int) -> JobResult:
    """One book summary per currency -> mark, IV, underlying, OI and computed greeks of every option."""
    r = JobResult()
    parts = []
    names: list[str] = []
    for currency in ctx.config.currencies:
        try:
            result = options_chain.fetch_summary(client, currency)
        except API_ERRORS as exc:
            r.fail(f"{currency} book summary", exc)
            continue
        v = options_chain.summary_rows(currency, result, now_ms=ctx.now_ms())
        names.extend(row[1] for row in v.rows)
        parts.append(v)
    if names:
        ctx.state["options"] = sorted(set(names))
    _write_or_keep(ctx, "chain", options_chain.load, options_chain.merge(parts), r)
    r.detail = f"options={len(names)}"
    return r


# --- option candles: only options that traded -----------------------------------------------------

def option_candles(ctx, client, minute_ms: int) -> JobResult:
    """Candles of the options that traded since the cursor (the last processed minute), found from
    each currency's recent trades; one chart-data call per traded option."""
    r = JobResult()
    end = last_closed_minute(ctx.now_ms()) + MINUTE_MS - 1  # through the end of the last closed minute
    cursor = ctx.state.get("option_trades_from")
    if cursor is None:
        with ctx.connect() as conn:
            last = conn.execute(query("live_last_option_candle")).fetchone()[0]
        # after a restart: from the last stored option candle (at most 6 h back, at least 2 minutes)
        recent = end + 1 - 2 * MINUTE_MS
        cursor = max(min(_ms(last) + MINUTE_MS if last else recent, recent), end + 1 - 6 * HOUR_MS)
    cursor = max(cursor, end + 1 - 23 * HOUR_MS)  # www serves 24 h of trades by currency
    if cursor > end:
        return r
    traded: dict[str, set[int]] = {}
    for currency in ctx.config.currencies:
        try:
            found, _ = options_chain.traded_options(client, currency, cursor, end)
        except API_ERRORS as exc:
            r.fail(f"{currency} option trades", exc)
            return r  # keep the cursor: the next run asks again
        for name, minutes in found.items():
            traded.setdefault(name, set()).update(minutes)
    for name, minutes in sorted(traded.items()):
        if ctx.stop.is_set():
            return r
        try:
            fetch_range(ctx, client, name, OPTIONS_OHLCV, min(minutes), max(minutes), r)
        except API_ERRORS as exc:
            r.fail(name, exc)
    if not r.failures and not ctx.stop.is_set():
        ctx.state["option_trades_from"] = end + 1
    r.detail = f"traded={len(traded)}"
    return r


# --- index -----------------------------------------------------------------------------------------

def index(ctx, client, minute_ms: int) -> JobResult:
    """get_index_price for btc_usd and eth_usd, stored at the run's minute with source 'ticker'."""
    r = JobResult()
    parts = []
    for currency in ctx.config.currencies:
        name = INDEX_NAMES.get(currency, f"{currency.lower()}_usd")
        try:
            parts.append(index_mod.ticker(client, name, ts_ms=minute_ms))
        except API_ERRORS as exc:
            r.fail(name, exc)
    _write_or_keep(ctx, "index", index_mod.load, options_chain.merge(parts), r)
    return r


# --- exchange greeks: every option once an hour, a slice per minute --------------------------------

def sweep_slice(names: list[str], minute_ms: int, minutes: int) -> list[str]:
    k = (minute_ms // MINUTE_MS) % minutes
    return names[k::minutes]


def ticker_sweep(ctx, client, minute_ms: int) -> JobResult:
    """This minute's slice (1/sweep_minutes) of the active options: ticker -> exchange greeks and
    bid/ask IVs (source 'exchange'). ~1,500 options over 60 minutes is ~25 requests a minute."""
    r = JobResult()
    names = ctx.state.get("options")
    if not names:
        with ctx.connect() as conn:
            names = [n for (n,) in conn.execute(query("live_active_options"),
                                                {"currencies": list(ctx.config.currencies)})]
    todo = sweep_slice(list(names), minute_ms, ctx.config.sweep_minutes)
    parts = []
    for name in todo:
        if ctx.stop.is_set():
            break
        try:
            parts.append(options_chain.ticker_row(options_chain.fetch_ticker(client, name)))
        except DeribitError as exc:
            if exc.code != -32602:  # an option that just expired: nothing to sweep
                r.fail(name, exc)
        except RequestFailed as exc:
            r.fail(name, exc)
    _write_or_keep(ctx, "sweep", options_chain.load, options_chain.merge(parts), r)
    r.detail = f"options={len(todo)}/{len(names)}"
    return r


# --- funding ---------------------------------------------------------------------------------------

def funding(ctx, client, minute_ms: int) -> JobResult:
    """Funding rows of the perpetuals for the last hours (and their index as source 'funding')."""
    r = JobResult()
    now = ctx.now_ms()
    for currency in ctx.config.currencies:
        inst = f"{currency}-PERPETUAL"
        try:
            result = funding_mod.fetch_window(client, inst, now, now - 12 * HOUR_MS)
        except API_ERRORS as exc:
            r.fail(inst, exc)
            continue
        v = funding_mod.validate(inst, result, now - 12 * HOUR_MS, now)
        with ctx.connect() as conn:
            n, q = funding_mod.load(conn, v)
            n2, _ = index_mod.load(conn, index_mod.from_funding(index_mod.index_name_for(inst), v))
        r.rows += n + n2
        r.quarantined += q
    return r


# --- gap repair ------------------------------------------------------------------------------------

def gap_repair(ctx, client, minute_ms: int) -> JobResult:
    """Missing minutes between stored candles of the last gap_days are fetched again (at most
    gap_max_per_run gaps a run; a gap the exchange cannot fill is retried at most 3 times)."""
    r = JobResult()
    with ctx.connect() as conn:
        gaps = conn.execute(query("recent_gaps"), {"days": ctx.config.gap_days,
                                                 "limit": ctx.config.gap_max_per_run * 3}).fetchall()
    tried = ctx.state.setdefault("gap_attempts", {})
    done = 0
    for dataset, name, gap_start, gap_end, _missing in gaps:
        key = (name, _ms(gap_start), _ms(gap_end))
        if tried.get(key, 0) >= 3 or done >= ctx.config.gap_max_per_run or ctx.stop.is_set():
            continue
        tried[key] = tried.get(key, 0) + 1
        spec = PERPETUALS_OHLCV if dataset == "perpetuals_ohlcv" else FUTURES_OHLCV
        try:
            fetch_range(ctx, client, name, spec, key[1], key[2] - MINUTE_MS, r)
        except API_ERRORS as exc:
            r.fail(name, exc)
        done += 1
    r.detail = f"gaps={len(gaps)} repaired_tried={done}"
    return r


JOBS: dict[str, Callable] = {
    "instruments": instruments,
    "candles": candles,
    "chain": chain,
    "option_candles": option_candles,
    "index": index,
    "ticker_sweep": ticker_sweep,
    "funding": funding,
    "gap_repair": gap_repair,
}


def run_job(ctx, name: str, minute_ms: int | None = None, *, require_leader: bool = True) -> JobResult | None:
    """Run one job with its heartbeat and its one log line; never raises (returns None if skipped)."""
    from datetime import datetime, timezone

    from ingest.live import heartbeat
    from ingest.live.context import CountingClient
    from ingest.live.lease import _short

    if require_leader and not ctx.lease.is_leader:
        return None
    if minute_ms is None:
        now = ctx.now_ms()
        minute_ms = now - now % MINUTE_MS
    client = CountingClient(ctx.client)
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    heartbeat.started(ctx.connect, name, ctx.holder)
    result: JobResult | None = None
    error = None
    try:
        result = JOBS[name](ctx, client, minute_ms)
        outcome = result.outcome
    except Exception as exc:  # database down, a bug: logged, recorded, never fatal
        outcome, error = "error", f"{type(exc).__name__}: {_short(exc)}"
        result = JobResult()
    duration_ms = int((time.monotonic() - t0) * 1000)
    if error is None and result.failures:
        error = "; ".join(result.failures)[:500]
    log.log(logging.ERROR if outcome == "error" else logging.INFO,
            "job=%s rows=%d requests=%d duration_ms=%d outcome=%s%s%s%s", name, result.rows,
            client.requests, duration_ms, outcome,
            f" quarantined={result.quarantined}" if result.quarantined else "",
            f" {result.detail}" if result.detail else "", f" error={error}" if error else "")
    heartbeat.finished(ctx.connect, name, ctx.holder, started_at=started, outcome=outcome, rows=result.rows,
                       requests=client.requests, duration_ms=duration_ms, error=error)
    result.outcome_override = outcome  # type: ignore[attr-defined]
    return result
