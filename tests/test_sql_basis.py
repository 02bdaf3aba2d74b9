"""Basis views against the simulated market (ingest/sim): F - P, percent, days to expiry, annualized."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from ingest.deribit import calendar as cal
from ingest.sim.market import Market
from ingest.storage.load import copy_upsert
from ingest.storage.tables import FUTURES_OHLCV, PERPETUALS_OHLCV

from .conftest import wipe
from .test_sql_support import UTC, add_instrument, load, minute_series, refresh_all

MIN_MS = 60_000
FUTURE = "BTC-27DEC24"
PERP = "BTC-PERPETUAL"
START = datetime(2024, 10, 1, tzinfo=UTC)
DAYS = 2


def dec(x) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal("0.00000001"))


def sim_candles(market, name, start_ms, end_ms, now_ms):
    c = market.candles(name, start_ms, end_ms, "1", now_ms=now_ms, limit=100_000)
    return [
        (cal.from_ms(int(t)), name, dec(o), dec(h), dec(lo), dec(cl), dec(v), dec(co))
        for t, o, h, lo, cl, v, co in zip(
            c["ticks"], c["open"], c["high"], c["low"], c["close"], c["volume"], c["cost"], strict=True
        )
    ]


def add_sim_instrument(db, market, name):
    inst = market.instrument(name)
    add_instrument(
        db,
        name,
        kind="future",
        currency=inst.currency,
        creation=cal.from_ms(inst.creation_ms),
        expiration=cal.from_ms(inst.expiration_ms),
        settlement_period=inst.settlement_period,
    )
    return inst


@pytest.fixture(scope="module")
def market():
    return Market(seed=0)


@pytest.fixture(scope="module")
def backfilled(migrated_url, market):
    """Two days of the simulator's BTC-PERPETUAL and BTC-27DEC24, loaded once for this module."""
    with psycopg.connect(migrated_url, autocommit=True) as db:
        wipe(db)
        yield _backfill(db, market)


def _backfill(db, market):
    s = cal.to_ms(START)
    e = s + DAYS * 86_400_000 - MIN_MS
    perp = sim_candles(market, PERP, s, e, e + 86_400_000)
    fut = sim_candles(market, FUTURE, s, e, e + 86_400_000)
    copy_upsert(db, PERPETUALS_OHLCV, perp)
    copy_upsert(db, FUTURES_OHLCV, fut)
    add_sim_instrument(db, market, PERP)
    inst = add_sim_instrument(db, market, FUTURE)
    refresh_all(db)
    return {"perp": {r[0]: r for r in perp}, "fut": {r[0]: r for r in fut}, "inst": inst, "db": db}


def expected_row(f_close, p_close, expiry, close_time):
    basis = f_close - p_close
    pct = float(basis) * 100 / float(p_close)
    days = (expiry - close_time).total_seconds() / 86400
    return basis, pct, days, pct * 365 / days


def test_basis_1m_is_future_minus_perpetual_and_annualized(backfilled):
    db = backfilled["db"]
    expiry = cal.from_ms(backfilled["inst"].expiration_ms)
    rows = db.execute(
        "SELECT ts, future, perpetual, currency, expiry, future_close, perpetual_close, basis, basis_pct, "
        "days_to_expiry, annualized_basis_pct FROM futures_basis_1m "
        "WHERE future = %s AND ts >= %s AND ts < %s ORDER BY ts",
        (FUTURE, START, START + timedelta(days=DAYS)),
    ).fetchall()
    assert len(rows) == DAYS * 1440
    for ts, fut, perp, cur, exp, fc, pc, basis, pct, days, ann in rows:
        assert (fut, perp, cur, exp) == (FUTURE, PERP, "BTC", expiry)
        want_fc, want_pc = backfilled["fut"][ts][5], backfilled["perp"][ts][5]
        assert (fc, pc) == (want_fc, want_pc)
        w_basis, w_pct, w_days, w_ann = expected_row(want_fc, want_pc, expiry, ts + timedelta(minutes=1))
        assert basis == w_basis
        assert float(pct) == pytest.approx(w_pct, rel=1e-12, abs=1e-12)
        assert float(days) == pytest.approx(w_days, rel=1e-12)
        assert float(ann) == pytest.approx(w_ann, rel=1e-9, abs=1e-12)


def test_basis_1h_uses_the_last_close_of_each_hour(backfilled):
    db = backfilled["db"]
    expiry = cal.from_ms(backfilled["inst"].expiration_ms)
    rows = db.execute(
        "SELECT ts, future_close, perpetual_close, basis, days_to_expiry, annualized_basis_pct "
        "FROM futures_basis_1h WHERE future = %s ORDER BY ts",
        (FUTURE,),
    ).fetchall()
    assert len(rows) == DAYS * 24
    for ts, fc, pc, basis, days, ann in rows:
        last = ts + timedelta(minutes=59)
        assert (fc, pc) == (backfilled["fut"][last][5], backfilled["perp"][last][5])
        w_basis, _, w_days, w_ann = expected_row(fc, pc, expiry, ts + timedelta(hours=1))
        assert basis == w_basis
        assert float(days) == pytest.approx(w_days, rel=1e-12)
        assert float(ann) == pytest.approx(w_ann, rel=1e-9)


def test_annualized_basis_matches_the_simulators_contango(backfilled, market):
    db = backfilled["db"]
    """The simulator prices F = index * exp(b * tau) and P = index * (1 + premium); over the range the
    view's annualized basis averages to the model's (trade noise averages out)."""
    import math

    expiry_ms = backfilled["inst"].expiration_ms
    rows = db.execute(
        "SELECT ts, annualized_basis_pct FROM futures_basis_1m WHERE future = %s AND ts >= %s AND ts < %s",
        (FUTURE, START, START + timedelta(days=DAYS)),
    ).fetchall()
    model = []
    for ts, _ in rows:
        t = cal.to_ms(ts) + MIN_MS
        tau_days = (expiry_ms - t) / 86_400_000
        b, prem = market.basis("BTC", t), market.premium("BTC", t)
        model.append((math.exp(b * tau_days / 365) / (1 + prem) - 1) * 100 * 365 / tau_days)
    got = sum(float(a) for _, a in rows) / len(rows)
    want = sum(model) / len(model)
    assert 3 < want < 15  # a realistic contango
    assert got == pytest.approx(want, abs=0.3)


def test_term_structure_lists_live_futures_by_expiry_with_their_latest_basis(db, market):
    now_ms = int(time.time() * 1000) // MIN_MS * MIN_MS
    start_ms = now_ms - 30 * MIN_MS
    live = [i for i in market.list_instruments("BTC", "future", now_ms) if not i.is_perpetual]
    assert len(live) >= 3
    copy_upsert(db, PERPETUALS_OHLCV, sim_candles(market, PERP, start_ms, now_ms - MIN_MS, now_ms))
    add_sim_instrument(db, market, PERP)
    latest = {}
    for inst in live:
        rows = sim_candles(market, inst.name, start_ms, now_ms - MIN_MS, now_ms)
        copy_upsert(db, FUTURES_OHLCV, rows)
        add_sim_instrument(db, market, inst.name)
        latest[inst.name] = rows[-1]
    # an expired future with candles is not part of the term structure
    add_instrument(
        db,
        "BTC-29MAR24",
        expiration=datetime(2024, 3, 29, 8, tzinfo=UTC),
        creation=datetime(2023, 9, 29, 8, tzinfo=UTC),
    )
    copy_upsert(
        db,
        FUTURES_OHLCV,
        sim_candles(
            market,
            "BTC-29MAR24",
            cal.to_ms(datetime(2024, 3, 28, tzinfo=UTC)),
            cal.to_ms(datetime(2024, 3, 28, 0, 10, tzinfo=UTC)),
            now_ms,
        ),
    )
    perp_close = {r[0]: r[5] for r in sim_candles(market, PERP, start_ms, now_ms - MIN_MS, now_ms)}

    rows = db.execute(
        "SELECT currency, future, expiry, ts, perpetual, future_close, perpetual_close, basis, "
        "annualized_basis_pct FROM futures_term_structure"
    ).fetchall()
    assert [r[1] for r in rows] == [i.name for i in sorted(live, key=lambda i: i.expiration_ms)]
    for cur, fut, expiry, ts, perp, fc, pc, basis, ann in rows:
        assert (cur, perp) == ("BTC", PERP)
        assert ts == latest[fut][0] and fc == latest[fut][5] and pc == perp_close[ts]
        _, _, _, w_ann = expected_row(fc, pc, expiry, ts + timedelta(minutes=1))
        assert basis == fc - pc
        assert float(ann) == pytest.approx(w_ann, rel=1e-9)


def test_a_future_without_instrument_row_or_perpetual_has_no_basis(db):
    load(db, "futures_ohlcv", minute_series("BTC-27DEC24", START, 10, lambda i: 65000.0))
    assert db.execute("SELECT count(*) FROM futures_basis_1m").fetchone()[0] == 0
    add_instrument(db, "BTC-27DEC24", expiration=datetime(2024, 12, 27, 8, tzinfo=UTC))
    assert db.execute("SELECT count(*) FROM futures_basis_1m").fetchone()[0] == 0  # no perpetual yet
    load(db, "perpetuals_ohlcv", minute_series("BTC-PERPETUAL", START, 10, lambda i: 64000.0))
    assert db.execute("SELECT count(*), min(basis), max(basis) FROM futures_basis_1m").fetchone() == (
        10,
        Decimal(1000),
        Decimal(1000),
    )
