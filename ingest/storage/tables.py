"""The columns each loader writes, declared once.

Loaders COPY rows in exactly this column order; `tests/test_schema.py` proves that the tables the
migrations create have exactly these columns and types, so a migration and a loader cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

PRICE = "numeric(18,8)"
AMOUNT = "numeric(24,8)"
GREEK = "numeric(12,6)"
IV = "numeric(10,4)"
# funding rates: float64 as the exchange sends them (revision 0007; NUMERIC(20,12) lost digits)
FUNDING = "double precision"
TS = "timestamp with time zone"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type as format_type() prints it)
    key: tuple[str, ...]  # the unique key an upsert conflicts on
    hypertable: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.column_names if c not in self.key)

    @cached_property
    def limits(self) -> dict[int, tuple[str, float]]:
        """Column position -> (column, exclusive bound on |value|) for every NUMERIC(p,s) column: the
        database refuses a value that rounds (to s decimals) to 10^(p-s) or more, and one such value
        would roll back a whole COPY. Derived from the declared types, so the check and the schema
        cannot disagree (tests/test_schema.py proves the types equal the migrated tables')."""
        out = {}
        for i, (column, pg_type) in enumerate(self.columns):
            bound = numeric_bound(pg_type)
            if bound is not None:
                out[i] = (column, bound)
        return out


_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")


def numeric_bound(pg_type: str) -> float | None:
    """The smallest |value| NUMERIC(p,s) cannot hold, as a float: 10^(p-s) minus half a unit of the
    last decimal (a value at or above it rounds up to 10^(p-s)); None for other types."""
    m = _NUMERIC.fullmatch(pg_type)
    if m is None:
        return None
    precision, scale = int(m[1]), int(m[2])
    return float(Decimal(10) ** (precision - scale) - Decimal(5) * Decimal(10) ** (-scale - 1))


_OHLCV = (("ts", TS), ("instrument_name", "text"), ("open", PRICE), ("high", PRICE), ("low", PRICE),
          ("close", PRICE), ("volume", AMOUNT), ("cost", AMOUNT))

PERPETUALS_OHLCV = TableSpec("perpetuals_ohlcv", _OHLCV, ("instrument_name", "ts"))
FUTURES_OHLCV = TableSpec("futures_ohlcv", _OHLCV, ("instrument_name", "ts"))
OPTIONS_OHLCV = TableSpec("options_ohlcv", _OHLCV, ("instrument_name", "ts"))

OPTIONS_GREEKS = TableSpec(
    "options_greeks",
    (("ts", TS), ("instrument_name", "text"), ("source", "text"),
     ("delta", GREEK), ("gamma", GREEK), ("vega", GREEK), ("theta", GREEK), ("rho", GREEK),
     ("mark_iv", IV), ("bid_iv", IV), ("ask_iv", IV), ("mark_price", PRICE), ("underlying_price", PRICE),
     ("index_price", PRICE), ("open_interest", AMOUNT), ("interest_rate", GREEK),
     # 'exchange' (mark_iv as sent), 'inverted' (recovered from mark_price), NULL: no IV (revision 0006)
     ("iv_source", "text")),
    ("instrument_name", "ts", "source"),
)

FUNDING_RATES = TableSpec(
    "funding_rates",
    (("ts", TS), ("instrument_name", "text"), ("interest_1h", FUNDING), ("interest_8h", FUNDING),
     ("index_price", PRICE), ("prev_index_price", PRICE)),
    ("instrument_name", "ts"),
)

INDEX_PRICES = TableSpec(
    "index_prices",
    (("ts", TS), ("index_name", "text"), ("price", PRICE), ("source", "text")),
    ("index_name", "source", "ts"),
)

INSTRUMENTS = TableSpec(
    "instruments",
    (("instrument_name", "text"), ("kind", "text"), ("base_currency", "text"), ("quote_currency", "text"),
     ("settlement_currency", "text"), ("settlement_period", "text"), ("creation_timestamp", TS),
     ("expiration_timestamp", TS), ("strike", PRICE), ("option_type", "text"), ("tick_size", PRICE),
     ("contract_size", PRICE), ("is_active", "boolean"), ("state", "text"), ("source", "text")),
    ("instrument_name",),
    hypertable=False,
)

# Which tables the datasets write: each dataset declares its own (ingest.datasets.data_tables()).
BOOKKEEPING_TABLES = ("backfill_checkpoints", "quarantine", "job_heartbeats", "leader_lease",
                      "cagg_refresh_pending")

OHLCV_TABLE_BY_KIND = {"perpetual": PERPETUALS_OHLCV, "future": FUTURES_OHLCV, "option": OPTIONS_OHLCV}
