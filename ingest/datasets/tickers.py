"""Option tickers: the exchange's own greeks and bid/ask IVs of every option, once an hour.

Live only (there is no history of greeks): each minute a slice (1/sweep_minutes) of the active options
is asked for its ticker; rows with source 'exchange' in options_greeks. Parsing (no-quote IVs of 0 stored
NULL, expired tickers skipped, oversized IVs quarantined): ingest/datasets/chain.py `ticker_row`.
"""

from __future__ import annotations

from functools import partial

from ingest.datasets import chain as options_chain
from ingest.datasets.base import Dataset, Freshness, Live
from ingest.deribit.client import DeribitError, RequestFailed
from ingest.deribit.quirks import INVALID_PARAMS, MINUTE_MS
from ingest.live.jobs import JobResult, fetch_clean, store_forward_only
from ingest.storage.sqlfiles import query
from ingest.storage.tables import OPTIONS_GREEKS


def sweep_slice(names: list[str], minute_ms: int, minutes: int) -> list[str]:
    k = (minute_ms // MINUTE_MS) % minutes
    return names[k::minutes]


def _ticker_rows(client, name: str):
    return options_chain.ticker_row(options_chain.fetch_ticker(client, name))


def live(ctx, client, minute_ms: int) -> JobResult:
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
            parts.append(fetch_clean(partial(_ticker_rows, client, name)))
        except DeribitError as exc:
            if exc.code != INVALID_PARAMS:  # an option that just expired: nothing to sweep
                r.fail(name, exc)
        except RequestFailed as exc:
            r.fail(name, exc)
    merged = options_chain.merge(parts)
    r.expected = bool(merged.rows or merged.rejected)  # answers of expired options store nothing
    store_forward_only(ctx, "tickers", OPTIONS_GREEKS, merged, minute_ms, r)
    skipped = len(getattr(merged, "skipped", ()))
    r.detail = f"options={len(todo)}/{len(names)}" + (f" expired={skipped}" if skipped else "")
    return r


DATASET = Dataset(
    name="tickers",
    description="the exchange's greeks and bid/ask IVs of every option, once an hour",
    tables=(OPTIONS_GREEKS,),
    order=35,
    forward_only=True,
    live=Live(job=live, schedule={"second": 30}, spool=True),
    freshness=Freshness(query="freshness_tickers"),
    quarantine_name=options_chain.QUARANTINE,
)
