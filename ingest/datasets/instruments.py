"""Instruments: what Deribit lists (get_instruments) and what the expiry calendar reconstructs.

Sample get_instruments item (future):
    {"instrument_name": "BTC-27DEC24", "instrument_id": 312045, "kind": "future",
     "base_currency": "BTC", "quote_currency": "USD", "counter_currency": "USD",
     "settlement_currency": "BTC", "settlement_period": "month", "creation_timestamp": 1703232000000,
     "expiration_timestamp": 1735286400000, "is_active": true, "state": "open", "tick_size": 2.5,
     "tick_size_steps": [], "contract_size": 10.0, "min_trade_amount": 10.0,
     "instrument_type": "reversed", "price_index": "btc_usd", "max_leverage": 50}
"""

from __future__ import annotations

from typing import Any, Iterable

import psycopg

from ingest.datasets.base import Dataset, Live
from ingest.deribit.calendar import PERPETUAL_EXPIRATION_MS
from ingest.deribit.client import DeribitClient
from ingest.live.jobs import JobResult, isolated
from ingest.storage.load import load_validated
from ingest.storage.sqlfiles import query
from ingest.storage.tables import INSTRUMENTS
from ingest.storage.validate import Rejected, Validated, is_number, json_safe, ms_to_datetime

KINDS = ("future", "option", "spot", "future_combo", "option_combo")


def fetch(client: DeribitClient, currency: str, kind: str, expired: bool = False) -> list[dict]:
    result = client.call("get_instruments", {"currency": currency, "kind": kind, "expired": expired})
    return result if isinstance(result, list) else []


def _ts(ms: Any):
    # the perpetual's "expiry" (year 3000) is not a date anyone should join on
    if not is_number(ms) or ms <= 0 or ms >= PERPETUAL_EXPIRATION_MS:
        return None
    return ms_to_datetime(int(ms))


def validate(items: Iterable[Any], source: str = "exchange") -> Validated:
    """Rows in INSTRUMENTS column order; items lacking a name, kind or currency are rejected."""
    out = Validated()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("instrument_name"), str) \
                or item.get("kind") not in KINDS or not isinstance(item.get("base_currency"), str):
            out.rejected.append(Rejected("instruments", item.get("instrument_name")
                                         if isinstance(item, dict) else None,
                                         "instrument lacks name, kind or base currency", json_safe(item)))
            continue
        def num(key: str, item: dict = item):
            return item[key] if is_number(item.get(key)) else None

        out.rows.append((
            item["instrument_name"], item["kind"], item["base_currency"], item.get("quote_currency"),
            item.get("settlement_currency"), item.get("settlement_period"),
            _ts(item.get("creation_timestamp")), _ts(item.get("expiration_timestamp")),
            num("strike"), item.get("option_type") if item.get("option_type") in ("call", "put") else None,
            num("tick_size"), num("contract_size"),
            item.get("is_active") if isinstance(item.get("is_active"), bool) else None,
            item.get("state") if isinstance(item.get("state"), str) else None,
            source,
        ))
    return out


def upsert(conn: psycopg.Connection, validated: Validated) -> int:
    return load_validated(conn, INSTRUMENTS, validated, upsert_sql=query("instruments_upsert"))[0]


def sync(client: DeribitClient, conn: psycopg.Connection, currencies=("BTC", "ETH"),
         kinds=("future", "option"), expired: bool = False) -> int:
    """Fetch and upsert the listed instruments; returns rows inserted or changed."""
    total = 0
    for currency in currencies:
        for kind in kinds:
            total += upsert(conn, validate(fetch(client, currency, kind, expired)))
    return total


# --------------------------------------------------------------------------- live

def live(ctx, client, minute_ms: int) -> JobResult:
    """get_instruments for BTC and ETH futures and options (new listings, expiries, is_active)."""
    r = JobResult(expected=True)
    for currency in ctx.config.currencies:
        for kind in ("future", "option"):
            def one(currency=currency, kind=kind):
                v = validate(fetch(client, currency, kind))
                with ctx.connect() as conn:
                    r.rows += upsert(conn, v)
                r.stored += len(v.rows)
                r.quarantined += len(v.rejected)
            isolated(r, f"{currency} {kind}s", one)
    if not r.failures:
        ctx.state["instruments_synced_ms"] = ctx.now_ms()
    return r


DATASET = Dataset(
    name="instruments",
    description="every future and option listed, or reconstructed from the expiry calendar",
    tables=(INSTRUMENTS,),
    order=5,
    live=Live(job=live, schedule={"minute": 0, "second": 40}, on_takeover=True),
)
