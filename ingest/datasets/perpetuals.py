"""Perpetual candles: 1-minute OHLCV of BTC-PERPETUAL and ETH-PERPETUAL, from listing to now.

Backfill: the chart data of each perpetual in 5,000-minute windows on a fixed grid (checkpoints
'perpetuals'). Live: every minute, the minutes since the last stored candle (catch-up after downtime).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.planning import PROBE_ERRORS, Context, Target, candle_windows, ms_of, target_counter
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit import calendar as cal
from ingest.deribit.quirks import PERPETUALS
from ingest.live.jobs import candle_catch_up
from ingest.storage.tables import PERPETUALS_OHLCV

# known listing dates, used when get_instruments does not list a perpetual
PERPETUAL_LISTING_MS = {"BTC-PERPETUAL": cal.to_ms(datetime(2018, 8, 13, tzinfo=timezone.utc)),
                        "ETH-PERPETUAL": cal.to_ms(datetime(2019, 3, 12, tzinfo=timezone.utc))}


def perpetual_targets(ctx: Context) -> list[Target]:
    names = [n for n in ctx.instruments if n.endswith("-PERPETUAL")] if ctx.instruments else list(PERPETUALS)
    listed = {}
    for cur in dict.fromkeys(cal.base_currency_of(n) for n in names):
        for item in ctx.listing(cur, "future", False):
            listed[item.get("instrument_name")] = item
    out = []
    for n in names:
        start = ms_of((listed.get(n) or {}).get("creation_timestamp")) or PERPETUAL_LISTING_MS.get(n)
        if start is None:
            try:
                start = ctx.first_candle_ms(n)
            except PROBE_ERRORS as exc:
                ctx.problem(n, f"could not tell whether it exists: {exc}")
                continue
        if start is None:
            ctx.problem(n, "instrument not found (neither host knows it, or it never traded)")
            continue
        out.append(Target(n, start, ctx.last_minute_ms, "exchange" if n in listed else "given"))
    return out


def plan(ctx: Context, conn, count, probe: bool = True, options: dict | None = None):
    done = DoneIndex.load(conn, "perpetuals")
    yield from candle_windows(ctx, "perpetuals", PERPETUALS_OHLCV, iter(perpetual_targets(ctx)), done,
                              target_counter(count))


def live(ctx, client, minute_ms: int):
    return candle_catch_up(ctx, client, perpetual=True)


BACKFILL_HELP = """1-minute candles of BTC-PERPETUAL and
    ETH-PERPETUAL (or --instrument) from listing to now.

    \b
    Example:
        ingest backfill perpetuals
        ingest backfill perpetuals --instrument BTC-PERPETUAL --since 2024-05-01 --until 2024-05-31
    """


DATASET = Dataset(
    name="perpetuals",
    description="1-minute candles of BTC-PERPETUAL and ETH-PERPETUAL",
    tables=(PERPETUALS_OHLCV,),
    order=10,
    backfill=Backfill(plan=plan, checkpoints=("perpetuals",), instrument_kinds=frozenset({"perpetual"}),
                      help=BACKFILL_HELP),
    live=Live(job=live, schedule={"second": 4}, on_takeover=True),
    freshness=Freshness(query="freshness_perpetuals", expected=("BTC-PERPETUAL", "ETH-PERPETUAL")),
)
