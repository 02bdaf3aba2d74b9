"""Black-76 greeks of Deribit options from the mark implied volatility, as pure functions.

Deribit quotes an option's mark implied volatility (``mark_iv``, in percent) against its underlying
(``underlying_price``: the future of the same expiry, or a synthetic forward). Its greeks, as returned
by ``public/ticker`` under ``greeks``, are Black-76 greeks *in USD terms on that forward*, undiscounted
(Deribit's ``interest_rate`` is 0 for crypto options). The conventions, which the simulated exchange
(``ingest/sim/market.py``) uses too:

* ``delta = N(d1)`` for a call, ``N(d1) - 1`` for a put (forward delta; no premium adjustment for the
  inverse/coin-margined settlement);
* ``gamma = phi(d1) / (F sigma sqrt(T))`` (change of delta per 1 USD of the forward);
* ``vega  = F phi(d1) sqrt(T) / 100`` — USD per **1 volatility point** (1 % of IV);
* ``theta = -F phi(d1) sigma / (2 sqrt(T)) / 365`` — USD per **calendar day**;
* ``rho   = K T N(d2) / 100`` (call), ``-K T N(-d2) / 100`` (put) — USD per 1 % of rate;

with ``d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T)``, ``d2 = d1 - sigma sqrt T``, ``sigma`` = mark_iv/100
and ``T`` the time to the 08:00 UTC expiry in years of 365 days. The option *price* Deribit quotes for an
inverse (BTC/ETH) option is in the base coin: ``black76_price(...) / F``.

At or after expiry (T <= 0) or with a zero volatility the greeks are the intrinsic limits: delta 1/0
(call) or -1/0 (put), the rest 0.

Deribit rounds greeks to 5 decimals and ``mark_iv`` to 2; computing from a rounded ``mark_iv`` and a
rounded ``underlying_price`` reproduces the exchange's greeks to within (abs 2e-5 + rel 2e-4) in the
simulator, far inside ``TOLERANCE`` (documented in docs/live.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

YEAR_MS = 365 * 86_400_000
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)

# how close a computed greek must be to the exchange's for the same mark_iv and underlying:
# |computed - exchange| <= ABS + REL * |exchange|
TOLERANCE = {"abs": 1e-3, "rel": 1e-3}


def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT2PI


@dataclass(frozen=True)
class Greeks:
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float
    price_usd: float  # undiscounted Black-76 premium in USD

    def price_coin(self, forward: float) -> float:
        """The premium in the base coin, as Deribit quotes inverse options."""
        return self.price_usd / forward

    def as_dict(self) -> dict:
        return {"delta": self.delta, "gamma": self.gamma, "vega": self.vega, "theta": self.theta,
                "rho": self.rho}


def years_to_expiry(expiry_ms: int, now_ms: int) -> float:
    return max(expiry_ms - now_ms, 0) / YEAR_MS


def black76(forward: float, strike: float, t_years: float, sigma: float, is_call: bool) -> Greeks:
    """Greeks of one option. ``sigma`` as a fraction (0.6 for mark_iv 60.0)."""
    if not (forward > 0 and strike > 0):
        raise ValueError(f"forward and strike must be positive, got {forward}, {strike}")
    if t_years <= 0 or sigma <= 0:
        if is_call:
            return Greeks(1.0 if forward > strike else 0.0, 0.0, 0.0, 0.0, 0.0, max(forward - strike, 0.0))
        return Greeks(-1.0 if forward < strike else 0.0, 0.0, 0.0, 0.0, 0.0, max(strike - forward, 0.0))
    sq = math.sqrt(t_years)
    st = sigma * sq
    d1 = (math.log(forward / strike) + 0.5 * st * st) / st
    d2 = d1 - st
    pdf = norm_pdf(d1)
    if is_call:
        price = forward * norm_cdf(d1) - strike * norm_cdf(d2)
        delta = norm_cdf(d1)
        rho = strike * t_years * norm_cdf(d2) / 100
    else:
        price = strike * norm_cdf(-d2) - forward * norm_cdf(-d1)
        delta = norm_cdf(d1) - 1.0
        rho = -strike * t_years * norm_cdf(-d2) / 100
    return Greeks(delta=delta, gamma=pdf / (forward * st), vega=forward * pdf * sq / 100,
                  theta=-forward * pdf * sigma / (2 * sq) / 365, rho=rho, price_usd=max(price, 0.0))


def from_mark_iv(mark_iv_pct: float, underlying_price: float, strike: float, expiry_ms: int,
                 now_ms: int, is_call: bool, decimals: int | None = 5) -> Greeks:
    """Deribit-style greeks from a quote: mark_iv in percent, the underlying (forward) price, the
    strike, the expiry and the quote time in ms. Greeks rounded to ``decimals`` like Deribit's."""
    g = black76(underlying_price, strike, years_to_expiry(expiry_ms, now_ms), mark_iv_pct / 100, is_call)
    if decimals is None:
        return g
    r = lambda x: round(x, decimals) + 0.0  # noqa: E731  (+0.0 turns -0.0 into 0.0)
    return Greeks(r(g.delta), r(g.gamma), r(g.vega), r(g.theta), r(g.rho), g.price_usd)


def within_tolerance(computed: float, exchange: float, tol: dict = TOLERANCE) -> bool:
    return abs(computed - exchange) <= tol["abs"] + tol["rel"] * abs(exchange)
