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
    iter_delivery_pages(client, index_name, since_ms=0) -> iterator of raw results, newest first,
                                                    stopping once a page reaches before since_ms
    trades_rows(index_name, trades, start_ms=None, end_ms=None)    -> Validated, source 'trades'
    ticker(client, index_name, ts_ms=None)        -> Validated with one row, source 'ticker'
    load(conn, validated)                         -> (rows inserted or changed, rows quarantined)
Rows are in INDEX_PRICES column order: (ts, index_name, price, source).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg

from ingest.deribit.client import DeribitClient
from ingest.deribit.quirks import HOUR_MS, INDEX_NAMES, MAX_DELIVERY_PRICES_PER_CALL, MINUTE_MS
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

DATASET = "index"
SOURCES = ("ticker", "funding", "delivery", "trades")
DELIVERY_HOUR_MS = 8 * HOUR_MS


def index_name_for(name: str) -> str:
    """'btc_usd' for 'BTC', 'BTC-PERPETUAL', 'BTC-27DEC24', 'BTC_USDC-PERPETUAL' (the coin's USD index)."""
    coin = name.split("-")[0].split("_")[0].upper()
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
        out.rejected.append(Rejected(DATASET, index_name, "delivery prices: no data list", json_safe(result),
                                     whole=True))
        return out
    for item in data:
        ts = _date_ms(item.get("date")) if isinstance(item, dict) else None
        if ts is None:
            out.rejected.append(Rejected(DATASET, index_name, "delivery price without a valid date",
                                         json_safe(item), whole=True))
            continue
        reason = _price_problem(item.get("delivery_price"))
        if reason:
            out.rejected.append(Rejected(DATASET, index_name, f"delivery {reason}", json_safe(item),
                                         whole=broken_values(item.get("delivery_price"))))
            continue
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms):
            continue
        out.rows.append((ms_to_datetime(ts), index_name, item["delivery_price"], "delivery"))
    return out


def oldest_delivery_ms(result: Any) -> int | None:
    """The 08:00 UTC instant of the oldest record of a get_delivery_prices page (None if empty)."""
    data = result.get("data") if isinstance(result, dict) else None
    stamps = [_date_ms(d.get("date")) for d in data or [] if isinstance(d, dict)]
    stamps = [s for s in stamps if s is not None]
    return min(stamps) if stamps else None


def iter_delivery_pages(client: DeribitClient, index_name: str, since_ms: int = 0,
                        count: int = MAX_DELIVERY_PRICES_PER_CALL) -> Iterator[Any]:
    """Pages of get_delivery_prices, newest first, until a page is empty, short, or reaches since_ms."""
    offset = 0
    while True:
        result = fetch_delivery_prices(client, index_name, offset, count)
        yield result
        data = result.get("data") if isinstance(result, dict) else None
        if not data or len(data) < count:
            return
        oldest = oldest_delivery_ms(result)
        if oldest is not None and oldest <= since_ms:
            return
        total = result.get("records_total") if isinstance(result, dict) else None
        offset += len(data)
        if isinstance(total, int) and offset >= total:
            return


def trades_rows(index_name: str, trades: Iterable[Any], start_ms: int | None = None,
                end_ms: int | None = None) -> Validated:
    """One row per minute: the first trade of each minute (by timestamp) with a valid index_price,
    at the trade's own timestamp. Trades with an invalid index_price are quarantined."""
    out = Validated()
    first: dict[int, tuple[int, float]] = {}
    for t in trades:
        ts = t.get("timestamp") if isinstance(t, dict) else None
        if not isinstance(ts, int) or isinstance(ts, bool):
            out.rejected.append(Rejected(DATASET, index_name, "trade without an integer timestamp",
                                         json_safe(t), whole=True))
            continue
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms):
            continue
        price = t.get("index_price")
        reason = _price_problem(price)
        if reason:
            out.rejected.append(Rejected(DATASET, index_name, f"trade index_{reason}", json_safe(t),
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
        out.rejected.append(Rejected(DATASET, index_name, f"ticker index_{reason}", json_safe(result)))
    else:
        out.rows.append((ms_to_datetime(ts_ms), index_name, price, "ticker"))
    return out


def load(conn: psycopg.Connection, validated: Validated) -> tuple[int, int]:
    """COPY + upsert into index_prices and quarantine the rejects, in one transaction (idempotent)."""
    return load_validated(conn, INDEX_PRICES, validated)
