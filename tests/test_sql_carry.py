"""Constant-maturity futures basis (revision 0012) and carry (0013) against the simulated market.

Twelve hours of the simulator's BTC-PERPETUAL and every BTC future alive on 2025-06-10 (dailies,
weeklies, monthlies, quarterlies: 0.8 to 108 days to expiry), and the perpetual's hourly funding,
loaded as the backfill loads them and refreshed by ingest.storage.analytics.refresh. Expected values are
computed here in numpy from the loaded candles (the last close of each hour, the futures' expiries),
not read back from SQL; the annualized basis is also compared with the simulator's own contango
(F = index exp(b tau), P = index (1 + premium)).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg
import pytest

from ingest.datasets import funding
from ingest.sim.market import Market
from ingest.storage import analytics
from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUTURES_OHLCV, PERPETUALS_OHLCV

from .conftest import wipe
from .test_sql_basis import add_sim_instrument, sim_candles
from .test_sql_support import refresh_all
from .test_sql_vol_support import BASIS_TENORS, UTC, ms, wipe_analytics

START = datetime(2025, 6, 10, 6, tzinfo=UTC)
HOURS = 12
PERP = "BTC-PERPETUAL"
DAY_MS = 86_400_000
# a funding hour the test leaves out (carry is NULL there, not invented)
NO_FUNDING_HOUR = START + timedelta(hours=5)


@pytest.fixture(scope="module")
def market():
    return Market(seed=0)


@pytest.fixture(scope="module")
def loaded(migrated_url, market):
    with psycopg.connect(migrated_url, autocommit=True) as db:
        wipe(db)
        wipe_analytics(db)
        s, e = ms(START), ms(START + timedelta(hours=HOURS)) - 60_000
        now = e + DAY_MS
        closes = {}
        for inst in market.list_instruments("BTC", "future", s):
            rows = sim_candles(market, inst.name, s, e, now)
            copy_upsert(db, PERPETUALS_OHLCV if inst.is_perpetual else FUTURES_OHLCV, rows)
            add_sim_instrument(db, market, inst.name)
            closes[inst.name] = {r[0]: float(r[5]) for r in rows}
        expiries = {i.name: i.expiration_ms for i in market.list_instruments("BTC", "future", s)
                    if not i.is_perpetual}
        rates = funding.validate(PERP, market.funding("BTC", s, e + 2 * 3_600_000, now, limit=None))
        funding.load(db, rates)
        db.execute("DELETE FROM funding_rates WHERE ts = %s", (NO_FUNDING_HOUR + timedelta(hours=1),))
        refresh_all(db)
        analytics.refresh(db, START, START + timedelta(hours=HOURS))
        yield {"db": db, "closes": closes, "expiries": expiries,
               "funding": {r[0]: r[2] for r in rates.rows}}


def rows(db, sql, params=()):
    cur = db.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def expected_curve(loaded, hour: datetime) -> list[tuple[float, float, str]]:
    """(days to expiry from the end of the hour, basis in percent, future) of every future that has
    a close in the hour, from the loaded candles."""
    last = hour + timedelta(minutes=59)
    perp = loaded["closes"][PERP][last]
    out = []
    for name, expiry_ms in loaded["expiries"].items():
        close = loaded["closes"][name].get(last)
        if close is None:
            continue
        days = (expiry_ms - ms(hour + timedelta(hours=1))) / DAY_MS
        if days > 0:
            out.append((days, (close - perp) * 100 / perp, name))
    return out


def expected_basis(curve, tenor: int):
    lo = [p for p in curve if p[0] <= tenor]
    hi = [p for p in curve if p[0] >= tenor]
    if not lo or not hi:
        return None, None, None
    d1, b1, f1 = max(lo)
    d2, b2, f2 = min(hi)
    b = b1 if d1 == tenor else b2 if d2 == tenor else b1 + (b2 - b1) * (tenor - d1) / (d2 - d1)
    return b, f1, f2


def test_constant_maturity_basis_interpolates_the_futures_curve(loaded):
    stored = {(r["ts"], r["tenor_days"]): r for r in rows(loaded["db"], "SELECT * FROM basis_cm_1h")}
    assert len(stored) == HOURS * len(BASIS_TENORS)
    inside = 0
    for h in range(HOURS):
        hour = START + timedelta(hours=h)
        curve = expected_curve(loaded, hour)
        assert len(curve) >= 6
        for tenor in BASIS_TENORS:
            row = stored[(hour, tenor)]
            assert row["currency"] == "BTC"
            basis, below, above = expected_basis(curve, tenor)
            if basis is None:
                assert row["basis_pct"] is None and row["annualized_basis_pct"] is None, (hour, tenor)
                assert row["future_below"] is None and row["future_above"] is None
                continue
            inside += 1
            assert row["basis_pct"] == pytest.approx(basis, rel=1e-9, abs=1e-12), (hour, tenor)
            assert row["annualized_basis_pct"] == pytest.approx(basis * 365 / tenor, rel=1e-9, abs=1e-12)
            assert (row["future_below"], row["future_above"]) == (below, above)
    assert inside == HOURS * 3  # 30, 60, 90 days inside the curve; 180 beyond the longest future


def test_constant_maturity_basis_follows_the_simulators_contango(loaded, market):
    """The simulator prices F = index exp(b tau) and P = index (1 + premium): averaged over the hours,
    the annualized basis at each tenor is the model's within the trade noise of the closes (half a
    spread of 0.5-2.5 bp on each price, a close up to a few minutes before the end of the hour)."""
    got = rows(loaded["db"], "SELECT ts, tenor_days, annualized_basis_pct FROM basis_cm_1h "
                             "WHERE annualized_basis_pct IS NOT NULL")
    by_tenor: dict[int, list[tuple[float, float]]] = {}
    for r in got:
        t = ms(r["ts"]) + 3_600_000
        tau = r["tenor_days"] / 365
        model = (math.exp(market.basis("BTC", t) * tau) / (1 + market.premium("BTC", t)) - 1) * 100 / tau
        by_tenor.setdefault(r["tenor_days"], []).append((r["annualized_basis_pct"], model))
    assert sorted(by_tenor) == [30, 60, 90]
    for tenor, pairs in by_tenor.items():
        mean_got = sum(g for g, _ in pairs) / len(pairs)
        mean_model = sum(m for _, m in pairs) / len(pairs)
        assert 1 < mean_model < 30  # a realistic contango
        # 5 bp of noise on a basis in percent, annualized over the tenor
        assert mean_got == pytest.approx(mean_model, abs=0.05 * 365 / tenor), tenor


def test_carry_1h_sets_funding_beside_the_30_day_basis(loaded):
    db = loaded["db"]
    stored = {(r["ts"], r["tenor_days"]): r for r in rows(db, "SELECT * FROM basis_cm_1h")}
    carry = rows(db, "SELECT * FROM carry_1h WHERE currency = 'BTC' ORDER BY ts")
    assert [r["ts"] for r in carry] == [START + timedelta(hours=h) for h in range(HOURS)]
    for r in carry:
        assert r["perpetual"] == PERP
        basis = stored[(r["ts"], 30)]["annualized_basis_pct"]
        rate = loaded["funding"].get(r["ts"] + timedelta(hours=1))  # stamped at the end of its hour
        assert abs(r["basis_30d_annualized_pct"] - basis) <= 0.005 + 1e-9
        if r["ts"] == NO_FUNDING_HOUR:
            assert r["funding_annualized_pct"] is None and r["spread_pct"] is None
            continue
        funding_pct = rate * 24 * 365 * 100
        assert abs(r["funding_annualized_pct"] - funding_pct) <= 0.005 + 1e-9
        assert abs(r["spread_pct"] - (basis - funding_pct)) <= 0.005 + 1e-9
        assert repr(r["spread_pct"]) == repr(round(r["spread_pct"], 2))


def test_carry_1d_averages_the_days_hours(loaded):
    db = loaded["db"]
    stored = {r["ts"]: r["annualized_basis_pct"]
              for r in rows(db, "SELECT * FROM basis_cm_1h WHERE tenor_days = 30")}
    (day,) = rows(db, "SELECT * FROM carry_1d WHERE currency = 'BTC'")
    hours = [START + timedelta(hours=h) for h in range(HOURS)]
    rates = [loaded["funding"][h + timedelta(hours=1)] for h in hours if h != NO_FUNDING_HOUR]
    basis = [stored[h] for h in hours]
    assert day["ts"] == START.replace(hour=0) and day["perpetual"] == PERP
    assert (day["funding_hours"], day["basis_hours"]) == (HOURS - 1, HOURS)
    funding_pct = sum(rates) / len(rates) * 24 * 365 * 100
    basis_pct = sum(basis) / len(basis)
    assert abs(day["funding_annualized_pct"] - funding_pct) <= 0.005 + 1e-9
    assert abs(day["basis_30d_annualized_pct"] - basis_pct) <= 0.005 + 1e-9
    assert abs(day["spread_pct"] - (basis_pct - funding_pct)) <= 0.005 + 1e-9


def test_basis_view_rounds_and_the_perpetual_is_not_a_future(loaded):
    db = loaded["db"]
    view = rows(db, "SELECT * FROM basis_constant_maturity_1h ORDER BY ts, tenor_days")
    table = rows(db, "SELECT * FROM basis_cm_1h ORDER BY ts, tenor_days")
    assert len(view) == len(table)
    for v, t in zip(view, table, strict=True):
        if t["basis_pct"] is None:
            assert v["basis_pct"] is None and v["annualized_basis_pct"] is None
            continue
        assert abs(v["basis_pct"] - t["basis_pct"]) <= 0.00005 + 1e-12
        assert abs(v["annualized_basis_pct"] - t["annualized_basis_pct"]) <= 0.005 + 1e-12
        assert PERP not in (v["future_below"], v["future_above"])
    # the perpetual's instruments row (expiry in year 3000) would bracket 180 days if it counted
    assert db.execute("SELECT expiration_timestamp > now() + INTERVAL '100 years' FROM instruments "
                      "WHERE instrument_name = %s", (PERP,)).fetchone() == (True,)
    assert all(t["basis_pct"] is None for t in table if t["tenor_days"] == 180)
