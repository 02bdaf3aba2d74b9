"""Black-76 greeks: textbook values, finite differences, parity and Deribit's units."""

from __future__ import annotations

import math

import pytest

from ingest.datasets import greeks
from ingest.datasets.greeks import black76, from_mark_iv, within_tolerance

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


# --- theta as the exchange states it -------------------------------------------------------------------

def test_exchange_theta_is_the_daily_decay_capped_by_time_left_and_value():
    # a day or more left: the textbook per-day rate
    assert greeks.exchange_theta(-54.77, 1000.0, 30 / 365) == -54.77
    assert greeks.exchange_theta(-54.77, 1000.0, 1 / 365) == -54.77
    # less than a day: the decay over the time left (BTC-8MAY20-11000-P: 0.318 days, -54.77/day)
    assert greeks.exchange_theta(-54.77, 1069.0, 0.318 / 365) == pytest.approx(-17.41686)
    # never more than the whole value (BTC-10SEP25-106000-P: -80.04/day, 0.666 days, worth 15.99 USD)
    assert greeks.exchange_theta(-80.04, 15.99, 0.666 / 365) == -15.99
    assert greeks.exchange_theta(0.0, 0.0, 0.0) == 0.0


def test_from_mark_iv_theta_follows_the_exchange_convention():
    now = 1_717_200_000_000
    far = from_mark_iv(60.0, 65_000.0, 65_000.0, now + 30 * DAY_MS, now, True, decimals=None)
    assert far.theta == black76(65_000.0, 65_000.0, 30 / 365, 0.6, True).theta
    near = from_mark_iv(60.0, 65_000.0, 65_000.0, now + DAY_MS // 4, now, True, decimals=None)
    textbook = black76(65_000.0, 65_000.0, 0.25 / 365, 0.6, True)
    assert near.theta == pytest.approx(textbook.theta * 0.25, rel=1e-12)
    assert textbook.price_usd > -near.theta  # at the money: the value is not the limit
    otm = from_mark_iv(60.0, 65_000.0, 80_000.0, now + DAY_MS // 2, now, True, decimals=None)
    assert otm.theta == -otm.price_usd > black76(65_000.0, 80_000.0, 0.5 / 365, 0.6, True).theta * 0.5


# --- implied volatility ------------------------------------------------------------------------------

def test_implied_vol_textbook_value():
    # Hull's Black example (F=20, K=20, T=4 months, discounted call 1.1166 at r=9 %) read backwards
    price = 1.1166 * math.exp(0.09 * 4 / 12)
    assert greeks.implied_vol(price, 20.0, 20.0, 4 / 12, True).sigma == pytest.approx(0.25, abs=1e-4)


@pytest.mark.parametrize("is_call", [True, False])
def test_implied_vol_round_trips_or_says_why_not(is_call):
    F, tick = 80_000.0, 1e-4
    solved = refused = 0
    for log_m in (-1.5, -0.6, -0.2, -0.05, 0.0, 0.05, 0.2, 0.6, 1.5):
        K = F * math.exp(log_m)
        for T in (1 / (365 * 24), 0.3 / 365, 2 / 365, 30 / 365, 1.0, 3.0):
            for s in (0.05, 0.3, 0.8, 1.6, 4.0):
                price = black76(F, K, T, s, is_call).price_usd
                iv = greeks.implied_vol(price, F, K, T, is_call, resolution_usd=tick * F)
                intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
                upper = F if is_call else K
                informative = price - intrinsic > tick * F and upper - price > tick * F
                if informative:
                    assert iv.sigma == pytest.approx(s, rel=1e-7), (K, T, s)
                    solved += 1
                else:
                    assert iv.sigma is None and iv.reason, (K, T, s)
                    refused += 1
    assert solved > 100 and refused > 20


def test_implied_vol_bounds_and_bracket():
    F, K, T = 80_000.0, 70_000.0, 10 / 365
    assert greeks.implied_vol(9_999.0, F, K, T, True).reason == "price outside the no-arbitrage bounds"
    assert greeks.implied_vol(10_000.0, F, K, T, True).reason == "price outside the no-arbitrage bounds"
    assert greeks.implied_vol(F, F, K, T, True).reason == "price outside the no-arbitrage bounds"
    assert greeks.implied_vol(K, F, K, T, False).reason == "price outside the no-arbitrage bounds"
    assert greeks.implied_vol(math.nan, F, K, T, True).reason == "price is not finite"
    assert greeks.implied_vol(10_001.0, F, K, 0.0, True).reason == "expired"
    # within one resolution step of intrinsic, or of the upper bound
    assert greeks.implied_vol(10_008.0, F, K, T, True, resolution_usd=8.0).sigma is None
    assert greeks.implied_vol(10_008.1, F, K, T, True, resolution_usd=8.0).sigma is not None
    assert greeks.implied_vol(F - 8.0, F, K, T, True, resolution_usd=8.0).reason.startswith("price within")
    # above the bracket: a premium only a volatility above 2,000 % reaches
    p = black76(F, 200_000.0, T, 25.0, True).price_usd
    assert greeks.implied_vol(p, F, 200_000.0, T, True).reason == "implied volatility above 20"
    p = black76(F, 100_000.0, T, 0.5, True).price_usd
    assert 1 < p < 10 and greeks.implied_vol(p, F, 100_000.0, T, True).sigma == pytest.approx(0.5, rel=1e-9)
    # a premium of 1e-25 USD still inverts exactly when no resolution is given (tolerance relative to it)
    p = black76(F, 200_000.0, T, 0.5, True).price_usd
    assert greeks.implied_vol(p, F, 200_000.0, T, True).sigma == pytest.approx(0.5, rel=1e-6)
