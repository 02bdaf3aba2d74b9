"""Every ```sql recipe of docs/analyst-guide.md runs against a loaded database and answers sensibly."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ingest.deribit import calendar as cal
from ingest.sim.market import Market
from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUNDING_RATES, FUTURES_OHLCV, OPTIONS_GREEKS, PERPETUALS_OHLCV

from .conftest import wipe
from .test_dataset_dvol import load_dvol_sample
from .test_dataset_hv import load_hv_sample
from .test_dataset_settlements import load_settlements_sample
from .test_dataset_trades import load_trades_sample
from .test_sql_basis import add_sim_instrument, sim_candles
from .test_sql_support import add_instrument, refresh_all
from .test_sql_vol_support import load_analytics_sample

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "analyst-guide.md"
MIN_MS = 60_000
UTC = timezone.utc


def recipes() -> list[tuple[str, str]]:
    """(title of the section, sql) of every ```sql block."""
    text = GUIDE.read_text()
    out, title = [], ""
    for m in re.finditer(r"^## ([^\n]+)$|^```sql\n(.*?)^```", text, re.S | re.M):
        if m.group(1):
            title = m.group(1).strip()
        else:
            out.append((title, m.group(2)))
    return out


def psql_substitute(block: str) -> str:
    """Apply the block's \\set lines to its :'name' references, as psql does."""
    variables, lines = {}, []
    for line in block.splitlines():
        m = re.match(r"\\set\s+(\w+)\s+'(.*)'\s*$", line)
        if m:
            variables[m.group(1)] = m.group(2)
        else:
            lines.append(line)
    body = "\n".join(lines)
    for name, value in variables.items():
        body = body.replace(f":'{name}'", "'" + value.replace("'", "''") + "'")
    assert ":'" not in body, "an undefined psql variable"
    return body


@pytest.fixture(scope="module")
def loaded(migrated_url):
    market = Market(seed=0)
    with psycopg.connect(migrated_url, autocommit=True) as db:
        wipe(db)
        # a backfilled contract with a hole, and its perpetual
        s = cal.to_ms(datetime(2024, 10, 1, tzinfo=UTC))
        e = s + 3 * 86_400_000 - MIN_MS
        copy_upsert(db, PERPETUALS_OHLCV, sim_candles(market, "BTC-PERPETUAL", s, e, e + 86_400_000))
        copy_upsert(db, FUTURES_OHLCV, sim_candles(market, "BTC-27DEC24", s, e, e + 86_400_000))
        add_sim_instrument(db, market, "BTC-PERPETUAL")
        add_sim_instrument(db, market, "BTC-27DEC24")
        db.execute(
            "DELETE FROM futures_ohlcv WHERE instrument_name = 'BTC-27DEC24' "
            "AND ts >= '2024-10-02 03:00+00' AND ts < '2024-10-02 03:17+00'"
        )
        # the live market of the last half hour
        now_ms = int(time.time() * 1000) // MIN_MS * MIN_MS
        copy_upsert(
            db,
            PERPETUALS_OHLCV,
            sim_candles(market, "BTC-PERPETUAL", now_ms - 30 * MIN_MS, now_ms - MIN_MS, now_ms),
        )
        for inst in market.list_instruments("BTC", "future", now_ms):
            if not inst.is_perpetual:
                copy_upsert(
                    db,
                    FUTURES_OHLCV,
                    sim_candles(market, inst.name, now_ms - 30 * MIN_MS, now_ms - MIN_MS, now_ms),
                )
                add_sim_instrument(db, market, inst.name)
        # a year of hourly funding
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        copy_upsert(
            db,
            FUNDING_RATES,
            [
                (
                    t0 + timedelta(hours=h),
                    "BTC-PERPETUAL",
                    Decimal("0.0000100000") + Decimal(h % 24) / Decimal(10**8),
                    Decimal("0.00008"),
                    Decimal(60000),
                    Decimal(60000),
                )
                for h in range(366 * 24)
            ],
        )
        # an option chain: two expiries, three strikes, calls and puts
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        rows = []
        for days in (7, 35):
            expiry = (now + timedelta(days=days)).replace(hour=8, minute=0)
            for strike in (50000, 60000, 70000):
                for kind in ("call", "put"):
                    name = f"BTC-{cal.future_name('BTC', expiry)[4:]}-{strike}-{kind[0].upper()}"
                    add_instrument(
                        db,
                        name,
                        kind="option",
                        creation=now - timedelta(days=60),
                        expiration=expiry,
                        strike=Decimal(strike),
                        option_type=kind,
                    )
                    delta = Decimal("0.5") if kind == "call" else Decimal("-0.5")
                    for age in (3, 2, 1):
                        rows.append(
                            (
                                now - timedelta(minutes=age),
                                name,
                                "exchange",
                                delta,
                                Decimal("0.00002"),
                                Decimal("40.5"),
                                Decimal("-80.25"),
                                Decimal("1.5"),
                                Decimal(50 + age),
                                Decimal(49),
                                Decimal(52),
                                Decimal("0.05"),
                                Decimal(61000),
                                Decimal(60990),
                                Decimal(100),
                                Decimal(0),
                                "exchange",
                            )
                        )
        copy_upsert(db, OPTIONS_GREEKS, rows)
        # the trade tape of a day, its settlements, DVOL (around the chain sample and the last two days),
        # historical volatility now
        day = cal.to_ms(datetime(2024, 10, 1, tzinfo=UTC))
        load_trades_sample(db, market, "BTC", day)
        load_settlements_sample(db, market, "BTC", day - 6 * 86_400_000, 7)
        load_dvol_sample(db, market, cal.to_ms(datetime(2025, 6, 4, tzinfo=UTC)),
                         cal.to_ms(datetime(2025, 6, 10, 23, 59, tzinfo=UTC)))
        load_dvol_sample(db, market, now_ms - 2 * 86_400_000, now_ms - MIN_MS)
        load_hv_sample(db, market, now_ms)
        refresh_all(db)
        load_analytics_sample(db, market, now_ms)  # chain snapshots, futures, funding; refreshed
        db.execute("ANALYZE")
        yield db


def run_as_analyst(db, query):
    with db.transaction():
        db.execute("SET LOCAL ROLE analyst")
        cur = db.execute(query)
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return rows


def test_the_guide_has_the_recipes_the_issue_asks_for():
    titles = {t for t, _ in recipes()}
    assert {
        "Basis term structure now",
        "Annualized basis history of a contract",
        "Funding over a year",
        "Coverage and gaps of a contract",
        "The option chain with greeks",
        "ATM volatility term structure now",
        "Skew by expiry",
        "Constant-maturity volatility, day by day",
        "The 30-day ATM, hour by hour",
        "Constant-maturity futures basis now",
        "Carry: funding against the 30-day basis",
        "Chain snapshot quality",
        "Largest option trades of a day",
        "Trades per hour by kind and direction",
        "Liquidations per hour",
        "Block trades of a day",
        "Candles of an expired option, from its trades",
        "DVOL day by day",
        "DVOL against the 30-day ATM",
        "Implied against realised volatility",
        "Delivery prices and settlements",
    } <= titles


@pytest.mark.parametrize("index", range(len(recipes())))
def test_recipe_runs_and_answers(loaded, index):
    title, block = recipes()[index]
    rows = run_as_analyst(loaded, psql_substitute(block))
    assert rows, title
    first = rows[0]
    if title == "Basis term structure now":
        assert [r["expiry"] for r in rows] == sorted(r["expiry"] for r in rows)
        assert all(-50 < r["annualized_pct"] < 100 for r in rows)
    elif title == "Annualized basis history of a contract":
        assert len(rows) == 3 and all(0 < r["annualized_pct_at_close"] < 30 for r in rows)
    elif title == "Funding over a year":
        assert len(rows) == 12 and sum(r["days"] for r in rows) == 366
        assert all(8 < r["avg_annualized_pct"] < 20 for r in rows)
    elif title == "Coverage and gaps of a contract" and "gap_start" in first:
        # only 3 days of its life are loaded: from the listing to them, the hole, then up to expiry
        assert [(r["gap_start"], r["gap_end"]) for r in rows] == [
            (datetime(2024, 6, 28, 8, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC)),
            (datetime(2024, 10, 2, 3, tzinfo=UTC), datetime(2024, 10, 2, 3, 17, tzinfo=UTC)),
            (datetime(2024, 10, 4, tzinfo=UTC), datetime(2024, 12, 27, 8, tzinfo=UTC)),
        ]
        assert rows[1]["missing_minutes"] == 17
    elif title == "Coverage and gaps of a contract":
        assert first["candles"] == 3 * 1440 - 17 and first["minutes_missing_in_stored_days"] == 17
    elif title == "The option chain with greeks":
        assert [r["strike"] for r in rows] == [50000, 60000, 70000]
        assert all(r["call_delta"] == Decimal("0.5") and r["put_delta"] == Decimal("-0.5") for r in rows)
        assert all(r["call_iv"] == 51 for r in rows)  # the latest snapshot
    elif title in ("ATM volatility term structure now", "Skew by expiry"):
        assert len(rows) == 7 and [r["expiry"] for r in rows] == sorted(r["expiry"] for r in rows)
        assert all(30 < r["atm_iv"] < 150 for r in rows)  # the simulated BTC level, in percent
        if title == "Skew by expiry":
            assert all(r["rr_25d"] < 0 < r["bf_25d"] for r in rows)  # the simulated smile: put skew, convex
    elif title == "Constant-maturity volatility, day by day":
        assert len(rows) == 1 and rows[0]["atm_180d"] is None and rows[0]["longest_expiry_days"] < 180
        assert 30 < rows[0]["atm_30d"] < 150
    elif title == "The 30-day ATM, hour by hour":
        assert len(rows) == 1 and 30 < rows[0]["atm_iv"] < 150
    elif title == "Constant-maturity futures basis now":
        assert [r["tenor_days"] for r in rows] == [30, 60, 90, 180]
        assert all(-50 < r["annualized_basis_pct"] < 100 for r in rows if r["annualized_basis_pct"] is not None)
        assert rows[0]["future_below"] is not None
    elif title == "Carry: funding against the 30-day basis":
        # the sample's last hours: just after 00:00 UTC the newest day holds one of them, the day before
        # the others, so the day with the most hours is asserted on
        fullest = max(rows, key=lambda r: (r["basis_hours"] or 0, r["funding_hours"] or 0))
        assert fullest["basis_hours"] >= 2 and fullest["funding_hours"] >= 2
        assert fullest["spread_pct"] is not None
    elif title == "Chain snapshot quality":
        assert len(rows) == 7 and all(r["snapshots"] == 2 and r["atm_not_bracketed"] == 0 for r in rows)
        assert sum(r["ivs_inverted"] for r in rows) > 0 and sum(r["ivs_from_mark_iv"] for r in rows) > 0
    elif title == "Largest option trades of a day":
        assert len(rows) == 10 and all(r["instrument_name"].startswith("BTC-") for r in rows)
        assert [r["notional_usd"] for r in rows] == sorted((r["notional_usd"] for r in rows), reverse=True)
    elif title == "Trades per hour by kind and direction":
        day_trades = loaded.execute("SELECT count(*) FROM trades WHERE currency = 'BTC' "
                                    "AND ts >= '2024-10-01 00:00+00' AND ts < '2024-10-02 00:00+00'").fetchone()[0]
        assert len(rows) == 24 * 3 and sum(r["buys"] + r["sells"] for r in rows) == day_trades > 10_000
    elif title == "Liquidations per hour":
        liquidations = loaded.execute("SELECT count(*) FROM trades WHERE liquidation IS NOT NULL").fetchone()[0]
        assert sum(r["trades"] for r in rows) == liquidations
        assert not any(r["instrument_name"].endswith(("-C", "-P")) for r in rows)  # futures and perpetuals
    elif title == "Block trades of a day":
        blocks = loaded.execute("SELECT count(DISTINCT block_trade_id) FROM trades").fetchone()[0]
        assert len(rows) == blocks and all(r["legs"] == 1 for r in rows)
    elif title == "Candles of an expired option, from its trades":
        name = first["instrument_name"]
        volume = loaded.execute("SELECT sum(amount) FROM trades WHERE instrument_name = %s", (name,)).fetchone()[0]
        assert name.startswith("BTC-1OCT24-") and {r["instrument_name"] for r in rows} == {name}
        assert sum(r["volume"] for r in rows) == volume and len(rows) > 3
    elif title == "DVOL day by day":
        assert len(rows) == 7 and all(r["minutes"] == 1440 and 10 < r["low"] <= r["high"] < 300 for r in rows)
    elif title == "DVOL against the 30-day ATM":
        assert len(rows) >= 1 and all(30 < r["atm_30d"] < 150 and 30 < r["dvol"] < 200 for r in rows)
    elif title == "Implied against realised volatility":
        assert len(rows) >= 40 and all(r["realised"] > 0 and r["dvol"] > 0 for r in rows)
    elif title == "Delivery prices and settlements":
        assert len(rows) == 7 and all(r["delivered"] > 0 and not r["disagreement"] for r in rows)
        assert all(float(r["delivery_price"]) == r["settlement_index_price"] for r in rows)
