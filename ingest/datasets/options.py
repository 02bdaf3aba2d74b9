"""Option candles: 1-minute OHLCV of BTC and ETH options, only the minutes with trades.

Backfill: the active options and the recently expired ones get_instruments lists (5,000-minute windows,
checkpoints 'options'); a filler candle of an option that did not trade says nothing and is not stored.
Live: the candles of the options that traded are built from the trade tape as it is collected (the
`trades` dataset's live job): no chart-data call per option.
"""

from __future__ import annotations

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.planning import PROBE_ERRORS, Context, Target, candle_windows, ms_of, target_counter
from ingest.datasets.base import Backfill, Dataset, Freshness
from ingest.deribit import calendar as cal
from ingest.deribit.quirks import MINUTE_MS
from ingest.storage.tables import OPTIONS_OHLCV


def option_targets(ctx: Context) -> list[Target]:
    """Active options and the recently expired ones get_instruments lists (expired=true)."""
    listed = ctx.listed("option")
    if ctx.instruments:
        names = [n for n in ctx.instruments if cal.parse_instrument_name(n).kind == "option"]
    else:
        names = list(listed)
    out = []
    for n in names:
        item = listed.get(n)
        if item is None:
            expiry = cal.to_ms(cal.parse_instrument_name(n).expiry)
            try:
                start = ctx.first_candle_ms(n)
            except PROBE_ERRORS as exc:
                ctx.problem(n, f"could not tell whether it exists: {exc}")
                continue
            if start is None:
                ctx.problem(n, "instrument not found (neither host knows it, or it never traded)")
                continue
        else:
            start = ms_of(item.get("creation_timestamp"))
            expiry = ms_of(item.get("expiration_timestamp"))
            if start is None or expiry is None:
                continue
        if ctx.since_ms is not None and expiry <= ctx.since_ms:
            continue
        out.append(Target(n, start, expiry - MINUTE_MS, "exchange", item))
    out.sort(key=lambda t: (t.end_ms, t.name))
    return out


def plan(ctx: Context, conn, count, probe: bool = True, options: dict | None = None):
    from ingest.datasets import instruments as instruments_mod

    done = DoneIndex.load(conn, "options")
    targets = option_targets(ctx)
    if probe:
        items = [t.item for t in targets if t.item]
        instruments_mod.upsert(conn, instruments_mod.validate(items, "exchange"))
    yield from candle_windows(ctx, "options", OPTIONS_OHLCV, iter(targets), done, target_counter(count))


BACKFILL_HELP = """1-minute candles of active and recently expired
    options: only minutes with trades.

    \b
    Example:
        ingest backfill options --instrument BTC-28JUN24-70000-C
        ingest backfill options --since 2024-05-25 --dry-run
    """


DATASET = Dataset(
    name="options",
    description="1-minute candles of options, only minutes with trades",
    tables=(OPTIONS_OHLCV,),
    order=50,
    backfill=Backfill(plan=plan, checkpoints=("options",), instrument_kinds=frozenset({"option"}),
                      help=BACKFILL_HELP),
    freshness=Freshness(query="freshness_options"),
)
