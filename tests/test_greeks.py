"""Black-76 greeks: textbook values, finite differences, parity and Deribit's units."""

from __future__ import annotations

import math

import pytest

from ingest import greeks
from ingest.greeks import black76, from_mark_iv, within_tolerance

DAY_MS = 86_400_000


def test_textbook_value_hull_black76():
    # Hull, Options Futures and Other Derivatives, Black's model example: F=20, K=20, T=4/12,
    # sigma=25%, r=9% -> discounted call 1.1166; undiscounted = 1.1166 * e^{0.03}
    g = black76(20.0, 20.0, 4 / 12, 0.25, True)
    assert g.price_usd * math.exp(-0.09 * 4 / 12) == pytest.approx(1.1166, abs=1e-4)
    # at the money forward: d1 = sigma sqrt(T) / 2
    d1 = 0.25 * math.sqrt(4 / 12) / 2
    assert g.delta == pytest.approx(0.5 * math.erfc(-d1 / math.sqrt(2)), abs=1e-12)


def test_put_call_parity_and_delta_relation():
    F, K, T, s = 65_000.0, 70_000.0, 30 / 365, 0.55
    c, p = black76(F, K, T, s, True), black76(F, K, T, s, False)
    assert c.price_usd - p.price_usd == pytest.approx(F - K, abs=1e-6)
    assert c.delta - p.delta == pytest.approx(1.0, abs=1e-12)
    assert c.gamma == pytest.approx(p.gamma) and c.vega == pytest.approx(p.vega)
    assert c.theta == pytest.approx(p.theta)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("K", [40_000.0, 65_000.0, 90_000.0])
def test_greeks_are_the_derivatives_in_deribit_units(is_call, K):
    F, T, s = 65_000.0, 45 / 365, 0.6
    g = black76(F, K, T, s, is_call)
    price = lambda F=F, T=T, s=s: black76(F, K, T, s, is_call).price_usd  # noqa: E731
    h = 0.5
    assert g.delta == pytest.approx((price(F=F + h) - price(F=F - h)) / (2 * h), rel=1e-5, abs=1e-8)
    assert g.gamma == pytest.approx((price(F=F + 50) - 2 * price() + price(F=F - 50)) / 2500, rel=1e-3)
    # vega per one volatility point
    assert g.vega == pytest.approx((price(s=s + 1e-4) - price(s=s - 1e-4)) / 2e-4 / 100, rel=1e-5)
    # theta per calendar day (time to expiry shrinks by one day)
    dt = 1e-6
    assert g.theta == pytest.approx((price(T=T - dt) - price(T=T + dt)) / (2 * dt) / 365, rel=1e-4)


def test_from_mark_iv_uses_expiry_and_rounds_like_deribit():
    now = 1_717_200_000_000
    expiry = now + 30 * DAY_MS
    g = from_mark_iv(60.0, 65_000.0, 70_000.0, expiry, now, True)
    raw = black76(65_000.0, 70_000.0, 30 / 365, 0.6, True)
    assert g.delta == round(raw.delta, 5) and g.vega == round(raw.vega, 5)
    assert g.price_coin(65_000.0) == pytest.approx(raw.price_usd / 65_000.0)


def test_expired_or_zero_vol_gives_intrinsic_limits():
    assert black76(100.0, 90.0, 0.0, 0.5, True).delta == 1.0
    assert black76(100.0, 110.0, 0.0, 0.5, False).delta == -1.0
    g = black76(100.0, 110.0, 0.1, 0.0, True)
    assert (g.delta, g.gamma, g.vega, g.theta, g.rho) == (0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        black76(0.0, 1.0, 0.1, 0.5, True)


def test_matches_the_simulators_independent_implementation():
    market = pytest.importorskip("ingest.sim.market")
    for K in (30_000.0, 60_000.0, 61_000.0, 120_000.0):
        for is_call in (True, False):
            ref = market.b76_greeks(61_234.5, K, 12 / 365, 0.71, is_call)
            g = black76(61_234.5, K, 12 / 365, 0.71, is_call)
            for k in ("delta", "gamma", "vega", "theta", "rho"):
                assert getattr(g, k) == pytest.approx(ref[k], rel=1e-9, abs=1e-12)


def test_tolerance_helper():
    assert within_tolerance(0.5004, 0.5) and not within_tolerance(0.52, 0.5)
    assert greeks.TOLERANCE["abs"] > 0
