"""Live jobs that belong to no dataset: they keep what the datasets stored complete and derived.

* gap_repair  — missing minutes between stored candles of the last days are fetched again;
* aggregates  — the continuous aggregates are refreshed over every range loaded and not yet refreshed
                (cagg_refresh_pending, written by every load): the embedded server runs no refresh
                policies, and a native server's policies only look back a few days;
* analytics   — the volatility and carry tables (ingest/storage/analytics.py) over the last hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ingest.deribit.calendar import to_ms
from ingest.deribit.quirks import MINUTE_MS
from ingest.live.jobs import JobResult, JobSpec, fetch_range, isolated
from ingest.storage import analytics, caggs
from ingest.storage.sqlfiles import query
from ingest.storage.tables import FUTURES_OHLCV, PERPETUALS_OHLCV

# the analytics tables are recomputed over this much of the recent past every run: a snapshot that
# arrived late (spool flush, gap repair) is folded in
ANALYTICS_LOOKBACK = timedelta(minutes=15)



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
        key = (name, to_ms(gap_start), to_ms(gap_end))
        if tried.get(key, 0) >= 3 or done >= ctx.config.gap_max_per_run or ctx.stop.is_set():
            continue
        tried[key] = tried.get(key, 0) + 1
        spec = PERPETUALS_OHLCV if dataset == "perpetuals_ohlcv" else FUTURES_OHLCV
        isolated(r, name, lambda name=name, spec=spec, key=key:
                 fetch_range(ctx, client, name, spec, key[1], key[2] - MINUTE_MS, r))
        done += 1
    r.detail = f"gaps={len(gaps)} repaired_tried={done}"
    return r


def aggregates(ctx, client, minute_ms: int) -> JobResult:
    """Refresh the continuous aggregates over the ranges loaded since the last refresh."""
    r = JobResult()
    with ctx.connect() as conn:
        refreshed = caggs.refresh_pending(conn)
    r.detail = f"refreshed={len(refreshed)}"
    return r


def analytics_refresh(ctx, client, minute_ms: int) -> JobResult:
    """Recompute the volatility and carry analytics over the last minutes (one transaction an hour)."""
    r = JobResult()
    now = datetime.fromtimestamp(ctx.now_ms() / 1000, timezone.utc)
    with ctx.connect() as conn:
        result = analytics.refresh(conn, now - ANALYTICS_LOOKBACK, now + timedelta(minutes=1))
    r.detail = f"hours={result.hours} seconds={result.seconds:.2f}"
    return r


JOBS = (
    JobSpec("gap_repair", gap_repair, {"minute": "*/5", "second": 45}),
    JobSpec("aggregates", aggregates, {"minute": "*/5", "second": 50}),
    JobSpec("analytics", analytics_refresh, {"minute": "*/5", "second": 55}),
)
