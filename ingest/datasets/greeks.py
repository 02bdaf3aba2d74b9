"""Black-76 greeks of Deribit options, and the implied volatility of a mark price, as pure functions.

Deribit quotes an option's mark implied volatility (``mark_iv``, in percent) against its underlying
(``underlying_price``: the future of the same expiry, or a synthetic forward). Its greeks, as returned
by ``public/ticker`` under ``greeks``, are Black-76 greeks *in USD terms on that forward*, undiscounted
(Deribit's ``interest_rate`` is 0 for crypto options). The conventions:

* ``delta = N(d1)`` for a call, ``N(d1) - 1`` for a put (forward delta; no premium adjustment for the
  inverse/coin-margined settlement);
* ``gamma = phi(d1) / (F sigma sqrt(T))`` (change of delta per 1 USD of the forward);
* ``vega  = F phi(d1) sqrt(T) / 100`` — USD per **1 volatility point** (1 % of IV);
* ``theta`` — USD per **calendar day**, as the exchange states it (``exchange_theta``): the Black-76
  decay rate ``-F phi(d1) sigma / (2 sqrt(T)) / 365`` times ``min(1, days left)``, and never more than
  the option's whole value: ``max(rate * min(1, T*365), -price_usd)``. With a day or more left this is
  the textbook per-day theta; with less, it is the decay over the time that is left. Established from
  real tickers (tests/test_options_chain_real.py): BTC-8MAY20-11000-P, 0.32 days left, exchange
  -17.4153, textbook -54.765 (x 0.318 = -17.420); BTC-10SEP25-106000-P, 0.67 days left, exchange
  -15.99927 = minus its whole value (15.99 USD; rate x 0.67 would be -53.3); BTC-12MAR25-65000-C,
  0.40 days left, -0.01591 (-0.03940 x 0.403 = -0.01587); 15 and 322 days left: the textbook value;
* ``rho   = K T N(d2) / 100`` (call), ``-K T N(-d2) / 100`` (put) — USD per 1 % of rate;

with ``d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T)``, ``d2 = d1 - sigma sqrt T``, ``sigma`` = mark_iv/100
and ``T`` the time to the 08:00 UTC expiry in years of 365 days. ``black76`` returns the textbook
greeks (its ``theta`` is the instantaneous per-day rate); ``from_mark_iv`` the exchange's. The option
*price* Deribit quotes for an inverse (BTC/ETH) option is in the base coin: ``black76_price(...) / F``.

At or after expiry (T <= 0) or with a zero volatility the greeks are the intrinsic limits: delta 1/0
(call) or -1/0 (put), the rest 0.

Deribit rounds greeks to 5 decimals and ``mark_iv`` to 2; computing from a rounded ``mark_iv`` and a
rounded ``underlying_price`` reproduces the exchange's greeks within ``TOLERANCE`` (documented in
docs/live.md, proven on real tickers in tests/test_options_chain_real.py).

``implied_vol`` inverts Black-76 on a premium in USD (a coin mark price times the forward): bracketed
Newton steps on vega, bisection when a step leaves the bracket, sigma within ``SIGMA_BRACKET``. It
answers ``None`` (with the reason) when the premium says nothing about volatility: outside the
no-arbitrage bounds (intrinsic, upper bound F for a call and K for a put), or not more than
``resolution`` (the price's rounding, e.g. one tick) away from either bound — so a mark at the minimum
tick of an out-of-the-money option (time value = one tick) has no IV either.
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


def exchange_theta(theta_per_day: float, price_usd: float, t_years: float) -> float:
    """Deribit's theta from the textbook per-day rate: the decay over one day, or over the time left if
    that is less (``rate * min(1, days left)``), and never more than the option's whole value."""
    days_left = t_years * 365
    return max(theta_per_day * min(1.0, days_left), -price_usd)


def from_mark_iv(mark_iv_pct: float, underlying_price: float, strike: float, expiry_ms: int,
                 now_ms: int, is_call: bool, decimals: int | None = 5) -> Greeks:
    """Deribit-style greeks from a quote: mark_iv in percent, the underlying (forward) price, the
    strike, the expiry and the quote time in ms; theta by the exchange's convention
    (``exchange_theta``). Greeks rounded to ``decimals`` like Deribit's."""
    t = years_to_expiry(expiry_ms, now_ms)
    g = black76(underlying_price, strike, t, mark_iv_pct / 100, is_call)
    g = Greeks(g.delta, g.gamma, g.vega, exchange_theta(g.theta, g.price_usd, t), g.rho, g.price_usd)
    if decimals is None:
        return g
    r = lambda x: round(x, decimals) + 0.0  # noqa: E731  (+0.0 turns -0.0 into 0.0)
    return Greeks(r(g.delta), r(g.gamma), r(g.vega), r(g.theta), r(g.rho), g.price_usd)


# the volatilities implied_vol searches: 0.01 % to 2,000 % a year
SIGMA_BRACKET = (1e-4, 20.0)


@dataclass(frozen=True)
class ImpliedVol:
    sigma: float | None  # as a fraction; None when the price carries no information about volatility
    reason: str | None = None  # why sigma is None


def no_arbitrage_bounds(forward: float, strike: float, is_call: bool) -> tuple[float, float]:
    """(lower, upper) of an undiscounted option premium in USD: intrinsic value below, and the forward
    (call) or the strike (put) above — limits reached only at zero or infinite volatility."""
    if is_call:
        return max(forward - strike, 0.0), forward
    return max(strike - forward, 0.0), strike


def implied_vol(price_usd: float, forward: float, strike: float, t_years: float, is_call: bool,
                resolution_usd: float = 0.0, bracket: tuple[float, float] = SIGMA_BRACKET,
                rel_tol: float = 1e-12, max_iter: int = 100) -> ImpliedVol:
    """The Black-76 volatility whose premium is ``price_usd`` (undiscounted, USD on the forward).

    ``resolution_usd``: how finely the price is known (its rounding, e.g. one tick times the forward).
    A premium no more than that away from a no-arbitrage bound is treated as carrying no information:
    its time value (or its distance to the upper bound) could be anything from zero to twice as large,
    so the volatility is not determined — ``None`` rather than an invented number.
    """
    if not (forward > 0 and strike > 0):
        raise ValueError(f"forward and strike must be positive, got {forward}, {strike}")
    if not math.isfinite(price_usd):
        return ImpliedVol(None, "price is not finite")
    if t_years <= 0:
        return ImpliedVol(None, "expired")
    lower, upper = no_arbitrage_bounds(forward, strike, is_call)
    if not lower < price_usd < upper:
        return ImpliedVol(None, "price outside the no-arbitrage bounds")
    if price_usd - lower <= resolution_usd:
        return ImpliedVol(None, "time value not above the price resolution")
    if upper - price_usd <= resolution_usd:
        return ImpliedVol(None, "price within its resolution of the upper bound")
    lo, hi = bracket
    if black76(forward, strike, t_years, lo, is_call).price_usd > price_usd:
        return ImpliedVol(None, f"implied volatility below {lo:g}")
    if black76(forward, strike, t_years, hi, is_call).price_usd < price_usd:
        return ImpliedVol(None, f"implied volatility above {hi:g}")
    # start where an at-the-money option would have this time value (Brenner-Subrahmanyam)
    sigma = min(max((price_usd - lower) / forward * math.sqrt(2 * math.pi / t_years), lo), hi)
    tol = rel_tol * (price_usd - lower)  # relative to the time value: meaningful however small it is
    for _ in range(max_iter):
        g = black76(forward, strike, t_years, sigma, is_call)
        diff = g.price_usd - price_usd
        if abs(diff) <= tol:
            return ImpliedVol(sigma)
        if diff > 0:
            hi = sigma
        else:
            lo = sigma
        dprice_dsigma = g.vega * 100  # vega is per volatility point
        step = sigma - diff / dprice_dsigma if dprice_dsigma > 0 else math.nan
        sigma = step if lo < step < hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-15 * hi:
            return ImpliedVol(sigma)
    return ImpliedVol(sigma)


def within_tolerance(computed: float, exchange: float, tol: dict = TOLERANCE) -> bool:
    return abs(computed - exchange) <= tol["abs"] + tol["rel"] * abs(exchange)
