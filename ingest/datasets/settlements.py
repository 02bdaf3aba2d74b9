"""Settlement, delivery and bankruptcy events of BTC and ETH into `settlements`, every field the payload
carries (the documented ones as columns, anything else in `extra`).

Source: get_last_settlements_by_currency(currency, count ≤ 1,000, search_start_timestamp, continuation):
newest first; `search_start_timestamp` is an upper bound, `continuation` (a string, null at the end)
gives the next, older page. Public answers carry platform-wide aggregates in profit_loss and
session_profit_loss (the docs' note).

Sample result:
    {"settlements": [{"type": "delivery", "timestamp": 1550242800013, "session_profit_loss": 4.703907906,
                      "profit_loss": -0.427669766, "position": 64, "mark_price": 0.121679828,
                      "instrument_name": "BTC-15FEB19-4000-P", "index_price": 3566.08}],
     "continuation": "2Z7mdtavzYvfuyYcHkJXvPTr9ZSMsEzM3sLCH7AbYEDd1AzTXY2hnhegQDiaP1TtU4b5iSJZ4"}
Fields: type (settlement | delivery | bankruptcy), timestamp, instrument_name (settlement and delivery),
index_price, mark_price, position, profit_loss, session_profit_loss, funding (perpetuals), funded,
socialized, session_bankruptcy, session_tax, session_tax_rate (bankruptcy).

Backfill (`ingest backfill settlements`): windows of 30 days on a fixed grid, newest first, each read
from its end (search_start_timestamp) back through its start with `continuation`; independent, so they
are fetched in parallel and checkpointed (dataset 'settlements', instrument = the currency). Without
--since, the first window that holds nothing is the start of the history. Live (job 'settlements',
hourly): the window from the newest stored event (at most catchup_days back) to now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import click
from psycopg.types.json import Jsonb

from ingest.backfill.engine import Fetched, Part, Window
from ingest.backfill.planning import EARLIEST_MS
from ingest.datasets.base import Backfill, Dataset, Freshness, Live
from ingest.deribit.quirks import CURRENCIES, DAY_MS, HOUR_MS
from ingest.storage.tables import TS, TableSpec
from ingest.storage.validate import BrokenAnswer, Rejected, Validated, finite_number, json_safe, ms_to_datetime

NAME = "settlements"
TYPES = ("settlement", "delivery", "bankruptcy")
MAX_SETTLEMENTS_PER_CALL = 1_000
GRID_MS = 30 * DAY_MS
MAX_PAGES_PER_WINDOW = 100
# the documented numeric fields, in column order
NUMBERS = ("index_price", "mark_price", "position", "profit_loss", "session_profit_loss", "funding", "funded",
           "socialized", "session_bankruptcy", "session_tax", "session_tax_rate")
KNOWN = frozenset(("type", "timestamp", "instrument_name") + NUMBERS)

SETTLEMENTS = TableSpec(
    "settlements",
    (("ts", TS), ("currency", "text"), ("type", "text"), ("instrument_name", "text"),
     *((n, "double precision") for n in NUMBERS), ("extra", "jsonb")),
    ("currency", "type", "instrument_name", "ts"),
)


def event_row(currency: str, item: Any) -> tuple[tuple | None, str | None, bool]:
    """(row in SETTLEMENTS order, None, _) for a valid event; (None, reason, broken) otherwise. A
    bankruptcy names no instrument: its instrument_name is '' (part of the key)."""
    if not isinstance(item, dict):
        return None, "event is not an object", True
    ts = item.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return None, "timestamp is not an integer", True
    typ = item.get("type")
    if typ not in TYPES:
        return None, f"type {typ!r} is not settlement, delivery or bankruptcy", not isinstance(typ, str)
    name = item.get("instrument_name")
    if name is None and typ == "bankruptcy":
        name = ""
    if not isinstance(name, str) or (not name and typ != "bankruptcy"):
        return None, "instrument_name is not a string", not isinstance(name, (str, type(None)))
    values = []
    for key in NUMBERS:
        x = item.get(key)
        if x is not None and not finite_number(x):
            return None, f"{key} is not a finite number", True
        values.append(x)
    if values[0] is not None and values[0] <= 0:
        return None, "index_price is not positive", False
    extra = {k: v for k, v in item.items() if k not in KNOWN}
    # session_bankrupcy: the spelling of older documentation
    if "session_bankrupcy" in extra and values[NUMBERS.index("session_bankruptcy")] is None:
        x = extra.pop("session_bankrupcy")
        if x is not None and not finite_number(x):
            return None, "session_bankrupcy is not a finite number", True
        values[NUMBERS.index("session_bankruptcy")] = x
    return (ms_to_datetime(ts), currency, typ, name, *values, Jsonb(extra) if extra else None), None, False


def validate(currency: str, events: list, start_ms: int, end_ms: int, out: Validated, seen: set) -> None:
    for item in events:
        row, problem, broken = event_row(currency, item)
        if row is None:
            name = item.get("instrument_name") if isinstance(item, dict) else None
            out.rejected.append(Rejected(NAME, name if isinstance(name, str) else currency, problem,
                                         json_safe(item), whole=broken))
            continue
        ts = item["timestamp"]
        key = (row[2], row[3], ts)
        if start_ms <= ts <= end_ms and key not in seen:
            seen.add(key)
            out.rows.append(row)


def fetch_window(client, currency: str, start_ms: int, end_ms: int) -> Validated:
    """Every event of [start, end]: from `end` backwards, page by page, until past `start` or the end of
    the history. Raises BrokenAnswer for an answer without a settlements list."""
    out = Validated()
    seen: set = set()
    params: dict = {"currency": currency, "count": MAX_SETTLEMENTS_PER_CALL, "search_start_timestamp": end_ms}
    for _ in range(MAX_PAGES_PER_WINDOW):
        result = client.call("get_last_settlements_by_currency", params)
        events = result.get("settlements") if isinstance(result, dict) else None
        if not isinstance(events, list):
            raise BrokenAnswer(f"{currency} settlements of [{ms_to_datetime(start_ms)}, {ms_to_datetime(end_ms)}]: "
                               "answer without a settlements list")
        validate(currency, events, start_ms, end_ms, out, seen)
        stamps = [e["timestamp"] for e in events if isinstance(e, dict) and isinstance(e.get("timestamp"), int)]
        cont = result.get("continuation")
        if not events or not cont or not stamps or min(stamps) < start_ms:
            return out
        params = {"currency": currency, "count": MAX_SETTLEMENTS_PER_CALL, "continuation": cont}
    raise BrokenAnswer(f"{currency} settlements: more than {MAX_PAGES_PER_WINDOW} pages for one window")


def _window_fetch(client, currency: str, start_ms: int, end_ms: int):
    def fetch() -> Fetched:
        v = fetch_window(client, currency, start_ms, end_ms)
        return Fetched([Part(SETTLEMENTS, v)], empty=not v.rows and not v.rejected)
    return fetch


def plan(ctx, conn, count, probe: bool = True, options: Mapping | None = None) -> Iterator[Window]:
    """Per currency, 30-day windows on a fixed grid from now (or --until) back to --since, or, without
    it, until a window holds nothing (the start of the history; an earlier run's empty done window
    says so too)."""
    from ingest.backfill.checkpoints import DoneIndex

    options = options or {}
    currencies = tuple(options.get("currency") or CURRENCIES)
    done = DoneIndex.load(conn, NAME)
    hi = ctx.now_ms if ctx.until_ms is None else min(ctx.until_ms, ctx.now_ms)
    lo = max(ctx.since_ms if ctx.since_ms is not None else EARLIEST_MS, EARLIEST_MS)
    for currency in currencies:
        end = hi
        while end >= lo:
            g = end - end % GRID_MS
            start = max(g, lo)
            hit = done.contains(currency, start, end, g)
            count(currency, start, end, hit is not None)
            if hit is not None:
                if hit[1] == 0 and ctx.since_ms is None:
                    break  # a finished window that held nothing: the start of the history
            else:
                yield Window(NAME, currency, start, end, _window_fetch(ctx.client, currency, start, end),
                             group=f"{NAME}:{currency}", stop_on_empty=ctx.since_ms is None)
            end = start - 1


# --------------------------------------------------------------------------- live


def live_job(ctx, client, minute_ms: int):
    """Each currency's events from the newest stored one (at most catchup_days back; 2 days when none
    is stored) to now; upserts, so an event seen again changes nothing."""
    from ingest.live.jobs import FETCH_ATTEMPTS, JobResult, isolated
    from ingest.live.writes import load_or_isolate
    from ingest.storage.sqlfiles import query

    r = JobResult()
    now = ctx.now_ms()
    for currency in ctx.config.currencies:
        def one(currency=currency):
            with ctx.connect() as conn:
                last = conn.execute(query("settlements_last_ts"), {"currency": currency}).fetchone()
            horizon = now - int(ctx.config.catchup_days * DAY_MS)
            start = now - 2 * DAY_MS if last is None else max(int(last[0].timestamp() * 1000), horizon)
            v = fetch_window(client, currency, start, now)
            for _ in range(FETCH_ATTEMPTS - 1):
                if not v.rejected:
                    break
                v = fetch_window(client, currency, start, now)
            # a day always settles (the perpetuals at 08:00 UTC): a run over more than a day storing
            # nothing is an error
            r.expected = r.expected or bool(v.rows or v.rejected) or now - start > DAY_MS + HOUR_MS
            with ctx.connect() as conn:
                n, q = load_or_isolate(conn, SETTLEMENTS, v)
            r.loaded(v, n, q)
        isolated(r, f"{currency} settlements", one)
    return r


# --------------------------------------------------------------------------- declaration

CURRENCY_OPTION = click.option(
    "--currency", "currency", multiple=True, type=click.Choice(CURRENCIES),
    help="Currencies (repeatable); default BTC and ETH.")

BACKFILL_HELP = """Settlement, delivery and bankruptcy events of BTC
    and ETH, every field, from now back to the start of the history (or --since), 30 days a window.

    \b
    Example:
        ingest backfill settlements
        ingest backfill settlements --currency ETH --since 2024-01-01
    """

DATASET = Dataset(
    name=NAME,
    description="settlement, delivery and bankruptcy events, every field of the payload",
    tables=(SETTLEMENTS,),
    order=57,
    backfill=Backfill(plan=plan, checkpoints=(NAME,), help=BACKFILL_HELP, options=(CURRENCY_OPTION,)),
    # on takeover too: a fresh collector has its (expected) settlements at once, not up to an hour later
    live=Live(job=live_job, schedule={"minute": 10, "second": 50}, on_takeover=True),
    freshness=Freshness(query="freshness_settlements", expected=("BTC", "ETH")),
)
