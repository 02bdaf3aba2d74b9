"""Per-dataset planning: which instruments, which windows. Each plan is a lazy iterator of Windows
(instruments × windows), skipping windows a 'done' checkpoint contains; nothing whole-history is held
in memory.

Windows sit on a fixed grid (5,000 minutes for candles, 744 hours for funding, one day for trades,
counted from the epoch), clipped to the requested range, so that runs with a different "now" or
--since find the same windows and their checkpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.engine import Fetched, Part, Window, fetch_checked
from ingest.datasets import funding as funding_mod
from ingest.datasets import index as index_prices
from ingest.datasets.candles import CandleFetcher
from ingest.deribit import calendar as cal
from ingest.deribit.client import DeribitClient, DeribitError, RequestFailed
from ingest.deribit.quirks import (
    CURRENCIES,
    DAY_MS,
    FUNDING_ROWS_PER_CALL,
    HOUR_MS,
    MAX_CANDLES_PER_CALL,
    MAX_DELIVERY_PRICES_PER_CALL,
    MAX_TRADES_PER_CALL,
    MINUTE_MS,
    PERPETUALS,
)
from ingest.storage.tables import (
    FUNDING_RATES,
    FUTURES_OHLCV,
    INDEX_PRICES,
    OPTIONS_OHLCV,
    PERPETUALS_OHLCV,
    TableSpec,
)
from ingest.storage.validate import BrokenAnswer, Rejected, Validated, json_safe, within_limits

log = logging.getLogger("ingest.backfill")

# probes load nothing: a pseudo-table for their one-row answers (no NUMERIC column, nothing to bound)
PROBE = TableSpec("probe", (("first_tick", "bigint"),), ("first_tick",), hypertable=False)
PROBE_ERRORS = (RequestFailed, DeribitError, BrokenAnswer)

CANDLE_GRID_MS = MAX_CANDLES_PER_CALL * MINUTE_MS
FUNDING_GRID_MS = FUNDING_ROWS_PER_CALL * HOUR_MS
# Deribit's history does not reach before this: lower bound of every backwards paging
EARLIEST_MS = cal.to_ms(datetime(2018, 1, 1, tzinfo=timezone.utc))
# known listing dates, used when get_instruments does not list a perpetual
PERPETUAL_LISTING_MS = {"BTC-PERPETUAL": cal.to_ms(datetime(2018, 8, 13, tzinfo=timezone.utc)),
                        "ETH-PERPETUAL": cal.to_ms(datetime(2019, 3, 12, tzinfo=timezone.utc))}
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
DEFAULT_TRADES_DAYS = 30  # --source trades without --since: the last 30 days (a day is ~10 requests)


@dataclass
class Target:
    """An instrument to backfill and its life [start_ms, end_ms] (before clipping to --since/--until)."""

    name: str
    start_ms: int
    end_ms: int
    source: str = "exchange"  # exchange | calendar | given
    item: dict | None = None


@dataclass
class Context:
    client: DeribitClient
    now_ms: int
    since_ms: int | None = None
    until_ms: int | None = None
    instruments: list[str] = field(default_factory=list)
    fetcher: CandleFetcher | None = None
    # what failed outside a window (an instrument the exchange does not know, a probe that kept
    # failing): reported in the summary, and the run's exit status is not 0
    problems: list[str] = field(default_factory=list)
    _listing: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.fetcher is None:
            self.fetcher = CandleFetcher(self.client)

    @property
    def last_minute_ms(self) -> int:
        """The last complete minute: min(--until, now - 1 minute) floored to the minute."""
        hi = self.now_ms - MINUTE_MS
        if self.until_ms is not None:
            hi = min(hi, self.until_ms)
        return hi - hi % MINUTE_MS

    def clip(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        lo = start_ms if self.since_ms is None else max(start_ms, self.since_ms)
        return lo, min(end_ms, self.last_minute_ms)

    def currencies(self) -> tuple[str, ...]:
        if self.instruments:
            return tuple(dict.fromkeys(n.split("-")[0].split("_")[0] for n in self.instruments))
        return CURRENCIES

    def listing(self, currency: str, kind: str, expired: bool) -> list[dict]:
        """get_instruments, cached for the run (it has its own ~1 request/s limit)."""
        key = (currency, kind, expired)
        if key not in self._listing:
            result = self.client.call("get_instruments",
                                      {"currency": currency, "kind": kind, "expired": expired})
            items = result if isinstance(result, list) else []
            self._listing[key] = [i for i in items if isinstance(i, dict)]
        return self._listing[key]

    def listed(self, kind: str, expired_too: bool = True) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for cur in self.currencies():
            for expired in ((False, True) if expired_too else (False,)):
                for item in self.listing(cur, kind, expired):
                    name = item.get("instrument_name")
                    if isinstance(name, str):
                        out.setdefault(name, item)
        return out

    def first_candle_ms(self, name: str) -> int | None:
        """Probe: the first daily candle of an instrument (www, else the history host); None when
        neither host knows it, or it never traded. Raises (RequestFailed, DeribitError, BrokenAnswer)
        when the exchange's answers cannot decide: a broken answer never means "not listed"."""
        params = {"instrument_name": name, "start_timestamp": EARLIEST_MS,
                  "end_timestamp": self.now_ms, "resolution": "1D"}
        for host in ("www", "history"):
            try:
                result = fetch_checked(partial(_probe_answer, self.client, name, params, host)) \
                    .parts[0].validated.rows
            except DeribitError as exc:
                if exc.instrument_not_found:
                    continue
                raise
            if result:
                if host == "history":
                    self.fetcher.prefer_history(name)  # archived: chart data lives on the history host
                return result[0][0]
            return None
        return None

    def problem(self, name: str, what: str) -> None:
        log.warning("%s: %s", name, what)
        self.problems.append(f"{name}: {what}")


def _probe_answer(client: DeribitClient, name: str, params: dict, host: str) -> Fetched:
    """A probe's answer as a Fetched whose one row is (first tick,), or no row for `no_data`; an answer
    without a usable ticks array is rejected as a whole (so that fetch_checked asks again)."""
    result = client.call("get_tradingview_chart_data", params, host=host)
    validated = Validated()
    ticks = result.get("ticks") if isinstance(result, dict) else None
    if isinstance(result, dict) and result.get("status") == "no_data" and not ticks:
        pass
    elif not isinstance(ticks, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ticks):
        validated.rejected.append(Rejected("probe", name, "chart data without a list of integer ticks",
                                           json_safe(result), whole=True))
    elif ticks:
        validated.rows.append((int(min(ticks)),))
    return Fetched([Part(PROBE, validated)])


def grid_windows(start_ms: int, end_ms: int, width_ms: int, step_ms: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, grid_start) inclusive windows on a fixed grid of `width_ms`, clipped to the range."""
    t = -(-start_ms // step_ms) * step_ms
    last = end_ms - end_ms % step_ms
    while t <= last:
        g = t - t % width_ms
        e = min(g + width_ms - step_ms, last)
        yield t, e, g
        t = e + step_ms


def _ms_of(value) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


# --------------------------------------------------------------------------- candles


def _candle_fetch(ctx: Context, dataset: str, spec: TableSpec, name: str, start: int, end: int):
    def fetch() -> Fetched:
        columns, rejected, _host = ctx.fetcher.fetch_columns(dataset, name, start, end)
        if spec is OPTIONS_OHLCV:
            # options: only candles with trades (a filler candle of an illiquid option says nothing)
            columns = columns.traded()
        part = Part(spec, Validated([], rejected), (name, start, end), columns=columns)
        part.prepare()  # COPY text formatted here, in the fetch thread, not in the loading one
        return Fetched([part], empty=not len(columns) and not rejected)
    return fetch


def candle_windows(ctx: Context, dataset: str, spec: TableSpec, targets: Iterator[Target], done: DoneIndex,
                   counter=None) -> Iterator[Window]:
    for t in targets:
        lo, hi = ctx.clip(t.start_ms, t.end_ms)
        for s, e, g in grid_windows(lo, hi, CANDLE_GRID_MS, MINUTE_MS):
            if counter is not None:
                counter(t, s, e, done.contains(t.name, s, e, g) is not None)
            if done.contains(t.name, s, e, g) is not None:
                continue
            yield Window(dataset, t.name, s, e, _candle_fetch(ctx, dataset, spec, t.name, s, e))


def perpetual_targets(ctx: Context) -> list[Target]:
    names = [n for n in ctx.instruments if n.endswith("-PERPETUAL")] if ctx.instruments else list(PERPETUALS)
    listed = {}
    for cur in dict.fromkeys(n.split("-")[0].split("_")[0] for n in names):
        for item in ctx.listing(cur, "future", False):
            listed[item.get("instrument_name")] = item
    out = []
    for n in names:
        start = _ms_of((listed.get(n) or {}).get("creation_timestamp")) or PERPETUAL_LISTING_MS.get(n)
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
            candidates[n] = _ms_of(item.get("expiration_timestamp")) or candidates.get(n, 0)
    for name, expiry_ms in sorted(candidates.items(), key=lambda kv: (kv[1], kv[0])):
        end = expiry_ms - MINUTE_MS  # the last minute before the 08:00 UTC expiry
        if ctx.since_ms is not None and end < ctx.since_ms:
            continue
        item = listed.get(name)
        if item is not None:
            start = _ms_of(item.get("creation_timestamp"))
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
            start = _ms_of(item.get("creation_timestamp"))
            expiry = _ms_of(item.get("expiration_timestamp"))
            if start is None or expiry is None:
                continue
        if ctx.since_ms is not None and expiry <= ctx.since_ms:
            continue
        out.append(Target(n, start, expiry - MINUTE_MS, "exchange", item))
    out.sort(key=lambda t: (t.end_ms, t.name))
    return out


# --------------------------------------------------------------------------- funding and index


def funding_windows(ctx: Context, done: DoneIndex, counter=None) -> Iterator[Window]:
    """Backwards from --until (or now) on the 744-hour grid, to --since or until the API returns
    nothing. Each window loads funding_rates and the hourly index (index_prices, source 'funding')."""
    names = [n for n in ctx.instruments if n.endswith("-PERPETUAL")] if ctx.instruments else list(PERPETUALS)
    # a row covers the hour before it
    hi = ctx.now_ms if ctx.until_ms is None else min(ctx.until_ms, ctx.now_ms)
    hi -= hi % HOUR_MS
    lo = max(ctx.since_ms if ctx.since_ms is not None else EARLIEST_MS, EARLIEST_MS)
    for name in names:
        index_name = index_prices.index_name_for(name)
        end = hi
        while end >= lo:
            g = end - end % FUNDING_GRID_MS
            start = max(g, -(-lo // HOUR_MS) * HOUR_MS)
            hit = done.contains(name, start, end, g)
            if counter is not None:
                counter(name, start, end, hit is not None)
            if hit is not None:
                if hit[1] == 0 and ctx.since_ms is None:
                    break  # a finished window that held nothing: the start of the history
            else:
                yield Window("funding", name, start, end, _funding_fetch(ctx, name, index_name, start, end),
                             group=f"funding:{name}", stop_on_empty=ctx.since_ms is None)
            end = start - HOUR_MS


def _funding_fetch(ctx: Context, name: str, index_name: str, start: int, end: int):
    def fetch() -> Fetched:
        result = funding_mod.fetch_window(ctx.client, name, end, start)
        # rows the columns cannot hold are quarantined once, as funding rows, before the index is derived
        validated = within_limits(FUNDING_RATES, funding_mod.validate(name, result, start, end))
        index = index_prices.from_funding(index_name, validated)
        return Fetched([Part(FUNDING_RATES, validated, (name, start, end)), Part(INDEX_PRICES, index)],
                       empty=not result)
    return fetch


def index_names(ctx: Context) -> list[str]:
    return list(dict.fromkeys(index_prices.index_name_for(c) for c in ctx.currencies()))


def delivery_windows(ctx: Context) -> Iterator[Window]:
    """get_delivery_prices pages (≤1,000 days each, newest first). Small: fetched again every run
    (no checkpoint); idempotent."""
    lo = ctx.since_ms if ctx.since_ms is not None else EARLIEST_MS
    hi = ctx.last_minute_ms
    pages = (ctx.now_ms - lo) // DAY_MS // MAX_DELIVERY_PRICES_PER_CALL + 1
    for index_name in index_names(ctx):
        for page in range(pages):
            offset = page * MAX_DELIVERY_PRICES_PER_CALL

            def fetch(index_name=index_name, offset=offset) -> Fetched:
                result = index_prices.fetch_delivery_prices(ctx.client, index_name, offset)
                v = index_prices.delivery_rows(index_name, result, lo, hi)
                data = result.get("data") if isinstance(result, dict) else None
                return Fetched([Part(INDEX_PRICES, v)], empty=not data)
            yield Window("index_delivery", index_name, lo, hi, fetch, group=f"delivery:{index_name}",
                         stop_on_empty=True, checkpoint=False)


def trades_windows(ctx: Context, done: DoneIndex, counter=None) -> Iterator[Window]:
    """Minute-level index from the index_price of futures trades on the history host, one day per
    window (paged by 1,000 trades). Heavy: defaults to the last 30 days unless --since is given."""
    hi = ctx.last_minute_ms
    lo = ctx.since_ms if ctx.since_ms is not None else hi - DEFAULT_TRADES_DAYS * DAY_MS
    for index_name in index_names(ctx):
        currency = index_name.split("_")[0].upper()
        for s, e, g in grid_windows(lo, hi, DAY_MS, MINUTE_MS):
            e_ms = e + MINUTE_MS - 1  # the whole last minute
            hit = done.contains(index_name, s, e_ms, g)
            if counter is not None:
                counter(index_name, s, e_ms, hit is not None)
            if hit is None:
                yield Window("index_trades", index_name, s, e_ms,
                             _trades_fetch(ctx, currency, index_name, s, e_ms))


def _trades_fetch(ctx: Context, currency: str, index_name: str, start: int, end: int):
    def fetch() -> Fetched:
        trades: list[dict] = []
        seen: set = set()
        cursor = start
        while True:
            result = ctx.client.call("get_last_trades_by_currency_and_time", {
                "currency": currency, "kind": "future", "start_timestamp": cursor, "end_timestamp": end,
                "count": MAX_TRADES_PER_CALL, "sorting": "asc"}, host="history")
            page = result.get("trades") if isinstance(result, dict) else None
            if not isinstance(page, list):
                broken = Validated([], [Rejected("index_trades", index_name, "trades answer without a trades list",
                                                 json_safe(result), whole=True)])
                return Fetched([Part(INDEX_PRICES, broken)])
            page = [t for t in page if isinstance(t, dict)]
            new = [t for t in page if t.get("trade_id") not in seen]
            trades.extend(new)
            seen.update(t.get("trade_id") for t in new)
            stamps = [t["timestamp"] for t in page if isinstance(t.get("timestamp"), int)]
            if not (isinstance(result, dict) and result.get("has_more")) or not new or not stamps:
                break
            cursor = max(stamps)  # trades sharing the last millisecond are de-duplicated by trade_id
        v = index_prices.trades_rows(index_name, trades, start, end)
        return Fetched([Part(INDEX_PRICES, v)], empty=not trades)
    return fetch


SPECS = {"perpetuals": PERPETUALS_OHLCV, "futures": FUTURES_OHLCV, "options": OPTIONS_OHLCV}
