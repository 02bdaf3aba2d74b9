"""Option candles: 1-minute OHLCV of BTC and ETH options, only the minutes with trades.

Backfill: the active options and the recently expired ones get_instruments lists (5,000-minute windows,
checkpoints 'options'); a filler candle of an option that did not trade says nothing and is not stored.
Live: every minute, the options that traded since the cursor (found from each currency's recent
trades), one chart-data call per traded option.
"""

from __future__ import annotations

from functools import partial

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.planning import PROBE_ERRORS, Context, Target, candle_windows, ms_of, target_counter
from ingest.datasets import chain as options_chain
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit import calendar as cal
from ingest.deribit.calendar import to_ms
from ingest.deribit.quirks import HOUR_MS, MINUTE_MS
from ingest.live.jobs import API_ERRORS, JobResult, fetch_range, isolated, last_closed_minute
from ingest.storage.sqlfiles import query
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


# --------------------------------------------------------------------------- live

def live(ctx, client, minute_ms: int) -> JobResult:
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
        cursor = max(min(to_ms(last) + MINUTE_MS if last else recent, recent), end + 1 - 6 * HOUR_MS)
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
        isolated(r, name, partial(fetch_range, ctx, client, name, OPTIONS_OHLCV, min(minutes), max(minutes), r))
    if not r.failures and not ctx.stop.is_set():
        ctx.state["option_trades_from"] = end + 1
    r.detail = f"traded={len(traded)}"
    return r



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
    live=Live(job=live, schedule={"second": 20}),
    freshness=Freshness(query="freshness_options"),
)
