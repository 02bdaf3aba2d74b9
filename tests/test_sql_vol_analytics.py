"""Volatility analytics (revisions 0009-0011, 0014) against the simulator's true volatility surface.

Three hours of BTC and ETH chain snapshots from the simulated exchange's book summaries, loaded
through the project's loader and refreshed by ingest.storage.analytics.refresh:

  12:00-12:59  every summary carries mark_iv: 12:00 complete; 12:30 without the two strikes nearest
               the forward of one expiry (missing strikes); 12:59 BTC with a call wing without quotes
               (calls below 20 delta marked at the minimum tick, no mark_iv: no IV)
  13:00-13:59  no summary carries mark_iv: every IV inverted from the 4-decimal mark (13:00, 13:59)
  14:00-14:59  a quarter of the summaries without mark_iv (the simulator's default); at 14:50 one ETH
               expiry has no strike at or above its forward, so its ATM is NULL and the hour's
               snapshot for it is 14:10

Every metric is compared with the same definition computed in numpy on the true surface
(tests/test_sql_vol_support.py says how, and which tolerances and why).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pytest

from ingest.deribit import calendar as cal
from ingest.sim.market import Market
from ingest.storage import analytics

from .conftest import wipe
from .test_sql_vol_support import (
    UTC,
    VOL_TENORS,
    TrueSurface,
    drop_strikes_from_forward_up,
    drop_strikes_near_forward,
    exchange,
    expected_atm,
    expected_constant_maturity,
    expected_iv_at_delta,
    load_instruments,
    load_snapshot,
    ms,
    quiet_call_wing,
    total_variance_interp,
    wipe_analytics,
)

H1 = datetime(2025, 6, 10, 12, tzinfo=UTC)
MISSING_STRIKES = {"BTC": "13JUN25", "ETH": "27JUN25"}
WING = ("BTC", "27JUN25")
NO_ATM = ("ETH", "20JUN25")
DELTAS = {"iv_call_25d": 0.25, "iv_put_25d": -0.25, "iv_call_10d": 0.10, "iv_put_10d": -0.10}


@pytest.fixture(scope="module")
def market():
    return Market(seed=0)


@pytest.fixture(scope="module")
def loaded(migrated_url, market):
    with psycopg.connect(migrated_url, autocommit=True) as db:
        wipe(db)
        wipe_analytics(db)
        with_iv, inverted, mixed = exchange(market, 0.0), exchange(market, 1.0), exchange(market, 0.25)
        load_instruments(db, with_iv, ("BTC", "ETH"), ms(H1))
        snaps = []
        for cur in ("BTC", "ETH"):
            t = ms(H1)
            snaps.append(load_snapshot(db, with_iv, cur, t))
            holed = drop_strikes_near_forward(MISSING_STRIKES[cur])
            snaps.append(load_snapshot(db, with_iv, cur, t + 30 * 60_000, holed))
            wing = [quiet_call_wing(market, cur, t + 59 * 60_000, WING[1])] if cur == WING[0] else []
            snaps.append(load_snapshot(db, with_iv, cur, t + 59 * 60_000, *wing))
            snaps.append(load_snapshot(db, inverted, cur, t + 60 * 60_000))
            snaps.append(load_snapshot(db, inverted, cur, t + 119 * 60_000))
            snaps.append(load_snapshot(db, mixed, cur, t + 130 * 60_000))
            no_atm = [drop_strikes_from_forward_up(NO_ATM[1])] if cur == NO_ATM[0] else []
            snaps.append(load_snapshot(db, mixed, cur, t + 170 * 60_000, *no_atm))
        result = analytics.refresh(db, H1, H1 + timedelta(hours=3))
        assert result.hours == 3
        yield {"db": db, "snaps": snaps, "market": market}


def rows(db, sql, params=()):
    cur = db.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def code(expiry_ms: int) -> str:
    """The expiry as instrument names spell it (13JUN25)."""
    return cal.future_name("BTC", cal.from_ms(expiry_ms)).split("-")[1]


def hourly_expected(loaded):
    """(hour, currency, expiry_ms) -> (snapshot, surface, quotes, expected ATM) of the hour's snapshot:
    the latest one whose ATM exists (the latest one if none has)."""
    market = loaded["market"]
    groups: dict = {}
    for snap in loaded["snaps"]:
        hour = snap.ts.replace(minute=0)
        for expiry_ms, quotes in snap.expiries().items():
            surface = TrueSurface(market, snap.currency, expiry_ms, snap.t_ms)
            groups.setdefault((hour, snap.currency, expiry_ms), []).append(
                (snap, surface, quotes, expected_atm(surface, quotes)))
    out = {}
    for key, candidates in groups.items():
        with_atm = [c for c in candidates if c[3].value is not None]
        out[key] = (max(with_atm or candidates, key=lambda c: c[0].t_ms), len(candidates))
    return out


def test_the_scenarios_are_what_they_claim(loaded):
    snaps = {(s.currency, s.ts.strftime("%H:%M")): s for s in loaded["snaps"]}
    assert all(not q.inverted for q in snaps["BTC", "12:00"].quotes)
    assert all(q.inverted for q in snaps["BTC", "13:00"].quotes if q.iv is not None)
    assert 0 < sum(q.inverted for q in snaps["ETH", "14:10"].quotes) < len(snaps["ETH", "14:10"].quotes)
    wing = [q for q in snaps["BTC", "12:59"].quotes if code(q.expiry_ms) == WING[1] and q.is_call]
    assert sum(q.iv is None for q in wing) >= 3 and any(q.iv is not None for q in wing)
    assert len(snaps["BTC", "12:30"].quotes) == len(snaps["BTC", "12:00"].quotes) - 4


def test_atm_of_every_snapshot_and_expiry_matches_the_true_surface(loaded):
    db, market = loaded["db"], loaded["market"]
    stored = {(r["ts"], r["currency"], r["expiry"]): r for r in rows(db, "SELECT * FROM vol_expiry_1m")}
    seen = set()
    worst = 0.0
    for snap in loaded["snaps"]:
        for expiry_ms, quotes in snap.expiries().items():
            key = (snap.ts, snap.currency, cal.from_ms(expiry_ms))
            seen.add(key)
            row = stored[key]
            surface = TrueSurface(market, snap.currency, expiry_ms, snap.t_ms)
            want = expected_atm(surface, quotes)
            assert float(row["forward"]) == surface.F, key
            assert row["years_to_expiry"] == pytest.approx(surface.tau, rel=1e-12), key
            if want.value is None:
                assert row["atm_iv"] is None, key
                continue
            assert row["atm_iv"] is not None, key
            assert abs(row["atm_iv"] - want.value) <= want.tol + 1e-9, (key, row["atm_iv"], want)
            worst = max(worst, abs(row["atm_iv"] - want.value))
            k1, k2 = want.used
            assert float(row["atm_strike_above"]) == k2, key
            if k1 is not None:
                assert float(row["atm_strike_below"]) == k1, key
    assert set(stored) == seen  # one row per loaded (snapshot, expiry), nothing else
    assert worst > 0  # rounding and inversion errors exist: the comparison is not with itself


def test_missing_strikes_widen_the_atm_bracket_and_show_in_the_quality_view(loaded):
    db = loaded["db"]
    for cur, c in MISSING_STRIKES.items():
        q = rows(db, "SELECT * FROM chain_snapshot_quality WHERE currency = %s AND ts IN (%s, %s) ORDER BY ts",
                 (cur, H1, H1 + timedelta(minutes=30)))
        full, holed = [r for r in q if code(ms(r["expiry"])) == c]
        assert full["missing_options"] == 0 and holed["missing_options"] == 4
        assert holed["options_listed"] == full["options_listed"] == full["options_priced"]
        assert holed["atm_bracketed"]
        assert (holed["atm_strike_below"] < full["atm_strike_below"]
                or holed["atm_strike_above"] > full["atm_strike_above"])


def test_snapshot_quality_counts_what_was_loaded(loaded):
    db, market = loaded["db"], loaded["market"]
    stored = {(r["ts"], r["currency"], r["expiry"]): r for r in rows(db, "SELECT * FROM chain_snapshot_quality")}
    for snap in loaded["snaps"]:
        listed: dict[int, int] = {}
        for inst in market.list_instruments(snap.currency, "option", snap.t_ms):
            listed[inst.expiration_ms] = listed.get(inst.expiration_ms, 0) + 1
        for expiry_ms, quotes in snap.expiries().items():
            row = stored[(snap.ts, snap.currency, cal.from_ms(expiry_ms))]
            assert row["options_priced"] == len(quotes)
            assert row["ivs_from_mark_iv"] == sum(q.iv is not None and not q.inverted for q in quotes)
            assert row["ivs_inverted"] == sum(q.inverted for q in quotes)
            assert row["options_without_iv"] == sum(q.iv is None for q in quotes)
            assert row["options_listed"] == listed[expiry_ms]
            assert row["missing_options"] == listed[expiry_ms] - len(quotes)
            surface = TrueSurface(market, snap.currency, expiry_ms, snap.t_ms)
            assert row["atm_bracketed"] == (expected_atm(surface, quotes).value is not None)
    no_atm = [r for r in stored.values() if not r["atm_bracketed"]]
    assert [(r["currency"], r["ts"]) for r in no_atm] == [(NO_ATM[0], H1 + timedelta(minutes=170))]
    assert no_atm[0]["atm_strike_above"] is None and no_atm[0]["atm_strike_below"] is not None


def test_hourly_atm_and_skew_per_expiry_match_the_true_surface(loaded):
    db = loaded["db"]
    stored = {(r["ts"], r["currency"], r["expiry"]): r for r in rows(db, "SELECT * FROM vol_expiry_1h")}
    expected = hourly_expected(loaded)
    assert len(stored) == len(expected)
    nulls = {k: 0 for k in DELTAS}
    for (hour, cur, expiry_ms), ((snap, surface, quotes, atm), snapshots) in expected.items():
        row = stored[(hour, cur, cal.from_ms(expiry_ms))]
        key = (hour, cur, code(expiry_ms))
        assert row["snapshot_ts"] == snap.ts and row["snapshots"] == snapshots, key
        assert row["years_to_expiry"] == pytest.approx(surface.tau, rel=1e-12)
        assert (row["atm_iv"] is None) == (atm.value is None), key
        if atm.value is not None:
            assert abs(row["atm_iv"] - atm.value) <= atm.tol + 1e-9, key
        for column, target in DELTAS.items():
            want = expected_iv_at_delta(surface, quotes, target)
            got = row[column]
            if want.value is None:
                assert got is None, (key, column, got)
                nulls[column] += 1
            else:
                assert got is not None and abs(got - want.value) <= want.tol + 1e-9, (key, column, got, want)
    # the wing without quotes: no 10-delta call, the puts are there
    wing = stored[(H1, WING[0], next(cal.from_ms(e) for (h, c, e) in expected if c == WING[0]
                                        and h == H1 and code(e) == WING[1]))]
    assert wing["iv_call_10d"] is None and wing["iv_put_10d"] is not None and wing["iv_put_25d"] is not None
    # the ETH expiry without ATM at 14:50: the hour's snapshot is 14:10
    no_atm = [r for r in stored.values() if r["currency"] == NO_ATM[0] and r["ts"] == H1 + timedelta(hours=2)
              and code(ms(r["expiry"])) == NO_ATM[1]]
    assert [r["snapshot_ts"] for r in no_atm] == [H1 + timedelta(minutes=130)]
    assert nulls["iv_call_10d"] >= 1


def constant_maturity_expected(loaded) -> dict:
    """(hour, currency, tenor) -> (ATM, 25-delta call, 25-delta put) Expected, from the hour's
    per-expiry expected values."""
    by_hour: dict = {}
    for (hour, cur, expiry_ms), ((_, surface, quotes, atm), _) in hourly_expected(loaded).items():
        by_hour.setdefault((hour, cur), []).append((surface.tau, expiry_ms, surface, quotes, atm))
    out = {}
    for (hour, cur), expiries in by_hour.items():
        for tenor in VOL_TENORS:
            tau = tenor / 365
            wing = {target: [(t, expected_iv_at_delta(s, q, target), x) for t, x, s, q, _ in expiries]
                    for target in (0.25, -0.25)}
            out[(hour, cur, tenor)] = (
                expected_constant_maturity(tau, [(t, a, x) for t, x, _, _, a in expiries]),
                expected_constant_maturity(tau, wing[0.25]),
                expected_constant_maturity(tau, wing[-0.25]),
            )
        taus = [t * 365 for t, _, _, _, a in expiries if a.value is not None]
        out[(hour, cur, "range")] = (min(taus), max(taus))
    return out


def test_constant_maturity_interpolates_total_variance_between_the_listed_expiries(loaded):
    db = loaded["db"]
    stored = {(r["ts"], r["currency"]): r for r in rows(db, "SELECT * FROM vol_surface_cm_1h")}
    expected = constant_maturity_expected(loaded)
    assert len(stored) == 6  # 3 hours x BTC, ETH
    bracketed = 0
    for (hour, cur, tenor), want in expected.items():
        row = stored[(hour, cur)]
        if tenor == "range":
            assert row["shortest_expiry_days"] == pytest.approx(want[0], rel=1e-12)
            assert row["longest_expiry_days"] == pytest.approx(want[1], rel=1e-12)
            continue
        atm, call, put = want
        for column, w in ((f"atm_iv_{tenor}d", atm), (f"iv_call_25d_{tenor}d", call), (f"iv_put_25d_{tenor}d", put)):
            got = row[column]
            if w.value is None:
                assert got is None, (hour, cur, column)
            else:
                assert got is not None and abs(got - w.value) <= w.tol + 1e-9, (hour, cur, column, got, w)
        if None not in (call.value, put.value, atm.value):
            bracketed += 1
    assert bracketed >= 4 * len(stored)  # 7, 30, 60 and 90 days are inside the listed expiries
    # never extrapolated: the longest listed expiry is 108 days away
    assert all(r["atm_iv_180d"] is None and r["iv_call_25d_180d"] is None for r in stored.values())
    assert all(r["longest_expiry_days"] < 180 for r in stored.values())


def test_constant_maturity_views_show_rr_and_bf_of_the_interpolated_wings(loaded):
    """rr = call - put and bf = (call + put) / 2 - ATM at the tenor, in both presentations."""
    db = loaded["db"]
    expected = constant_maturity_expected(loaded)
    long = {(r["ts"], r["currency"], r["tenor_days"]): r for r in rows(db, "SELECT * FROM vol_constant_maturity_1h")}
    wide = {(r["ts"], r["currency"]): r for r in rows(db, "SELECT * FROM vol_surface_1h")}
    assert len(long) == 5 * len(wide) == 30
    for (hour, cur, tenor), want in expected.items():
        if tenor == "range":
            continue
        atm, call, put = want
        row, flat = long[(hour, cur, tenor)], wide[(hour, cur)]
        assert flat[f"atm_iv_{tenor}d"] == row["atm_iv"]
        assert flat[f"rr_25d_{tenor}d"] == row["rr_25d"] and flat[f"bf_25d_{tenor}d"] == row["bf_25d"]
        rounding = 0.005 + 1e-9
        if None in (call.value, put.value):
            assert row["rr_25d"] is None and row["bf_25d"] is None
            continue
        assert abs(row["rr_25d"] - (call.value - put.value)) <= call.tol + put.tol + rounding
        assert abs(row["call_25d_iv"] - call.value) <= call.tol + rounding
        if atm.value is None:
            assert row["bf_25d"] is None
        else:
            bf = (call.value + put.value) / 2 - atm.value
            assert abs(row["bf_25d"] - bf) <= (call.tol + put.tol) / 2 + atm.tol + rounding


def atm_method_bound(surface: TrueSurface, want) -> float:
    """How far an ATM interpolated between strikes k1 < F <= k2 may be from the true IV at the forward:
    the linear-interpolation error (x2 - x1)^2 / 8 * max|sigma''(x)| over the bracket (x = ln K/F,
    sigma'' by finite differences on the true smile), plus the IVs' own tolerance."""
    k1, k2 = want.used
    if k1 is None:  # a strike exactly at the forward
        return want.tol
    x1, x2 = math.log(k1 / surface.F), math.log(k2 / surface.F)
    xs = np.linspace(x1, x2, 401)
    sig = np.array([100 * surface.sigma(surface.F * math.exp(x)) for x in xs])
    curvature = np.max(np.abs(np.gradient(np.gradient(sig, xs), xs)))
    return (x2 - x1) ** 2 / 8 * curvature * 1.01 + want.tol


def test_the_methods_are_close_to_the_continuous_surface(loaded):
    """Not the definition but the method: an ATM interpolated between two strikes is within the
    linear-interpolation error of the true IV at the forward; a 30-day ATM interpolated between two
    expiries is within that of the true 30-day ATM (the surface at K = F, T = 30 days), plus the
    error of interpolating the true ATM term structure linearly in total variance."""
    db, market = loaded["db"], loaded["market"]
    stored_1h = {(r["ts"], r["currency"], r["expiry"]): r for r in rows(db, "SELECT * FROM vol_expiry_1h")}
    bounds = {}
    for (hour, cur, expiry_ms), ((_, surface, _, atm), _) in hourly_expected(loaded).items():
        got = stored_1h[(hour, cur, cal.from_ms(expiry_ms))]["atm_iv"]
        if atm.value is None:
            continue
        bound = atm_method_bound(surface, atm)
        truth = 100 * surface.sigma(surface.F)
        assert abs(got - truth) <= bound, (hour, cur, code(expiry_ms), got, truth, bound)
        bounds[(hour, cur, expiry_ms)] = bound
    checked = 0
    expected = constant_maturity_expected(loaded)
    for r in rows(db, "SELECT ts, currency, atm_iv_30d AS atm_iv FROM vol_surface_cm_1h"):
        below, above = expected[(r["ts"], r["currency"], 30)][0].used
        snap_ms = ms(stored_1h[(r["ts"], r["currency"], cal.from_ms(below))]["snapshot_ts"])
        tau = 30 / 365

        def true_atm(t_years, cur=r["currency"], snap_ms=snap_ms):
            s = TrueSurface(market, cur, snap_ms + round(t_years * 365 * 86_400_000), snap_ms)
            return 100 * s.sigma(s.F)

        t1, t2 = ((x - snap_ms) / (365 * 86_400_000) for x in (below, above))
        chord = total_variance_interp(tau, t1, true_atm(t1), t2, true_atm(t2))
        term_error = abs(chord - true_atm(tau))
        bound = max(bounds[(r["ts"], r["currency"], below)], bounds[(r["ts"], r["currency"], above)])
        assert abs(r["atm_iv"] - true_atm(tau)) <= bound + term_error + 1e-9, (r["ts"], r["currency"])
        checked += 1
    assert checked == 6


def test_views_present_the_stored_values_rounded(loaded):
    db = loaded["db"]
    for view, table, pairs in (
        ("atm_vol_1m", "vol_expiry_1m", [("atm_iv", "atm_iv", 2), ("days_to_expiry", "years_to_expiry * 365", 3)]),
        ("atm_vol_1h", "vol_expiry_1h", [("atm_iv", "atm_iv", 2)]),
        ("vol_skew_1h", "vol_expiry_1h", [("call_25d_iv", "iv_call_25d", 2), ("put_10d_iv", "iv_put_10d", 2),
                                          ("rr_25d", "iv_call_25d - iv_put_25d", 2),
                                          ("bf_25d", "(iv_call_25d + iv_put_25d) / 2 - atm_iv", 2),
                                          ("rr_10d", "iv_call_10d - iv_put_10d", 2),
                                          ("bf_10d", "(iv_call_10d + iv_put_10d) / 2 - atm_iv", 2)]),
    ):
        keys = "ts, currency, expiry"
        for column, expr, decimals in pairs:
            got = db.execute(f"SELECT v.{column}, s.val FROM {view} v JOIN (SELECT {keys}, {expr} AS val "
                             f"FROM {table}) s USING ({keys})").fetchall()
            assert got
            for shown, full in got:
                if full is None:
                    assert shown is None
                else:
                    assert shown == round(full, decimals) or abs(shown - full) <= 0.5 * 10 ** -decimals + 1e-12
                    assert repr(shown) == repr(round(shown, decimals))  # no float noise in psql
    got = db.execute("SELECT v.*, s.* FROM vol_surface_1h v JOIN vol_surface_cm_1h s USING (ts, currency)")
    names = [d.name for d in got.description]
    for r in got.fetchall():
        shown = dict(zip(names[:19], r[:19], strict=True))
        full = dict(zip(names[19:], r[19:], strict=True))
        for tenor in VOL_TENORS:
            atm, c, p = (full[f"atm_iv_{tenor}d"], full[f"iv_call_25d_{tenor}d"], full[f"iv_put_25d_{tenor}d"])
            for column, value in ((f"atm_iv_{tenor}d", atm),
                                  (f"rr_25d_{tenor}d", None if None in (c, p) else c - p),
                                  (f"bf_25d_{tenor}d", None if None in (c, p, atm) else (c + p) / 2 - atm)):
                assert (shown[column] is None) == (value is None), column
                if value is not None:
                    assert abs(shown[column] - value) <= 0.005 + 1e-12
                    assert repr(shown[column]) == repr(round(shown[column], 2))
