"""Future candles: 1-minute OHLCV of every dated future of BTC and ETH, live and expired.

Backfill: the listed futures (expired=false and the recently expired ones) plus the contracts the expiry
calendar reconstructs (quarterlies since 2019, monthlies and weeklies since 2021, daily futures since
2025), each confirmed by a probe of its chart data (the history host for archived ones) and recorded in
`instruments` with source 'calendar'; 5,000-minute windows (checkpoints 'futures'). Live: every minute,
the active futures from the minute after their last stored candle.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.planning import PROBE_ERRORS, Context, Target, candle_windows, ms_of, target_counter
from ingest.datasets import instruments as instruments_mod
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit import calendar as cal
from ingest.deribit.quirks import MINUTE_MS
from ingest.live.jobs import candle_catch_up
from ingest.storage.tables import FUTURES_OHLCV, INSTRUMENTS

# the futures calendar to reconstruct: quarterlies since 2019, monthlies and weeklies since 2021, daily
# futures (settlement_period "day", listed a few days ahead; seen in 2026 captures) since 2025
QUARTERLIES_FROM = datetime(2019, 1, 1, tzinfo=timezone.utc)
SHORT_FUTURES_FROM = datetime(2021, 1, 1, tzinfo=timezone.utc)
DAILY_FUTURES_FROM = datetime(2025, 1, 1, tzinfo=timezone.utc)
# listing lead before expiry (dry-run estimate for reconstructed contracts whose life is not probed):
# Deribit lists quarterlies about two quarters ahead, monthlies about two months, weeklies two weeks,
# dailies four days
LISTING_LEAD = {"quarter": timedelta(weeks=26), "month": timedelta(weeks=8), "week": timedelta(weeks=2),
                "day": timedelta(days=4)}


def future_targets(ctx: Context, probe: bool = True) -> Iterator[Target]:
    """Every dated future: listed (active and recently expired) plus the calendar reconstruction
    (quarterlies since 2019, monthlies and weeklies since 2021, dailies since 2025) confirmed by a probe
    of its chart data
    (main host, else the history host). Oldest expiry first. Yields calendar-confirmed Targets with
    source='calendar' and their item for the instruments table."""
    listed = {n: i for n, i in ctx.listed("future").items() if not n.endswith("PERPETUAL")}
    now = cal.from_ms(ctx.now_ms)
    candidates: dict[str, int] = {}
    if ctx.instruments:
        for n in ctx.instruments:
            parsed = cal.parse_instrument_name(n)  # the runner checked the names
            if parsed.kind == "future" and not parsed.is_perpetual:
                candidates[n] = cal.to_ms(parsed.expiry)
    else:
        for cur in ctx.currencies():
            expiries = set(cal.quarterly_expiries(QUARTERLIES_FROM, now))
            expiries |= set(cal.weekly_expiries(SHORT_FUTURES_FROM, now))  # includes monthlies
            expiries |= set(cal.daily_expiries(DAILY_FUTURES_FROM, now))  # daily futures
            for x in expiries:
                candidates[cal.future_name(cur, x)] = cal.to_ms(x)
        for n, item in listed.items():
            candidates[n] = ms_of(item.get("expiration_timestamp")) or candidates.get(n, 0)
    for name, expiry_ms in sorted(candidates.items(), key=lambda kv: (kv[1], kv[0])):
        end = expiry_ms - MINUTE_MS  # the last minute before the 08:00 UTC expiry
        if ctx.since_ms is not None and end < ctx.since_ms:
            continue
        item = listed.get(name)
        if item is not None:
            start = ms_of(item.get("creation_timestamp"))
            if start is None and probe:
                try:
                    start = ctx.first_candle_ms(name)
                except PROBE_ERRORS as exc:
                    ctx.problem(name, f"probe failed, skipped this run: {exc}")
                    continue
            if start is None:
                continue
            yield Target(name, start, end, "exchange", item)
            continue
        # reconstructed from the calendar
        parsed = cal.parse_instrument_name(name)
        if not probe:
            lead = LISTING_LEAD[cal.expiry_class(parsed.expiry)]
            yield Target(name, expiry_ms - int(lead.total_seconds() * 1000), end, "calendar")
            continue
        try:
            start = ctx.first_candle_ms(name)
        except PROBE_ERRORS as exc:
            ctx.problem(name, f"probe failed, skipped this run: {exc}")
            continue
        if start is None:
            if ctx.instruments:
                ctx.problem(name, "instrument not found (neither host knows it, or it never traded)")
            continue  # a calendar date the exchange never listed
        item = {"instrument_name": name, "kind": "future", "base_currency": parsed.base_currency,
                "quote_currency": "USD", "settlement_currency": parsed.base_currency,
                "settlement_period": cal.settlement_period(parsed.expiry), "expiration_timestamp": expiry_ms,
                "is_active": expiry_ms > ctx.now_ms, "state": "open" if expiry_ms > ctx.now_ms else "settled"}
        yield Target(name, start, end, "calendar", item)


def plan(ctx: Context, conn, count, probe: bool = True, options: dict | None = None) -> Iterator:
    done = DoneIndex.load(conn, "futures")
    if probe:
        listed = [i for n, i in ctx.listed("future").items() if not n.endswith("PERPETUAL")]
        instruments_mod.upsert(conn, instruments_mod.validate(listed, "exchange"))

    def targets():
        for t in future_targets(ctx, probe=probe):
            if probe and t.source == "calendar" and t.item is not None:
                instruments_mod.upsert(conn, instruments_mod.validate([t.item], "calendar"))
            yield t
    yield from candle_windows(ctx, "futures", FUTURES_OHLCV, targets(), done, target_counter(count))


def live(ctx, client, minute_ms: int):
    return candle_catch_up(ctx, client, perpetual=False)


BACKFILL_HELP = """1-minute candles of every dated future since 2019,
    expired ones included.

    Contracts get_instruments no longer lists are reconstructed from the expiry calendar (quarterlies
    since 2019, monthlies and weeklies since 2021, daily futures since 2025), confirmed against the
    exchange's chart data (the history host for archived ones) and recorded in instruments with source
    'calendar'.

    \b
    Example:
        ingest backfill futures --since 2024-01-01
        ingest backfill futures --instrument BTC-29MAR24
    """


DATASET = Dataset(
    name="futures",
    description="1-minute candles of every dated future, live and expired",
    tables=(FUTURES_OHLCV, INSTRUMENTS),
    order=40,
    backfill=Backfill(plan=plan, checkpoints=("futures",), instrument_kinds=frozenset({"future"}),
                      help=BACKFILL_HELP,
                      dry_run_note="reconstructed futures are probed first: one more request each"),
    live=Live(job=live, schedule={"second": 5}, on_takeover=True),
    freshness=Freshness(query="freshness_futures"),
)
