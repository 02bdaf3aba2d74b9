"""The real index (btc_usd, eth_usd), never a perpetual's close, into index_prices, one series per source:

* 'funding'  hourly: the `index_price` of each funding-history row (ingest.datasets.funding), at its timestamp;
* 'delivery' daily: get_delivery_prices, the 08:00 UTC settlement price, stored at 08:00 UTC of its date;
* 'trades'   minute-level (optional, heavy): the `index_price` every trade carries; one row per minute
             (the minute's first trade), stored at that trade's exact timestamp;
* 'ticker'   now: get_index_price, called every minute by the live collector.

Sample payloads:
    get_index_price(index_name=btc_usd)
        {"index_price": 67512.4, "estimated_delivery_price": 67512.4}
    get_delivery_prices(index_name=btc_usd, offset=0, count=2)
        {"records_total": 1857, "data": [{"date": "2024-05-31", "delivery_price": 67489.17},
                                         {"date": "2024-05-30", "delivery_price": 68330.72}]}
    a trade (get_last_trades_by_currency_and_time, history host)
        {"trade_id": "309561112", "trade_seq": 112833, "instrument_name": "BTC-PERPETUAL",
         "timestamp": 1717200001234, "price": 67520.5, "amount": 10.0, "direction": "buy",
         "tick_direction": 1, "index_price": 67512.4, "mark_price": 67521.02}

Public API:
    index_name_for(instrument_or_currency)        -> "btc_usd" for "BTC-PERPETUAL" or "BTC"
    from_funding(index_name, funding_validated)   -> Validated index rows, source 'funding'
    fetch_delivery_prices(client, index_name, offset=0, count=1000) -> raw result (one call)
    delivery_rows(index_name, result, start_ms=None, end_ms=None)  -> Validated, source 'delivery'
    trades_rows(index_name, trades, start_ms=None, end_ms=None)    -> Validated, source 'trades'
    ticker(client, index_name, ts_ms=None)        -> Validated with one row, source 'ticker'
    load(conn, validated)                         -> (rows inserted or changed, rows quarantined)
Rows are in INDEX_PRICES column order: (ts, index_name, price, source).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import click
import psycopg

from ingest.backfill.checkpoints import DoneIndex
from ingest.backfill.engine import Fetched, Part, Window
from ingest.backfill.planning import EARLIEST_MS, Context, grid_windows
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit.calendar import base_currency_of
from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import (
    DAY_MS,
    HOUR_MS,
    INDEX_NAMES,
    MAX_DELIVERY_PRICES_PER_CALL,
    MAX_TRADES_PER_CALL,
    MINUTE_MS,
)
from ingest.live.jobs import API_ERRORS, JobResult, fetch_clean, store_forward_only
from ingest.storage.load import load_validated
from ingest.storage.tables import INDEX_PRICES
from ingest.storage.validate import (
    Rejected,
    Validated,
    broken_values,
    finite_number,
    is_number,
    json_safe,
    ms_to_datetime,
)

QUARANTINE = "index"  # the quarantine's dataset value for these rows
SOURCES = ("ticker", "funding", "delivery", "trades")
DELIVERY_HOUR_MS = 8 * HOUR_MS


def index_name_for(name: str) -> str:
    """'btc_usd' for 'BTC', 'BTC-PERPETUAL', 'BTC-27DEC24', 'BTC_USDC-PERPETUAL' (the coin's USD index)."""
    coin = base_currency_of(name)
    return INDEX_NAMES.get(coin, f"{coin.lower()}_usd")


def _price_problem(x: Any) -> str | None:
    if not is_number(x):
        return "price is not a number"
    if not finite_number(x):
        return "price is not finite"
    if x <= 0:
        return "price is not positive"
    return None


def from_funding(index_name: str, funding: Validated) -> Validated:
    """Index rows from validated funding rows (ingest.datasets.funding.validate): (ts, index_name, index_price,
    'funding'). Funding rows were validated already (finite positive index_price)."""
    out = Validated()
    out.rows = [(r[0], index_name, r[4], "funding") for r in funding.rows]
    return out


def fetch_delivery_prices(client: DeribitClient, index_name: str, offset: int = 0,
                          count: int = MAX_DELIVERY_PRICES_PER_CALL) -> Any:
    return client.call("get_delivery_prices", {"index_name": index_name, "offset": offset, "count": count})


def _date_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return None
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000) + DELIVERY_HOUR_MS


def delivery_rows(index_name: str, result: Any, start_ms: int | None = None, end_ms: int | None = None
                  ) -> Validated:
    """(08:00 UTC of `date`, index_name, delivery_price, 'delivery') for each record inside the range."""
    out = Validated()
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list):
        out.rejected.append(Rejected(QUARANTINE, index_name, "delivery prices: no data list", json_safe(result),
                                     whole=True))
        return out
    for item in data:
        ts = _date_ms(item.get("date")) if isinstance(item, dict) else None
        if ts is None:
            out.rejected.append(Rejected(QUARANTINE, index_name, "delivery price without a valid date",
                                         json_safe(item), whole=True))
            continue
        reason = _price_problem(item.get("delivery_price"))
        if reason:
            out.rejected.append(Rejected(QUARANTINE, index_name, f"delivery {reason}", json_safe(item),
                                         whole=broken_values(item.get("delivery_price"))))
            continue
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms):
            continue
        out.rows.append((ms_to_datetime(ts), index_name, item["delivery_price"], "delivery"))
    return out


def trades_rows(index_name: str, trades: Iterable[Any], start_ms: int | None = None,
                end_ms: int | None = None) -> Validated:
    """One row per minute: the first trade of each minute (by timestamp) with a valid index_price,
    at the trade's own timestamp. Trades with an invalid index_price are quarantined."""
    out = Validated()
    first: dict[int, tuple[int, float]] = {}
    for t in trades:
        ts = t.get("timestamp") if isinstance(t, dict) else None
        if not isinstance(ts, int) or isinstance(ts, bool):
            out.rejected.append(Rejected(QUARANTINE, index_name, "trade without an integer timestamp",
                                         json_safe(t), whole=True))
            continue
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms):
            continue
        price = t.get("index_price")
        reason = _price_problem(price)
        if reason:
            out.rejected.append(Rejected(QUARANTINE, index_name, f"trade index_{reason}", json_safe(t),
                                         whole=broken_values(price)))
            continue
        minute = ts - ts % MINUTE_MS
        kept = first.get(minute)
        if kept is None or ts < kept[0]:
            first[minute] = (ts, price)
    out.rows = [(ms_to_datetime(ts), index_name, price, "trades") for ts, price in
                (first[m] for m in sorted(first))]
    return out


def ticker(client: DeribitClient, index_name: str, ts_ms: int | None = None) -> Validated:
    """get_index_price now, as one row (ts_ms or the wall clock floored to the second, index_name,
    index_price, 'ticker'); an invalid answer comes back as a Rejected instead."""
    result = client.call("get_index_price", {"index_name": index_name})
    if ts_ms is None:
        ts_ms = int(time.time()) * 1000
    out = Validated()
    price = result.get("index_price") if isinstance(result, dict) else None
    reason = _price_problem(price)
    if reason:
        out.rejected.append(Rejected(QUARANTINE, index_name, f"ticker index_{reason}", json_safe(result)))
    else:
        out.rows.append((ms_to_datetime(ts_ms), index_name, price, "ticker"))
    return out


def load(conn: psycopg.Connection, validated: Validated) -> tuple[int, int]:
    """COPY + upsert into index_prices and quarantine the rejects, in one transaction (idempotent)."""
    return load_validated(conn, INDEX_PRICES, validated)


def merge(parts) -> Validated:
    out = Validated()
    for v in parts:
        out.rows.extend(v.rows)
        out.rejected.extend(v.rejected)
    return out


# --------------------------------------------------------------------------- backfill

# the index's history comes from three sources (see the module docstring)
BACKFILL_SOURCES = ("funding", "delivery", "trades")
DEFAULT_BACKFILL_SOURCES = ("funding", "delivery")
DEFAULT_TRADES_DAYS = 30  # --source trades without --since: the last 30 days (a day is ~10 requests)


def index_names(ctx: Context) -> list[str]:
    return list(dict.fromkeys(index_name_for(c) for c in ctx.currencies()))


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
                result = fetch_delivery_prices(ctx.client, index_name, offset)
                v = delivery_rows(index_name, result, lo, hi)
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
        currency = base_currency_of(index_name)
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
        v = trades_rows(index_name, trades, start, end)
        return Fetched([Part(INDEX_PRICES, v)], empty=not trades)
    return fetch


def plan(ctx: Context, conn, count, probe: bool = True, options: dict | None = None) -> Iterator[Window]:
    from ingest.datasets import funding

    sources = (options or {}).get("sources") or DEFAULT_BACKFILL_SOURCES
    bad = [s for s in sources if s not in BACKFILL_SOURCES]
    if bad:
        raise ValueError(f"unknown index source(s) {bad}; one of {', '.join(BACKFILL_SOURCES)}")
    if "funding" in sources:
        yield from funding.funding_windows(ctx, DoneIndex.load(conn, "funding"), count)
    if "delivery" in sources:
        for w in delivery_windows(ctx):
            count(w.instrument, w.start_ms, w.end_ms, False)
            yield w
    if "trades" in sources:
        yield from trades_windows(ctx, DoneIndex.load(conn, "index_trades"), count)


# --------------------------------------------------------------------------- live

def live(ctx, client, minute_ms: int) -> JobResult:
    """get_index_price for btc_usd and eth_usd, stored at the run's minute with source 'ticker'."""
    r = JobResult(expected=True)
    parts = []
    for currency in ctx.config.currencies:
        name = index_name_for(currency)
        try:
            parts.append(fetch_clean(partial(ticker, client, name, ts_ms=minute_ms)))
        except API_ERRORS as exc:
            r.fail(name, exc)
    store_forward_only(ctx, "index", INDEX_PRICES, merge(parts), minute_ms, r)
    return r


SOURCE_OPTION = click.option(
    "--source", "sources", multiple=True, type=click.Choice(BACKFILL_SOURCES),
    help="Index sources (repeatable): funding (hourly), delivery (daily 08:00 UTC), trades (minute-level "
         "from trades on the history host: heavy; default last 30 days). Default: funding and delivery.")

BACKFILL_HELP = """The real btc_usd / eth_usd index
    (never a perpetual's close) into index_prices.

    \b
    Example:
        ingest backfill index
        ingest backfill index --source trades --since 2024-05-01 --until 2024-05-02
    """


DATASET = Dataset(
    name="index",
    description="the real btc_usd / eth_usd index (never a perpetual's close)",
    tables=(INDEX_PRICES,),
    order=25,
    forward_only=True,  # the minute-level index now ('ticker'); history is rebuilt from other sources
    backfill=Backfill(plan=plan, checkpoints=("funding", "index_trades"),
                      instrument_kinds=frozenset({"perpetual", "future", "option"}), help=BACKFILL_HELP,
                      options=(SOURCE_OPTION,)),
    live=Live(job=live, schedule={"second": 2}, on_takeover=True, spool=True),
    freshness=Freshness(query="freshness_index", expected=("btc_usd/ticker", "eth_usd/ticker")),
)
