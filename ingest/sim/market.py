"""The simulated Deribit market: deterministic from a seed, generated on demand.

Nothing is pre-materialised. Every series is a pure function of ``(seed, key, time)``:

* **Daily anchors**: per currency and series (index, perpetual premium, basis, ATM volatility) an
  AR(1) random walk with one value per UTC day from 2018-01-01 (a few thousand numbers, computed
  once per Market).  The BTC/ETH index anchors follow a coarse table of real monthly levels
  (``_BTC_LEVELS``/``_ETH_LEVELS``) plus mean-reverting noise, so levels and volatility are realistic
  (~55-80 % a year).
* **Within a day**: a Brownian bridge between consecutive anchors at one-minute marks, drawn with a
  per-``(seed, series, day)`` RNG, generated per series when first needed and cached in an LRU.
  Values between minute marks are linearly interpolated.
* **Trades**: per ``(instrument, day)`` a Poisson number of trades per minute (perpetuals ~2/min,
  dated futures < 1/min, options rarely), with prices around the instrument's fair value, rounded to
  its tick; far options trade less than once a day.  One-minute candles are *aggregated from these
  trades*; minutes without trades are filler candles (O=H=L=C=previous close, volume 0, cost 0).
  Coarser resolutions aggregate the minutes; 1D candles run from 08:00 UTC to 08:00 UTC.
  Trades carry ``index_price`` and ``mark_price``; option trades carry ``iv`` (the Black-76 implied
  volatility of the trade price).

Fair values
-----------
* perpetual: ``index * (1 + premium)``; funding (from 2019-05-01) is derived from the premium:
  per minute ``f = p - clip(p, -0.05 %, +0.05 %)`` (Deribit's dampener), ``interest_1h`` = mean of
  ``f`` over the hour / 8, ``interest_8h`` = sum of the last eight ``interest_1h`` (unrounded float64).
* dated future: ``index * exp(basis * tau)`` with ``tau`` in years (365 days) to the 08:00 UTC expiry,
  so the contango decays to zero at expiry, where the future settles at the index.
* option: Black-76 (interest rate 0) on the forward of its expiry (the future of that expiry if one is
  listed, else a synthetic ``SYN.<future name>``) with a smile
  ``iv = atm * (1 + 0.05 (1 - min(tau, 1))) * (1 - 0.08 z + 0.06 z^2)``, ``z = clip(ln(K/F) / (atm sqrt(tau)), -3, 3)``.
  Prices are in the base coin (USD price / F).  Greeks (USD, per the forward) are
  ``delta = N(d1)`` (call) / ``N(d1) - 1`` (put), ``gamma = phi(d1) / (F sigma sqrt(T))``,
  ``vega = F phi(d1) sqrt(T) / 100``, ``theta = -F phi(d1) sigma / (2 sqrt(T)) / 365``,
  ``rho = K T N(d2) / 100`` (call) / ``-K T N(-d2) / 100`` (put), rounded to 5 decimals; the theta
  served is the exchange's (:func:`exchange_theta`: the per-day theta times ``min(1, days left)``, never
  below minus the option's value), fitted on real tickers;
  ``mark_iv`` is ``sigma`` in percent rounded to 2 decimals and the mark is computed from the rounded
  ``mark_iv`` and the rounded ``underlying_price`` (8 decimals; from 2023 4 decimals, at least 0.0001).

Listing schedule (uses :mod:`ingest.deribit.calendar`)
------------------------------------------------------
* BTC-PERPETUAL from 2018-08-13, ETH-PERPETUAL from 2019-03-12.
* Futures: quarterlies expiring from 2019 (BTC) / mid-2019 (ETH); monthlies and weeklies from 2021;
  dailies (settlement_period "day") from 2025, listed 4 days ahead.
* Options: quarterlies, monthlies, weeklies from 2019-03 (BTC) / 2019-06 (ETH), dailies from 2021.
* Listed ahead of expiry at 08:00 UTC: quarterlies 26 weeks, monthlies 8 weeks, weeklies 2 weeks,
  dailies 3 days (never before the currency's launch).  Options strikes are fixed at listing around
  the forward then (a grid of ``2N+1`` strikes with a 1-2-2.5-5 step).

Public API
----------
``Market(seed)``:
  ``index_price(currency, ts_ms)``, ``index_series(currency, ts_ms_array)``,
  ``instrument(name) -> Instrument | None`` (exists at some time, ignoring "now"),
  ``list_instruments(currency, kind, now_ms, expired=False, expired_window_ms=30 days)``,
  ``fair_price(inst, ts_ms)``, ``basis(currency, ts_ms)`` (annualised), ``premium(currency, ts_ms)``,
  ``atm_vol(currency, ts_ms)``, ``option_quote(inst, now_ms, ivs=True)`` (mark, iv, greeks, quotes),
  ``candles(name_or_inst, start_ms, end_ms, resolution, now_ms, lower_exclusive=False, limit=5000)``,
  ``trades(inst, start_ms, end_ms, now_ms)`` (dict of numpy arrays),
  ``funding(currency, start_ms, end_ms, now_ms, limit=744, lower_exclusive=False)``,
  ``funding_chart(currency, now_ms, length)``, ``historical_volatility(currency, now_ms)``,
  ``delivery_price(currency, day)``,
  ``dvol(currency, start_ms, end_ms, resolution_s, now_ms)``, ``settlements(...)``.
All timestamps are epoch milliseconds (UTC).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson

from ingest.deribit import calendar as cal

UTC = timezone.utc
MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
EPOCH0 = datetime(2018, 1, 1, tzinfo=UTC)
T0_MS = cal.to_ms(EPOCH0)
N_DAYS = 9500  # anchors until ~2044
FUNDING_START_MS = cal.to_ms(datetime(2019, 5, 1, tzinfo=UTC))
DVOL_START_MS = cal.to_ms(datetime(2021, 3, 24, tzinfo=UTC))
CURRENCIES = ("BTC", "ETH")
# 1D candles are ticked at 08:00 UTC (Deribit's daily settlement), not at midnight
DAILY_CANDLE_OFFSET_MS = 8 * HOUR_MS
RESOLUTIONS = {"1": 1, "3": 3, "5": 5, "10": 10, "15": 15, "30": 30, "60": 60, "120": 120, "180": 180,
               "360": 360, "720": 720, "1D": 1440}

# Approximate real month-start index levels (USD), 2018-01 .. 2026-01; flat afterwards.
_BTC_LEVELS = [
    13500, 9000, 10500, 7000, 9200, 7500, 6400, 7700, 7000, 6600, 6300, 4000,
    3700, 3450, 3850, 4100, 5300, 8500, 10500, 10000, 9600, 8300, 9200, 7500,
    7200, 9400, 8600, 6400, 8800, 9500, 9200, 11300, 11700, 10800, 13800, 19700,
    29000, 33500, 45000, 58800, 57700, 36700, 35000, 41500, 47100, 43800, 61300, 57000,
    46300, 38500, 43200, 45500, 38500, 31800, 19900, 23300, 20000, 19400, 20500, 17200,
    16600, 23100, 23600, 28500, 29200, 27200, 30500, 29200, 25900, 27000, 34600, 37700,
    42300, 42600, 61200, 71300, 60600, 67500, 62700, 64600, 58900, 63300, 70200, 96400,
    94400, 102400, 84300, 82500, 94200, 104600, 107100, 115700, 108200, 114000, 110000, 91000,
    88000,
]
_ETH_LEVELS = [
    750, 1100, 860, 400, 670, 580, 450, 430, 290, 230, 200, 110,
    135, 107, 135, 140, 160, 265, 290, 215, 170, 180, 180, 150,
    130, 180, 220, 135, 210, 230, 225, 345, 430, 360, 385, 610,
    740, 1310, 1420, 1920, 2780, 2700, 2100, 2550, 3430, 3000, 4300, 4630,
    3680, 2690, 2920, 3280, 2730, 1940, 1070, 1680, 1550, 1330, 1570, 1290,
    1200, 1590, 1650, 1820, 1870, 1870, 1930, 1860, 1650, 1670, 1810, 2090,
    2280, 2280, 3340, 3610, 3000, 3760, 3430, 3230, 2510, 2600, 2510, 3700,
    3330, 3300, 2210, 1820, 1840, 2530, 2490, 3700, 4400, 4150, 3850, 3000,
    2950,
]

# Per-currency static parameters.
_CUR = {
    "BTC": dict(levels=_BTC_LEVELS, sigma=0.030, vol=0.60, perp=datetime(2018, 8, 13, tzinfo=UTC),
                quarterly_from=datetime(2019, 1, 1, tzinfo=UTC), options_from=datetime(2019, 3, 1, tzinfo=UTC),
                fut_tick=2.5, perp_tick=0.5, contract=10.0, fut_min=10.0, opt_min=0.1, code=1,
                index="btc_usd", oi_perp=6.0e8),
    "ETH": dict(levels=_ETH_LEVELS, sigma=0.040, vol=0.75, perp=datetime(2019, 3, 12, tzinfo=UTC),
                quarterly_from=datetime(2019, 6, 1, tzinfo=UTC), options_from=datetime(2019, 6, 1, tzinfo=UTC),
                fut_tick=0.25, perp_tick=0.05, contract=1.0, fut_min=1.0, opt_min=1.0, code=2,
                index="eth_usd", oi_perp=2.5e8),
}
SHORT_EXPIRIES_FROM = datetime(2021, 1, 1, tzinfo=UTC)  # futures monthlies/weeklies, option dailies
# Daily futures (settlement_period "day", e.g. BTC-21SEP26 beside the weeklies in a 2026 capture): Deribit lists
# them since 2025; the exact start is not known, the simulator starts them on 2025-01-01.
DAILY_FUTURES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
LEAD = {"quarter": timedelta(weeks=26), "month": timedelta(weeks=8), "week": timedelta(weeks=2),
        "day": timedelta(days=3)}
# a daily future is listed 4 days ahead (2026 capture: BTC-21SEP26 created 2026-09-17 08:00:15)
FUTURE_DAY_LEAD = timedelta(days=4)
OPT_GRID = {"day": (0.01, 8), "week": (0.02, 10), "month": (0.03, 12), "quarter": (0.06, 14)}
FUT_RATE = {"quarter": 0.8, "month": 0.4, "week": 0.3, "day": 0.2}
PERP_RATE = 2.0
# far options trade rarely: ~0.7 a day, so many show a day without trades (the no-trade ticker stats)
OPTION_MIN_RATE = 0.0005
# get_funding_chart_data length -> (span, step between points)
FUNDING_CHART_LENGTHS = {"8h": (8 * 3_600_000, 60_000), "24h": (86_400_000, 5 * 60_000),
                         "1m": (31 * 86_400_000, 3_600_000)}
HV_POINTS = 16 * 24 + 1   # get_historical_volatility: hourly points over ~16 days
HV_WINDOW_HOURS = 7 * 24  # hourly returns per point
DAMPENER = 0.0005


# ----------------------------------------------------------------------------- helpers

def _hkey(*parts) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=16).digest(), "little")


def _rng(*parts) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(_hkey(*parts)))


_FAST = threading.local()


def _draw(*parts) -> np.random.Generator:
    """Like :func:`_rng` (a PCG64 stream keyed by a hash of ``parts``) but without building a new
    generator: the calling thread's one generator is re-keyed.  Only for draws made at once, before
    anything else may call ``_draw`` again (hot paths of the market)."""
    g = getattr(_FAST, "g", None)
    if g is None:
        g = _FAST.g = np.random.Generator(np.random.PCG64(0))
    h = hashlib.blake2b(repr(parts).encode(), digest_size=32).digest()
    g.bit_generator.state = {"bit_generator": "PCG64",
                             "state": {"state": int.from_bytes(h[:16], "little"),
                                       "inc": int.from_bytes(h[16:], "little") | 1},
                             "has_uint32": 0, "uinteger": 0}
    return g


def _decimals(tick: float) -> int:
    text = repr(float(tick))
    frac = text.split(".")[1] if "." in text else ""
    return 0 if frac == "0" else len(frac)


def round_to_tick(x, tick: float):
    return np.round(np.round(np.asarray(x) / tick) * tick, _decimals(tick))


def _nice_step(raw: float) -> float:
    k = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * k >= raw * 0.999:
            return m * k
    return 10 * k


_SQRT2 = math.sqrt(2.0)


def norm_cdf(x):
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _np_norm_cdf(x):
    # vectorised erfc via math on small arrays; np has no erf -> use np.vectorize-free approximation
    return 0.5 * _np_erfc(-x / _SQRT2)


def _np_erfc(x):
    # Numerical Recipes erfc (fractional error < 1.2e-7), vectorised.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    r = t * np.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    return np.where(x >= 0, r, 2.0 - r)


def black76(F, K, T, sigma, is_call):
    """Undiscounted Black-76 price in USD (numpy arrays or scalars)."""
    F = np.asarray(F, float)
    T = np.maximum(np.asarray(T, float), 1e-12)
    sigma = np.maximum(np.asarray(sigma, float), 1e-9)
    sT = sigma * np.sqrt(T)
    d1 = (np.log(F / K) + 0.5 * sT * sT) / sT
    d2 = d1 - sT
    call = F * _np_norm_cdf(d1) - K * _np_norm_cdf(d2)
    put = call - F + K
    return np.maximum(np.where(is_call, call, put), 0.0)


def implied_vol(price_usd, F, K, T, is_call, lo=0.01, hi=5.0, iters=48):
    """Vectorised bisection inverse of :func:`black76`."""
    price_usd = np.asarray(price_usd, float)
    lo_a = np.full_like(price_usd, lo)
    hi_a = np.full_like(price_usd, hi)
    for _ in range(iters):
        mid = 0.5 * (lo_a + hi_a)
        p = black76(F, K, T, mid, is_call)
        up = p < price_usd
        lo_a = np.where(up, mid, lo_a)
        hi_a = np.where(up, hi_a, mid)
    return 0.5 * (lo_a + hi_a)


def implied_vol_newton(price_usd, F, K, T, is_call, iv0, iters=6):
    """Newton inverse of :func:`black76` from a close starting point (clipped to [1 %, 500 %])."""
    iv = np.asarray(iv0, float).copy()
    T = np.maximum(np.asarray(T, float), 1e-12)
    sqT = np.sqrt(T)
    for _ in range(iters):
        sT = iv * sqT
        d1 = (np.log(F / K) + 0.5 * sT * sT) / sT
        vega = F * np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * sqT
        diff = black76(F, K, T, iv, is_call) - price_usd
        iv = np.clip(iv - diff / np.maximum(vega, 1e-9), 0.01, 5.0)
    return iv


def smile_iv(atm, F, K, tau):
    tau = np.maximum(tau, 1.0 / (365 * 24 * 60))
    base = atm * (1 + 0.05 * (1 - np.minimum(tau, 1.0)))
    z = np.clip(np.log(K / F) / (atm * np.sqrt(tau)), -3, 3)
    return base * (1 - 0.08 * z + 0.06 * z * z)


def b76_greeks(F: float, K: float, T: float, sigma: float, is_call: bool) -> dict:
    """Scalar Black-76 price (USD) and greeks with the conventions in the module docstring."""
    if T <= 0 or sigma <= 0:
        intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
        delta = (1.0 if F > K else 0.0) if is_call else (-1.0 if F < K else 0.0)
        return dict(price=intrinsic, delta=delta, gamma=0.0, vega=0.0, theta=0.0, rho=0.0)
    sT = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * sT * sT) / sT
    d2 = d1 - sT
    pdf = norm_pdf(d1)
    if is_call:
        price = F * norm_cdf(d1) - K * norm_cdf(d2)
        delta = norm_cdf(d1)
        rho = K * T * norm_cdf(d2) / 100
    else:
        price = K * norm_cdf(-d2) - F * norm_cdf(-d1)
        delta = norm_cdf(d1) - 1
        rho = -K * T * norm_cdf(-d2) / 100
    return dict(price=max(price, 0.0), delta=delta, gamma=pdf / (F * sT), vega=F * pdf * math.sqrt(T) / 100,
                theta=-F * pdf * sigma / (2 * math.sqrt(T)) / 365, rho=rho)


def b76_price(F: float, K: float, T: float, sigma: float, is_call: bool) -> float:
    """Scalar undiscounted Black-76 price in USD."""
    if T <= 0 or sigma <= 0:
        return max(F - K, 0.0) if is_call else max(K - F, 0.0)
    sT = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * sT * sT) / sT
    d2 = d1 - sT
    if is_call:
        return max(F * norm_cdf(d1) - K * norm_cdf(d2), 0.0)
    return max(K * norm_cdf(-d2) - F * norm_cdf(-d1), 0.0)


IV_SOLVE_RANGE = (0.005, 10.0)  # 0.5 % .. 1000 %


def implied_vol_scalar(price_usd: float, F: float, K: float, T: float, is_call: bool) -> float | None:
    """Black-76 implied volatility of one price by bisection on log(sigma) within :data:`IV_SOLVE_RANGE`;
    None when no volatility in that range reproduces the price (at or below the intrinsic value, or
    above the price at 1000 %)."""
    lo, hi = IV_SOLVE_RANGE
    if not (b76_price(F, K, T, lo, is_call) < price_usd < b76_price(F, K, T, hi, is_call)):
        return None
    a, b = math.log(lo), math.log(hi)
    for _ in range(60):
        m = 0.5 * (a + b)
        if b76_price(F, K, T, math.exp(m), is_call) < price_usd:
            a = m
        else:
            b = m
    return math.exp(0.5 * (a + b))


def exchange_theta(theta_per_day: float, tau_years: float, price_usd: float) -> float:
    """Deribit's theta (USD per day): the Black-76 theta per calendar day times ``min(1, days left)``,
    but never a loss larger than the option's whole Black-76 value::

        theta = max(theta_b76_per_day * min(1, days_left), -price_b76)

    With a day or more left (and a value above one day's decay) this is the plain Black-76 per-day
    theta.  The convention is fitted on real tickers (F, strike, mark_iv and the time left taken from
    each capture):

    * BTC-8MAY20-11000-P, 0.318 days left: Black-76 per day -54.77, times 0.318 = -17.42; exchange -17.4153;
    * BTC-12MAR25-65000-C, 0.403 days left: -0.0394 x 0.403 = -0.0159; exchange -0.01591;
    * BTC-10SEP25-106000-P, 0.666 days left: -80.04 x 0.666 = -53.3 exceeds the option's whole value
      15.99 USD (Black-76 at mark_iv); exchange -15.99927;
    * 15 and 322 days left (BTC-15JAN21-28000-C, BTC-27SEP24-40000-C): the plain per-day theta."""
    return max(theta_per_day * min(1.0, tau_years * 365.0), -price_usd)


OPTION_MIN_TICK = 0.0001
# Option marks: 8 decimals in 2020-21 captures (0.1075835, 0.09096156); 4 decimals and never below the minimum
# tick in 2023-25 captures (0.2168; 0.0001 where Black-76 at mark_iv gives 0.000144).  The switch date is not
# known; the simulator switches on 2023-01-01.  Greeks and mark_iv are those of the unrounded model.
MARK_4DP_FROM_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
STUB_BID_SHARE = 0.3     # deep ITM options (|delta| >= 0.9) quoted by a stub bid below intrinsic, per hour
WIDE_ASK_SHARE = 0.2     # far OTM options (|delta| < 0.1) with an ask of 0.005-0.025 coin, per hour
NO_ASK_SHARE = 0.03      # out-of-the-money options without any ask, per hour
ASK_IV_UNSOLVED = 500.0  # ask_iv shown for an ask no volatility up to 1000 % explains


def _option_tick(p: float) -> float:
    return 0.0005 if p >= 0.005 else OPTION_MIN_TICK


def _option_tick_floor(p: float) -> float:
    t = _option_tick(p)
    return round(math.floor(p / t + 1e-9) * t, 4) if p > 0 else 0.0


def _option_tick_ceil(p: float) -> float:
    t = _option_tick(p)
    return round(math.ceil(p / t - 1e-9) * t, 4) if p > 0 else 0.0


def _unit(*parts) -> float:
    """A deterministic number in [0, 1) from ``parts`` (which quirk applies to what)."""
    return (_hkey(*parts) >> 64) / 2.0 ** 64


class ByteLRU:
    """Thread-safe LRU bounded by an approximate byte budget."""

    def __init__(self, budget: int):
        self.budget = budget
        self.size = 0
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
                return v[0]
        return None

    def put(self, key, value, nbytes: int):
        with self.lock:
            if key in self.data:
                return
            self.data[key] = (value, nbytes)
            self.size += nbytes
            while self.size > self.budget and len(self.data) > 1:
                _, (_, n) = self.data.popitem(last=False)
                self.size -= n


def _nbytes(d: dict) -> int:
    return sum(v.nbytes for v in d.values() if isinstance(v, np.ndarray)) + 200


_MINUTE_MS = np.arange(1440, dtype=np.int64) * MIN_MS
_GRID1441 = np.arange(1441, dtype=float)
_ARANGE_K = np.arange(256, dtype=np.int64)


def trade_id(currency: str, instrument_id: int, seq: int) -> str:
    """A trade's id: one sequence per currency, BTC's bare, the others prefixed ("ETH-..."); the
    exchange pages a currency's trades of one millisecond in the order of these strings."""
    return f"{'' if currency == 'BTC' else currency + '-'}{instrument_id}{seq:09d}"


def day_of(ts_ms: int) -> int:
    return (ts_ms - T0_MS) // DAY_MS


def day_start(day: int) -> int:
    return T0_MS + day * DAY_MS


# ----------------------------------------------------------------------------- instruments

@dataclass(frozen=True)
class Instrument:
    name: str
    currency: str
    kind: str  # future | option
    is_perpetual: bool
    creation_ms: int
    expiration_ms: int
    expiry_class: str | None  # quarter|month|week|day|None
    instrument_id: int
    tick_size: float
    contract_size: float
    min_trade_amount: float
    rate: float  # expected trades per minute
    strike: float | None = None
    option_type: str | None = None

    @property
    def is_call(self) -> bool:
        return self.option_type == "call"

    @property
    def settlement_period(self) -> str:
        if self.is_perpetual:
            return "perpetual"
        return "month" if self.expiry_class == "quarter" else self.expiry_class

    @property
    def future_name(self) -> str:
        return cal.future_name(self.currency, cal.from_ms(self.expiration_ms))

    def alive(self, ts_ms: int) -> bool:
        return self.creation_ms <= ts_ms < self.expiration_ms


@dataclass
class _Expiry:
    expiry: datetime
    cls: str
    creation: datetime


# ----------------------------------------------------------------------------- market

class _DayPaths:
    """Read-only mapping series -> the day's path (index, premium, basis, vol), generated lazily."""

    __slots__ = ("m", "currency", "day")

    def __init__(self, m: "Market", currency: str, day: int):
        self.m, self.currency, self.day = m, currency, day

    def __getitem__(self, series: str) -> np.ndarray:
        return self.m._path(self.currency, series, self.day)



class Market:
    """The deterministic market of one seed. Thread-safe; caches are bounded."""

    def __init__(self, seed: int = 0, cache_bytes: int = 384 << 20):
        self.seed = int(seed)
        self._anchors: dict = {}
        self._lock = threading.Lock()
        self._paths = ByteLRU(cache_bytes // 8)
        self._trades = ByteLRU(cache_bytes * 3 // 8)
        self._candles = ByteLRU(cache_bytes // 4)
        self._json = ByteLRU(cache_bytes // 4)  # serialised chart data of whole days
        self._memo: dict = {}  # small permanent memos (carry-in prices, cumulative counts, strikes)
        self._inst_cache: dict = {}

    # ---------------------------------------------------------------- daily anchors
    def _anchor(self, currency: str, series: str) -> np.ndarray:
        key = (currency, series)
        a = self._anchors.get(key)
        if a is not None:
            return a
        p = _CUR[currency]
        n = N_DAYS + 1
        base = _rng(self.seed, "anchor-common", series).standard_normal(n)
        own = _rng(self.seed, "anchor", currency, series).standard_normal(n)
        eps = 0.7 * base + 0.714 * own if currency != "BTC" else base
        if series == "index":
            phi, sig = 0.97, p["sigma"]
            x = _ar1(eps, phi, sig)
            lv = np.log(np.asarray(p["levels"], float))
            month_days = np.array([(datetime(2018 + i // 12, i % 12 + 1, 1, tzinfo=UTC) - EPOCH0).days
                                   for i in range(len(lv))], float)
            target = np.interp(np.arange(n), month_days, lv)
            a = target + x
        elif series == "premium":
            a = 0.0008 + _ar1(eps, 0.8, 0.0003)
        elif series == "basis":
            a = 0.08 + _ar1(eps, 0.95, 0.012)
            a = np.clip(a, 0.005, 0.35)
        elif series == "vol":
            a = np.log(p["vol"]) + _ar1(eps, 0.95, 0.06)
        else:  # pragma: no cover
            raise KeyError(series)
        with self._lock:
            self._anchors[key] = a
        return a

    # minute marks of one day (1441 values incl. next midnight)
    _INTRA = {"index": None, "premium": 0.0004, "basis": 0.004, "vol": 0.03}

    def _day_paths(self, currency: str, day: int) -> "_DayPaths":
        """The day's intra-day series at its 1441 minute marks, each generated when first asked for."""
        if day < 0 or day >= N_DAYS:
            raise ValueError("time outside the simulated range (2018-01-01 .. 2043)")
        return _DayPaths(self, currency, day)

    _T1441 = np.linspace(0.0, 1.0, 1441)

    def _path(self, currency: str, series: str, day: int) -> np.ndarray:
        """One series of one day at the 1441 minute marks: a Brownian bridge between two daily anchors."""
        key = (series, currency, day)
        v = self._paths.get(key)
        if v is not None:
            return v
        if day < 0 or day >= N_DAYS:
            raise ValueError("time outside the simulated range (2018-01-01 .. 2043)")
        a = self._anchor(currency, series)
        a0, a1 = a[day], a[day + 1]
        sig = _CUR[currency]["sigma"] if series == "index" else self._INTRA[series]
        t = self._T1441
        w = np.empty(1441)
        w[0] = 0.0
        np.cumsum(_draw(self.seed, "bridge", currency, series, day).standard_normal(1440), out=w[1:])
        w *= sig / math.sqrt(1440)
        bridge = w - t * (w[-1] - (a1 - a0))
        bridge += a0
        if series in ("index", "vol"):
            np.exp(bridge, out=bridge)
        elif series == "basis":
            np.clip(bridge, 0.0, 0.5, out=bridge)
        self._paths.put(key, bridge, bridge.nbytes + 100)
        return bridge

    def _interp(self, currency: str, series: str, ts) -> np.ndarray:
        ts = np.atleast_1d(np.asarray(ts, np.int64))
        out = np.empty(ts.shape, float)
        days = (ts - T0_MS) // DAY_MS
        for d in np.unique(days):
            m = days == d
            path = self._day_paths(currency, int(d))[series]
            pos = (ts[m] - day_start(int(d))) / MIN_MS
            out[m] = np.interp(pos, np.arange(1441), path)
        return out

    # ---------------------------------------------------------------- public series
    def index_price(self, currency: str, ts_ms: int) -> float:
        """The currency's USD index at ``ts_ms`` (unrounded)."""
        return float(self._interp(currency, "index", [ts_ms])[0])

    def index_series(self, currency: str, ts_ms) -> np.ndarray:
        return self._interp(currency, "index", ts_ms)

    def premium(self, currency: str, ts_ms: int) -> float:
        return float(self._interp(currency, "premium", [ts_ms])[0])

    def basis(self, currency: str, ts_ms: int) -> float:
        """Annualised contango rate of the dated futures at ``ts_ms``."""
        return float(self._interp(currency, "basis", [ts_ms])[0])

    def atm_vol(self, currency: str, ts_ms: int) -> float:
        return float(self._interp(currency, "vol", [ts_ms])[0])

    def forward(self, currency: str, expiry_ms: int, ts_ms: int) -> float:
        tau = max(expiry_ms - ts_ms, 0) / YEAR_MS
        return self.index_price(currency, ts_ms) * math.exp(self.basis(currency, ts_ms) * tau)

    # ---------------------------------------------------------------- schedule
    def _expiries(self, currency: str, kind: str, start: datetime, end: datetime) -> list[_Expiry]:
        """Expiries of a kind whose expiry instant lies in [start, end], with their listing time."""
        p = _CUR[currency]
        launch = p["perp"]
        first = p["quarterly_from"] if kind == "future" else p["options_from"]
        s = max(start, first)
        if s > end:
            return []
        found: dict[datetime, str] = {}
        for x in cal.quarterly_expiries(s, end):
            found[x] = "quarter"
        s2 = max(s, SHORT_EXPIRIES_FROM) if kind == "future" else s
        if s2 <= end:
            for x in cal.monthly_expiries(s2, end):
                found.setdefault(x, "month")
            for x in cal.weekly_expiries(s2, end):
                found.setdefault(x, "week")
        s3 = max(s, SHORT_EXPIRIES_FROM if kind == "option" else DAILY_FUTURES_FROM)
        if s3 <= end:
            for x in cal.daily_expiries(s3, end):
                found.setdefault(x, "day")
        out = []
        for x in sorted(found):
            cls = found[x]
            floor = (launch if kind == "future" else max(first, launch)).replace(hour=8)
            lead = FUTURE_DAY_LEAD if (kind == "future" and cls == "day") else LEAD[cls]
            creation = max(x - lead, floor)
            out.append(_Expiry(x, cls, creation))
        return out

    def _strikes(self, currency: str, expiry: _Expiry) -> list[float]:
        key = ("strikes", currency, expiry.expiry)
        v = self._memo.get(key)
        if v is not None:
            return v
        c_ms = cal.to_ms(expiry.creation)
        F0 = self.forward(currency, cal.to_ms(expiry.expiry), c_ms)
        pct, n = OPT_GRID[expiry.cls]
        step = _nice_step(F0 * pct)
        center = round(F0 / step) * step
        strikes = [center + step * i for i in range(-n, n + 1)]
        strikes = [float(round(k, 6)) for k in strikes if k > 0]
        self._memo[key] = strikes
        return strikes

    def _make_future(self, currency: str, e: _Expiry | None) -> Instrument:
        p = _CUR[currency]
        if e is None:
            name = cal.perpetual_name(currency)
            return Instrument(name, currency, "future", True, cal.to_ms(p["perp"]), cal.PERPETUAL_EXPIRATION_MS,
                              None, p["code"] * 100_000_000 + 1, p["perp_tick"], p["contract"], p["fut_min"],
                              PERP_RATE)
        x_ms = cal.to_ms(e.expiry)
        day = (x_ms - T0_MS) // DAY_MS
        return Instrument(cal.future_name(currency, e.expiry), currency, "future", False, cal.to_ms(e.creation),
                          x_ms, e.cls, p["code"] * 100_000_000 + day * 10_000, p["fut_tick"], p["contract"],
                          p["fut_min"], FUT_RATE.get(e.cls, 0.3))

    def _make_options(self, currency: str, e: _Expiry) -> list[Instrument]:
        key = ("options", currency, e.expiry)
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = self._build_options(currency, e)
        return v

    def _build_options(self, currency: str, e: _Expiry) -> list[Instrument]:
        p = _CUR[currency]
        x_ms = cal.to_ms(e.expiry)
        c_ms = cal.to_ms(e.creation)
        day = (x_ms - T0_MS) // DAY_MS
        F0 = self.forward(currency, x_ms, c_ms)
        atm = self.atm_vol(currency, c_ms)
        tau0 = (x_ms - c_ms) / YEAR_MS
        out = []
        for i, k in enumerate(self._strikes(currency, e)):
            z = abs(math.log(k / F0)) / (atm * math.sqrt(tau0))
            rate = max(OPTION_MIN_RATE, 0.03 * math.exp(-1.5 * z))
            for j, ot in enumerate(("call", "put")):
                out.append(Instrument(cal.option_name(currency, e.expiry, k, ot), currency, "option", False, c_ms,
                                      x_ms, e.cls, p["code"] * 100_000_000 + day * 10_000 + 1 + 2 * i + j, 0.0001,
                                      1.0, p["opt_min"], rate, k, ot))
        return out

    def instrument(self, name: str) -> Instrument | None:
        """The instrument of that name if the simulated exchange ever lists it (at any time)."""
        v = self._inst_cache.get(name)
        if v is not None:
            return v
        try:
            parsed = cal.parse_instrument_name(name)
        except ValueError:
            return None
        if parsed.currency not in _CUR:
            return None
        inst = None
        if parsed.is_perpetual:
            inst = self._make_future(parsed.currency, None)
        else:
            ex = self._expiries(parsed.currency, parsed.kind, parsed.expiry, parsed.expiry)
            if ex:
                if parsed.kind == "future":
                    inst = self._make_future(parsed.currency, ex[0])
                else:
                    for o in self._make_options(parsed.currency, ex[0]):
                        if o.name == name:
                            inst = o
                            break
        if inst is not None:
            if len(self._inst_cache) > 200_000:
                self._inst_cache.clear()
            self._inst_cache[name] = inst
        return inst

    def instruments_between(self, currency: str, kind: str | None, start_ms: int, end_ms: int) -> list[Instrument]:
        """Instruments alive at some time in [start_ms, end_ms]."""
        out: list[Instrument] = []
        kinds = ("future", "option") if kind in (None, "any") else (kind,)
        s, e = cal.from_ms(start_ms), cal.from_ms(end_ms)
        for k in kinds:
            if k == "future":
                perp = self._make_future(currency, None)
                if perp.creation_ms <= end_ms:
                    out.append(perp)
            if k not in ("future", "option"):
                continue
            for ex in self._expiries(currency, k, s, e + LEAD["quarter"]):
                if cal.to_ms(ex.creation) > end_ms or cal.to_ms(ex.expiry) <= start_ms:
                    continue
                if k == "future":
                    out.append(self._make_future(currency, ex))
                else:
                    out.extend(self._make_options(currency, ex))
        return out

    def list_instruments(self, currency: str, kind: str | None, now_ms: int, expired: bool = False,
                         expired_window_ms: int = 30 * DAY_MS) -> list[Instrument]:
        """What get_instruments shows at ``now_ms``: active ones, or the recently expired ones."""
        if expired:
            cands = self.instruments_between(currency, kind, now_ms - expired_window_ms, now_ms)
            return [i for i in cands if now_ms - expired_window_ms < i.expiration_ms <= now_ms]
        return [i for i in self.instruments_between(currency, kind, now_ms, now_ms) if i.alive(now_ms)]

    # ---------------------------------------------------------------- fair values
    def _fair_path(self, inst: Instrument, day: int) -> np.ndarray:
        """Fair value at the 1441 minute marks of a day."""
        P = self._day_paths(inst.currency, day)
        idx = P["index"]
        if inst.is_perpetual:
            return idx * (1 + P["premium"])
        ts = day_start(day) + np.arange(1441, dtype=np.int64) * MIN_MS
        tau = np.maximum(inst.expiration_ms - ts, 0) / YEAR_MS
        F = idx * np.exp(P["basis"] * tau)
        if inst.kind == "future":
            return F
        iv = smile_iv(P["vol"], F, inst.strike, tau)
        return black76(F, inst.strike, tau, iv, inst.is_call) / F

    def fair_price(self, inst: Instrument, ts_ms: int) -> float:
        d = day_of(ts_ms)
        return float(np.interp((ts_ms - day_start(d)) / MIN_MS, np.arange(1441), self._fair_path(inst, d)))

    def underlying_price(self, inst: Instrument, ts_ms: int) -> float:
        if inst.is_perpetual:
            return self.fair_price(inst, ts_ms)
        return self.forward(inst.currency, inst.expiration_ms, ts_ms)

    def option_quote(self, inst: Instrument, now_ms: int, ivs: bool = True) -> dict:
        """Mark, greeks, best bid/ask and price band of an option at ``now_ms`` (consistent with each
        other); with ``ivs`` also ``bid_iv``/``ask_iv`` (Black-76 inverted on the quotes: slower).

        Quirks of the exchange reproduced here (see docs/simulator.md):

        * ``greeks.theta`` follows the exchange's convention near expiry (:func:`exchange_theta`);
        * from 2023 the mark is rounded to 4 decimals and at least the minimum tick (:data:`MARK_4DP_FROM_MS`):
          far out of (or deep in) the money it no longer carries the volatility, ``mark_iv`` still does;
        * a side without a quote has price 0 and IV 0 (``bid_iv 0`` / ``ask_iv 0.0`` = no quote, not
          0 %); a bid below the intrinsic value (a stub bid on a deep in-the-money option, seen in a
          2020 capture beside a live best bid) has no IV either: ``bid_iv`` 0;
        * an ask above the Black-76 price at 1000 % volatility shows ``ask_iv`` 500.0 (the value the
          2020 captures show); solvable asks show their IV, which exceeds 500 for asks at a minimum
          tick close to expiry (863.38 seen)."""
        K, call = inst.strike, inst.is_call
        F = round(self.forward(inst.currency, inst.expiration_ms, now_ms), 2)
        tau = max(inst.expiration_ms - now_ms, 0) / YEAR_MS
        atm = self.atm_vol(inst.currency, now_ms)
        iv = round(float(smile_iv(atm, F, K, tau)) * 100, 2)
        g = b76_greeks(F, K, tau, iv / 100, call)
        mark = g["price"] / F
        greeks = {k: round(g[k], 5) + 0.0 for k in ("delta", "gamma", "vega", "rho")}  # + 0.0: no -0.0
        greeks["theta"] = round(exchange_theta(g["theta"], tau, g["price"]), 5) + 0.0
        intrinsic = max(F - K, 0.0) if call else max(K - F, 0.0)
        u = _unit(self.seed, "quote", inst.name, now_ms // HOUR_MS)
        spread_iv = 1.0 + 4.0 * abs(math.log(K / F))
        if tau > 0:
            bid_raw = b76_price(F, K, tau, (iv - spread_iv) / 100, call) / F if iv > spread_iv else 0.0
            ask_raw = b76_price(F, K, tau, (iv + spread_iv) / 100, call) / F
        else:
            bid_raw = ask_raw = mark
        bid = _option_tick_floor(bid_raw)
        ask = max(_option_tick_ceil(ask_raw), OPTION_MIN_TICK)
        if abs(g["delta"]) >= 0.9 and intrinsic / F > 0.01 and u < STUB_BID_SHARE:
            # a deep in-the-money option quoted only by a far stub bid below intrinsic and a wide ask
            v = u / STUB_BID_SHARE
            bid = max(_option_tick_floor(intrinsic / F * (0.1 + 0.3 * v)), OPTION_MIN_TICK)
            ask = _option_tick_ceil(min(mark * (2.0 + 4.0 * v), 1.0 if call else K / F))
        elif abs(g["delta"]) < 0.1 and u < STUB_BID_SHARE + WIDE_ASK_SHARE:
            # a far out-of-the-money option offered well above its value: close to expiry its ask_iv
            # exceeds 500
            v = (u - STUB_BID_SHARE) / WIDE_ASK_SHARE
            ask = max(ask, _option_tick_ceil(0.005 + 0.02 * v))
        elif u > 1.0 - NO_ASK_SHARE and intrinsic == 0.0:
            ask = 0.0  # nobody offers this one
        if 0 < ask <= bid:
            ask = round(bid + OPTION_MIN_TICK, 4)
        if now_ms >= MARK_4DP_FROM_MS:  # 2023+: the mark in 4 decimals, at least the minimum tick
            mark_out = max(round(mark, 4), OPTION_MIN_TICK)
        else:
            mark_out = round(mark, 8)
        out = dict(mark_price=mark_out, mark_iv=iv, underlying_price=F, tau=tau, greeks=greeks,
                   bid_price=bid, ask_price=ask,
                   min_price=max(_option_tick_floor(mark - max(0.03, 0.3 * mark)), OPTION_MIN_TICK),
                   max_price=_option_tick_ceil(mark + max(0.035, 0.45 * mark)))
        if ivs:
            bid_iv = ask_iv = 0.0
            if bid > 0 and tau > 0:
                x = implied_vol_scalar(bid * F, F, K, tau, call)
                bid_iv = round(x * 100, 2) if x is not None else 0.0
            if ask > 0 and tau > 0:
                x = implied_vol_scalar(ask * F, F, K, tau, call)
                ask_iv = round(x * 100, 2) if x is not None else ASK_IV_UNSOLVED
            elif ask > 0:
                ask_iv = ASK_IV_UNSOLVED
            out.update(bid_iv=bid_iv, ask_iv=ask_iv)
        return out

    def underlying_index(self, inst: Instrument) -> str:
        if inst.kind != "option":
            return "index_price"
        fut = self.instrument(inst.future_name)
        return inst.future_name if fut is not None else "SYN." + inst.future_name

    # ---------------------------------------------------------------- trades
    def _alive_minutes(self, inst: Instrument, day: int) -> tuple[int, int]:
        s = day_start(day)
        lo = max(0, -(-(inst.creation_ms - s) // MIN_MS))
        hi = min(1440, max(0, (inst.expiration_ms - s) // MIN_MS))
        return lo, hi

    COUNT_BLOCK = 32  # days per block of per-minute trade counts

    def _count_block(self, inst: Instrument, block: int) -> np.ndarray:
        """Per-minute trade counts of ``COUNT_BLOCK`` days, masked to the instrument's life (uint8)."""
        key = ("cblock", inst.name, block)
        v = self._paths.get(key)
        if v is not None:
            return v
        nb = self.COUNT_BLOCK
        c = _poisson_counts(_draw(self.seed, "counts", inst.name, block).random((nb, 1440)), inst.rate)
        starts = T0_MS + (block * nb + np.arange(nb, dtype=np.int64)) * DAY_MS
        lo = np.clip(-(-(inst.creation_ms - starts) // MIN_MS), 0, 1440)
        hi = np.clip((inst.expiration_ms - starts) // MIN_MS, 0, 1440)
        ar = np.arange(1440)
        c[(ar[None, :] < lo[:, None]) | (ar[None, :] >= hi[:, None])] = 0
        self._paths.put(key, c, c.nbytes + 100)
        return c

    def _counts(self, inst: Instrument, day: int) -> np.ndarray:
        b, r = divmod(day, self.COUNT_BLOCK)
        return self._count_block(inst, b)[r].astype(np.int64)

    def _block_totals(self, inst: Instrument, block: int) -> np.ndarray:
        key = ("btot", inst.name, block)
        v = self._memo.get(key)
        if v is None:
            v = self._count_block(inst, block).sum(axis=1, dtype=np.int64)
            self._memo[key] = v
        return v

    def trade_seq_base(self, inst: Instrument, day: int) -> int:
        """Number of trades of the instrument before ``day`` (trade_seq is consecutive from 1)."""
        nb = self.COUNT_BLOCK
        b0 = day_of(inst.creation_ms) // nb
        b, r = divmod(day, nb)
        key = ("bcum", inst.name)
        cum = self._memo.get(key)  # cum[i] = trades in blocks b0 .. b0+i-1
        if cum is None or len(cum) <= b - b0:
            have = [0] if cum is None else list(cum)
            for bb in range(b0 + len(have) - 1, b + 1):
                have.append(have[-1] + int(self._block_totals(inst, bb).sum()))
            cum = have
            self._memo[key] = cum
        return int(cum[b - b0] + self._block_totals(inst, b)[:r].sum())

    def _trade_draws(self, inst: Instrument, day: int) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
        """The per-instrument draws of a day's trades: (out with ts/direction/counts, position of each
        trade in minutes from midnight, the spread/IV uniform, the size normal).  Drawn all at once,
        before anything else may re-key the generator (see _draw)."""
        counts = self._counts(inst, day)
        n = int(counts.sum())
        if n == 0:  # a far option's usual day: nothing to draw
            return dict(ts=np.empty(0, np.int64), direction=np.empty(0, np.int8), counts=counts), \
                np.empty(0), np.empty(0), np.empty(0)
        rng = _draw(self.seed, "trades", inst.name, day)
        r = rng.random((3, n))
        z = rng.standard_normal(n)
        rel = np.repeat(_MINUTE_MS, counts)
        rel += (r[0] * MIN_MS).astype(np.int64)
        rel.sort()  # minutes are ascending already: sorting orders trades within their minute
        direction = (r[1] < 0.5).astype(np.int8)
        direction += direction
        direction -= 1
        out = dict(ts=rel + day_start(day), direction=direction, counts=counts)
        return out, rel / MIN_MS, r[2], z

    def day_trades(self, inst: Instrument, day: int) -> dict:
        """All trades of an instrument in one UTC day (ignores "now"), as numpy arrays."""
        key = ("trades", inst.name, day)
        v = self._trades.get(key)
        if v is not None:
            return v
        if inst.kind == "option":
            return self._option_day_trades(inst, day)
        out, pos, u, z = self._trade_draws(inst, day)
        if len(z) == 0:
            for k in ("price", "amount", "mark", "index"):
                out[k] = np.empty(0)
        else:
            # price = mark * (1 +- half-spread), half-spread uniform in [0.5, 2.5] bp, on the tick grid
            x = np.interp(pos, _GRID1441, self._fair_path(inst, day))
            u *= 0.0002
            u += 0.00005
            u *= out["direction"]
            u += 1.0
            x *= u
            out["price"] = round_to_tick(x, inst.tick_size)
            z *= 1.5
            z += 3.0
            np.exp(z, out=z)
            np.round(z, out=z)
            np.maximum(z, 1.0, out=z)
            z *= inst.min_trade_amount
            out["amount"] = z
        self._trades.put(key, out, _nbytes(out))
        return out

    def _option_siblings(self, inst: Instrument) -> list[Instrument]:
        """Every option of ``inst``'s currency and expiry (the strike grid, calls and puts)."""
        key = ("siblings", inst.currency, inst.expiration_ms)
        v = self._memo.get(key)
        if v is None:
            x = cal.from_ms(inst.expiration_ms)
            ex = self._expiries(inst.currency, "option", x, x)
            v = self._make_options(inst.currency, ex[0]) if ex else []
            if not any(o.name == inst.name for o in v):
                v = [inst]
            self._memo[key] = v
        return v

    def _option_day_trades(self, inst: Instrument, day: int) -> dict:
        """The day's trades of every option of ``inst``'s expiry, generated together (each option's own
        draws, one vectorised Black-76 pass for their prices and implied vols: a pass per option costs
        ~0.3 ms of numpy call overhead, and a currency lists ~800 options a day). Always generated this
        way, so an option's trades never depend on what was asked first. Returns ``inst``'s."""
        sibs = self._option_siblings(inst)
        mine = None
        drawn = []
        for o in sibs:
            out, pos, u, z = self._trade_draws(o, day)
            drawn.append((o, out, pos, u, z))
            if o.name == inst.name:
                mine = out
        ns = [len(z) for *_, z in drawn]
        n = sum(ns)
        if n:
            pos = np.concatenate([d[2] for d in drawn])
            u = np.concatenate([d[3] for d in drawn])
            z = np.concatenate([d[4] for d in drawn])
            ts = np.concatenate([d[1]["ts"] for d in drawn])
            direction = np.concatenate([d[1]["direction"] for d in drawn])
            strike = np.repeat(np.array([o.strike for o in sibs], dtype=float), ns)
            is_call = np.repeat(np.array([o.is_call for o in sibs]), ns)
            P = self._day_paths(inst.currency, day)
            idx = np.interp(pos, _GRID1441, P["index"])
            tau = np.maximum(inst.expiration_ms - ts, 0) / YEAR_MS
            F = idx * np.exp(np.interp(pos, _GRID1441, P["basis"]) * tau)
            iv_mark = smile_iv(np.interp(pos, _GRID1441, P["vol"]), F, strike, tau)
            mark = black76(F, strike, tau, iv_mark, is_call) / F
            iv_t = iv_mark * (1 + direction * (0.01 + 0.04 * u))
            raw = black76(F, strike, tau, iv_t, is_call) / F
            tick = np.where(raw >= 0.005, 0.0005, 0.0001)
            price = np.maximum(np.round(np.round(raw / tick) * tick, 4), 0.0001)
            z += 1.5  # lognormal(1.5, 1.0)
            amount = np.round(np.repeat([o.min_trade_amount for o in sibs], ns) * np.maximum(1, np.round(np.exp(z))),
                              1)
            iv = np.round(implied_vol_newton(price * F, F, strike, tau, is_call, iv_t) * 100, 2)
        at = 0
        for (o, out, *_), k in zip(drawn, ns, strict=True):
            if n:
                sl = slice(at, at + k)
                out.update(index=idx[sl], mark=mark[sl], price=price[sl], amount=amount[sl], iv=iv[sl])
            else:
                out.update({c: np.empty(0) for c in ("price", "amount", "mark", "index", "iv")})
            at += k
            self._trades.put(("trades", o.name, day), out, _nbytes(out))
        assert mine is not None
        return mine

    def day_ticks(self, inst: Instrument, day: int) -> np.ndarray:
        """tick_direction of the day's trades (int8): 0 plus tick (above the instrument's previous trade),
        2 minus tick (below), for an unchanged price 1 zero-plus / 3 zero-minus by the last change of the
        day (a day's first unchanged prices count as zero-plus). The first trade compares with the last
        trade before the day (the listing price before the first ever). A property of the trade, not of
        the request that returns it; kept with the day's trades."""
        t = self.day_trades(inst, day)
        ticks = t.get("tick")
        if ticks is None:
            p = t["price"]
            if len(p):
                step = np.sign(np.diff(np.concatenate(([self._last_close_before(inst, day)], p))))
                moved = np.where(step != 0, np.arange(len(step)), -1)
                np.maximum.accumulate(moved, out=moved)
                last = np.where(moved >= 0, step[np.maximum(moved, 0)], 1)
                ticks = np.where(step > 0, 0, np.where(step < 0, 2, np.where(last > 0, 1, 3))).astype(np.int8)
            else:
                ticks = np.empty(0, dtype=np.int8)
            t["tick"] = ticks
        return ticks

    def _last_close_before(self, inst: Instrument, day: int) -> float:
        """Close carried into ``day``: last trade price before it, or the listing fair value."""
        d = day - 1
        first = day_of(inst.creation_ms)
        while d >= first:
            px = self._last_price(inst, d)
            if px is not None:
                return px
            d -= 1
        return self.listing_price(inst)

    def _last_price(self, inst: Instrument, day: int) -> float | None:
        """Price of the day's last trade (None without trades), memoised.  For futures it is computed
        without generating the whole day: the same draws as :meth:`day_trades`, for one trade only."""
        key = ("lastpx", inst.name, day)
        if key in self._memo:
            return self._memo[key]
        t = self._trades.get(("trades", inst.name, day))
        if t is None and inst.kind == "option":
            t = self.day_trades(inst, day)
        if t is not None:
            px = float(t["price"][-1]) if len(t["price"]) else None
        else:
            px = self._future_last_trade_price(inst, day)
        if len(self._memo) > 500_000:
            self._memo.clear()
        self._memo[key] = px
        return px

    def _future_last_trade_price(self, inst: Instrument, day: int) -> float | None:
        counts = self._counts(inst, day)
        n = int(counts.sum())
        if n == 0:
            return None
        r = _draw(self.seed, "trades", inst.name, day).random((3, n))  # as in day_trades
        last_min = int(np.flatnonzero(counts)[-1])
        k = int(counts[last_min])
        rel = last_min * MIN_MS + (r[0, n - k:] * MIN_MS).astype(np.int64).max()  # latest of its minute
        x = np.interp(np.array([rel]) / MIN_MS, _GRID1441, self._fair_path(inst, day))
        u = r[2, n - 1:n] * 0.0002
        u += 0.00005
        u *= 1.0 if r[1, n - 1] < 0.5 else -1.0
        u += 1.0
        x *= u
        return float(round_to_tick(x, inst.tick_size)[0])

    def listing_price(self, inst: Instrument) -> float:
        px = self.fair_price(inst, inst.creation_ms)
        if inst.kind == "option":
            return float(max(round_to_tick(px, 0.0005 if px >= 0.005 else 0.0001), 0.0001))
        return float(round_to_tick(px, inst.tick_size))

    def day_candles(self, inst: Instrument, day: int) -> dict:
        """One-minute candles of a day (filler candles included), from that day's trades."""
        key = ("candles", inst.name, day)
        v = self._candles.get(key)
        if v is not None:
            return v
        t = self.day_trades(inst, day)
        out = self._minute_candles(inst, day, t, self._last_close_before(inst, day))
        self._candles.put(key, out, _nbytes(out))
        return out

    def _minute_candles(self, inst: Instrument, day: int, t: dict, carry: float, upto_ms: int | None = None) -> dict:
        """One-minute OHLCV of a day aggregated from its trades ``t``; fillers carry the previous close.

        With ``pp = [carry, price...]`` and ``ends`` the cumulative trade count through each minute,
        a minute's close is ``pp[ends]`` (for a filler: the previous close) and its open
        ``pp[ends - counts + has]`` (first trade, or the previous close)."""
        counts = t["counts"]
        price, amount, ts = t["price"], t["amount"], t["ts"]
        if upto_ms is not None:
            keep = ts <= upto_ms
            price, amount, ts = price[keep], amount[keep], ts[keep]
            counts = np.bincount((ts - day_start(day)) // MIN_MS, minlength=1440).astype(np.int64)
        has = counts > 0
        if not len(price):
            f = np.full(1440, float(carry))
            z = np.zeros(1440)
            return dict(open=f, high=f, low=f, close=f, volume=z, cost=z, has=has)
        pp = np.empty(len(price) + 1)
        pp[0] = carry
        pp[1:] = price
        ends = np.cumsum(counts)
        begins = ends - counts
        c = pp[ends]
        o = pp[begins + has]
        h = c.copy()
        lo_ = c.copy()
        st = begins[has]
        cnt = counts[has]
        # high/low: a (K, minutes with trades) matrix of each minute's prices, its last one repeated
        K = int(cnt.max())
        ix = np.minimum(_ARANGE_K[:K, None], cnt - 1)
        ix += st
        P = price[ix]
        h[has] = P.max(axis=0)
        lo_[has] = P.min(axis=0)
        vol = np.zeros(1440)
        cost = np.zeros(1440)
        if inst.kind == "option":
            vol[has] = np.add.reduceat(amount, st)
            cost[has] = np.add.reduceat(amount * price, st)
        else:
            # sums per minute as differences of running sums: cost (whole USD amounts) is exact; volume
            # differs from a direct sum by far less than the 1e-8 it is rounded to
            for arr, out in ((amount / price, vol), (amount, cost)):
                cs = np.empty(len(arr) + 1)
                cs[0] = 0.0
                np.cumsum(arr, out=cs[1:])
                out[:] = cs[ends]
                out -= cs[begins]
        np.round(vol, 8, out=vol)
        np.round(cost, 8, out=cost)
        return dict(open=o, high=h, low=lo_, close=c, volume=vol, cost=cost, has=has)

    # ---------------------------------------------------------------- candles
    _CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "cost")

    def _candle_plan(self, inst: Instrument, start_ms: int, end_ms: int, R: int, now_ms: int,
                     lower_exclusive: bool, limit: int) -> list[tuple[int, int, int]]:
        """The buckets a chart-data request returns, as ``(day, i0, i1)``: buckets ``i0 .. i1 - 1`` of
        each UTC day (``1440 / R`` buckets a day; every resolution divides a day)."""
        Rms = R * MIN_MS
        first = -(-(start_ms + (1 if lower_exclusive else 0)) // Rms) * Rms
        first = max(first, (inst.creation_ms // Rms) * Rms, T0_MS)
        last_allowed = min(end_ms, now_ms, inst.expiration_ms - 1)
        last = (last_allowed // Rms) * Rms
        if last < first:
            return []
        if (last - first) // Rms + 1 > limit:
            first = last - (limit - 1) * Rms
        per_day = 1440 // R
        out = []
        for d in range(day_of(first), day_of(last) + 1):
            ds = day_start(d)
            out.append((d, max(0, (first - ds) // Rms), min(per_day, (last - ds) // Rms + 1)))
        return out

    def _day_buckets(self, inst: Instrument, d: int, R: int, now_ms: int) -> dict:
        """All ``R``-minute buckets of day ``d`` (OHLCV; only trades up to ``now`` on the current day)."""
        if now_ms < day_start(d + 1):
            t = self.day_trades(inst, d)
            dc = self._minute_candles(inst, d, t, self._last_close_before(inst, d), upto_ms=now_ms)
        else:
            dc = self.day_candles(inst, d)
        return _aggregate(dc, R)

    def _daily_candles(self, inst: Instrument, start_ms: int, end_ms: int, now_ms: int, lower_exclusive: bool,
                       limit: int) -> dict:
        """1D candles: buckets from 08:00 UTC to 08:00 UTC the next day (Deribit's daily candles are ticked
        at its 08:00 settlement), each made of the 08-16, 16-24 h thirds of one UTC day and the 00-08 h
        third of the next."""
        off = DAILY_CANDLE_OFFSET_MS
        first = -(-(start_ms + (1 if lower_exclusive else 0) - off) // DAY_MS) * DAY_MS + off
        first = max(first, (inst.creation_ms - off) // DAY_MS * DAY_MS + off, T0_MS + off)
        last_allowed = min(end_ms, now_ms, inst.expiration_ms - 1)
        last = (last_allowed - off) // DAY_MS * DAY_MS + off
        if last < first:
            return {"ticks": np.empty(0, np.int64), **{k: np.empty(0) for k in self._CANDLE_FIELDS}}
        if (last - first) // DAY_MS + 1 > limit:
            first = last - (limit - 1) * DAY_MS
        d0, d1 = day_of(first), day_of(last) + 1
        thirds = {k: [] for k in self._CANDLE_FIELDS + ("has",)}
        for d in range(d0, d1 + 1):
            if day_start(d) > now_ms or d >= N_DAYS:  # nothing traded yet: an empty third
                for k in thirds:
                    thirds[k].append(np.zeros(3, bool) if k == "has" else np.zeros(3))
                continue
            agg = self._day_buckets(inst, d, 480, now_ms)
            for k in thirds:
                thirds[k].append(agg[k])
        cat = {k: np.concatenate(v)[1:1 + 3 * (d1 - d0)] for k, v in thirds.items()}
        out = _aggregate(cat, 3)
        out.pop("has")
        out["ticks"] = np.arange(first, last + 1, DAY_MS, dtype=np.int64)
        return out

    def candles(self, inst: Instrument | str, start_ms: int, end_ms: int, resolution: str, now_ms: int,
                lower_exclusive: bool = False, limit: int = 5000) -> dict:
        """TradingView chart data as numpy arrays (``ticks`` int64, OHLC, volume, cost).

        Buckets ``[tick, tick + R)`` with ``start <= tick <= end`` (``start < tick`` when
        ``lower_exclusive``), after listing, before expiry and not after ``now``; the newest ``limit``
        are kept.  The bucket containing ``now`` only reflects trades up to ``now``.  ``1D`` buckets run
        from 08:00 UTC (see :meth:`_daily_candles`)."""
        if isinstance(inst, str):
            inst = self.instrument(inst)
        if resolution == "1D":
            return self._daily_candles(inst, start_ms, end_ms, now_ms, lower_exclusive, limit)
        R = RESOLUTIONS[resolution]
        Rms = R * MIN_MS
        plan = self._candle_plan(inst, start_ms, end_ms, R, now_ms, lower_exclusive, limit)
        parts = {k: [] for k in self._CANDLE_FIELDS}
        ticks = []
        for d, i0, i1 in plan:
            agg = self._day_buckets(inst, d, R, now_ms)
            ticks.append(day_start(d) + np.arange(i0, i1, dtype=np.int64) * Rms)
            for k in parts:
                parts[k].append(agg[k][i0:i1])
        out = {"ticks": np.concatenate(ticks) if ticks else np.empty(0, np.int64)}
        for k in parts:
            out[k] = np.concatenate(parts[k]) if ticks else np.empty(0)
        return out

    def candles_json(self, inst: Instrument | str, start_ms: int, end_ms: int, resolution: str, now_ms: int,
                     lower_exclusive: bool = False, limit: int = 5000) -> dict[str, bytes]:
        """:meth:`candles` already serialised: field -> the JSON array (bytes), as orjson writes it.

        Whole past days inside the range are serialised once and cached; the (partial) first and last
        day of a range and the current day are serialised per request."""
        if isinstance(inst, str):
            inst = self.instrument(inst)
        opt = orjson.OPT_SERIALIZE_NUMPY
        if resolution == "1D":
            c = self._daily_candles(inst, start_ms, end_ms, now_ms, lower_exclusive, limit)
            return {k: b"[" + json_numbers(v) + b"]" for k, v in c.items()}
        R = RESOLUTIONS[resolution]
        Rms = R * MIN_MS
        n = 1440 // R
        plan = self._candle_plan(inst, start_ms, end_ms, R, now_ms, lower_exclusive, limit)
        fields = ("ticks",) + self._CANDLE_FIELDS
        parts: dict[str, list] = {k: [] for k in fields}
        for d, i0, i1 in plan:
            if i0 == 0 and i1 == n and now_ms >= day_start(d + 1):
                js = self._day_json(inst, d, R)
                for k in fields:
                    parts[k].append(js[k])
                continue
            agg = self._day_buckets(inst, d, R, now_ms)
            parts["ticks"].append(orjson.dumps(day_start(d) + np.arange(i0, i1, dtype=np.int64) * Rms,
                                               option=opt)[1:-1])
            for k in self._CANDLE_FIELDS:
                parts[k].append(json_numbers(agg[k][i0:i1]))
        return {k: _json_array(v) for k, v in parts.items()}

    def _day_json(self, inst: Instrument, d: int, R: int) -> dict:
        """The JSON array contents (no brackets) of each field for all buckets of a past day, cached."""
        key = ("json", inst.name, d, R)
        v = self._json.get(key)
        if v is not None:
            return v
        agg = self._day_buckets(inst, d, R, day_start(d + 1))
        opt = orjson.OPT_SERIALIZE_NUMPY
        out = {"ticks": orjson.dumps(day_start(d) + np.arange(1440 // R, dtype=np.int64) * R * MIN_MS,
                                     option=opt)[1:-1]}
        for k in self._CANDLE_FIELDS:
            out[k] = json_numbers(agg[k])
        self._json.put(key, out, sum(len(x) for x in out.values()) + 500)
        return out

    # ---------------------------------------------------------------- trades API
    def trade_columns(self, inst: Instrument, day: int, at: np.ndarray) -> dict:
        """Columns of the day's trades at positions ``at`` (ascending) as numpy arrays: ts, price, amount,
        direction, mark, index, seq, tick (and iv for options)."""
        t = self.day_trades(inst, day)
        out = {k: t[k][at] for k in ("ts", "price", "amount", "direction")}
        out["seq"] = self.trade_seq_base(inst, day) + 1 + at.astype(np.int64)
        out["tick"] = self.day_ticks(inst, day)[at]
        if inst.kind == "option":
            out["iv"] = t["iv"][at]
        for k in ("mark", "index"):
            if k in t:
                out[k] = t[k][at]
            else:  # futures: the mark and index paths at the trade's instant
                pos = (out["ts"] - day_start(day)) / MIN_MS
                path = self._fair_path(inst, day) if k == "mark" else self._day_paths(inst.currency, day)["index"]
                out[k] = np.interp(pos, _GRID1441, path)
        return out

    def trades(self, inst: Instrument, start_ms: int, end_ms: int, now_ms: int, count: int | None = None,
               newest_first: bool = False) -> dict:
        """Trades with ``start <= timestamp <= min(end, now)`` as numpy arrays incl. ``seq``.

        With ``count``, stops after ``count + 1`` trades from the oldest (or newest) end."""
        lo = max(start_ms, inst.creation_ms, T0_MS)
        hi = min(end_ms, now_ms, inst.expiration_ms - 1)
        keys = ("ts", "price", "amount", "direction", "mark", "index", "seq", "tick")
        keys += ("iv",) if inst.kind == "option" else ()
        acc: dict[str, list] = {k: [] for k in keys}
        if hi >= lo:
            days = range(day_of(lo), day_of(hi) + 1)
            if newest_first:
                days = reversed(days)
            got = 0
            for d in days:
                ts = self.day_trades(inst, d)["ts"]
                a, b = int(np.searchsorted(ts, lo)), int(np.searchsorted(ts, hi, side="right"))
                if b <= a:
                    continue
                cols = self.trade_columns(inst, d, np.arange(a, b))
                for k in keys:
                    acc[k].append(cols[k])
                got += b - a
                if count is not None and got > count:
                    break
            if newest_first:
                for k in keys:
                    acc[k].reverse()
        return {k: (np.concatenate(v) if v else np.empty(0)) for k, v in acc.items()}

    def day_tape(self, currency: str, kind: str | None, day: int) -> tuple[list[Instrument], dict]:
        """The day's trades of a currency (and kind, None for every kind) in the order the exchange
        pages them, by (timestamp, trade_id): ``(instruments, columns)``, the columns those of
        :meth:`trade_columns` plus ``owner`` (trade ``i`` is ``instruments[owner[i]]``'s; ``iv`` NaN but
        for options).  Kept per day, so a page of ``get_last_trades_by_currency_and_time`` costs a
        binary search and its own trades, not a walk over the ~800 options a currency lists a day."""
        key = ("tape", currency, kind, day)
        v = self._trades.get(key)
        if v is not None:
            return v
        s = day_start(day)
        insts, parts = [], []
        for inst in self.instruments_between(currency, kind, s, s + DAY_MS - 1):
            n = len(self.day_trades(inst, day)["ts"])
            if n:
                cols = self.trade_columns(inst, day, np.arange(n))
                cols.setdefault("iv", np.full(n, np.nan))
                cols["owner"] = np.full(n, len(insts), dtype=np.int32)
                insts.append(inst)
                parts.append(cols)
        keys = ("ts", "price", "amount", "direction", "mark", "index", "seq", "tick", "iv", "owner")
        if not parts:
            v = (insts, {k: np.empty(0) for k in keys})
            self._trades.put(key, v, 200)
            return v
        cols = {k: np.concatenate([p[k] for p in parts]) for k in keys}
        order = np.argsort(cols["ts"], kind="stable")
        tied = cols["ts"][order]
        same = np.flatnonzero(tied[1:] == tied[:-1])
        if same.size:  # runs of equal timestamps: by trade_id (a string, see trade_id)
            def id_of(g: int) -> str:
                return trade_id(currency, insts[int(cols["owner"][g])].instrument_id, int(cols["seq"][g]))
            k = 0
            while k < len(same):
                a = same[k]
                b = a + 1
                while k + 1 < len(same) and same[k + 1] == b:
                    k += 1
                    b += 1
                order[a:b + 1] = sorted(order[a:b + 1].tolist(), key=id_of)
                k += 1
        v = (insts, {k: c[order] for k, c in cols.items()})
        self._trades.put(key, v, sum(c.nbytes for c in v[1].values()) + 200)
        return v

    # ---------------------------------------------------------------- funding
    def _hourly_funding(self, currency: str, day: int) -> np.ndarray:
        """interest_1h for the 24 hours *ending* at 01:00..24:00 of ``day``."""
        key = ("funding", currency, day)
        v = self._memo.get(key)
        if v is not None:
            return v
        p = self._day_paths(currency, day)["premium"][:1440]
        f = p - np.clip(p, -DAMPENER, DAMPENER)
        v = f.reshape(24, 60).mean(axis=1) / 8
        if len(self._memo) > 500_000:
            self._memo.clear()
        self._memo[key] = v
        return v

    def funding(self, currency: str, start_ms: int, end_ms: int, now_ms: int, limit: int | None = 744,
                lower_exclusive: bool = False) -> list[dict]:
        """Hourly funding rows with ``start <= timestamp <= end`` (``start < timestamp`` when
        ``lower_exclusive``, as the exchange answers) and ``<= now``, the newest ``limit``.

        Rates are unrounded float64 values (the exchange sends float64 rates such as
        -4.739622041017375e-07 and 3.7795898262e-11); prices are rounded to cents."""
        perp = self._make_future(currency, None)
        lo = max(start_ms + (1 if lower_exclusive else 0), FUNDING_START_MS, perp.creation_ms)
        hi = min(end_ms, now_ms)
        first = -(-lo // HOUR_MS) * HOUR_MS
        last = (hi // HOUR_MS) * HOUR_MS
        if last < first:
            return []
        if limit is not None and (last - first) // HOUR_MS + 1 > limit:
            first = last - (limit - 1) * HOUR_MS
        hours = np.arange(first - 7 * HOUR_MS, last + 1, HOUR_MS, dtype=np.int64)
        # interest_1h of the hour ending at h: stored at day of (h - 1h), slot hour-of-(h-1h)
        prev = hours - HOUR_MS
        days = (prev - T0_MS) // DAY_MS
        slot = ((prev - T0_MS) % DAY_MS) // HOUR_MS
        i1 = np.empty(len(hours))
        for d in np.unique(days):
            m = days == d
            i1[m] = self._hourly_funding(currency, int(d))[slot[m]]
        i8 = np.convolve(i1, np.ones(8), "valid")  # sums of 8 consecutive
        i1 = i1[7:]
        hours = hours[7:]
        idx = self._interp(currency, "index", hours)
        pidx = self._interp(currency, "index", hours - HOUR_MS)
        return [dict(timestamp=int(h), index_price=round(float(a), 2), prev_index_price=round(float(b), 2),
                     interest_8h=float(x8), interest_1h=float(x1))
                for h, a, b, x8, x1 in zip(hours, idx, pidx, i8, i1, strict=True)]

    def funding_chart(self, currency: str, now_ms: int, length: str) -> dict:
        """get_funding_chart_data: ``interest_8h`` (the mean dampened premium over the trailing 8 hours,
        equal to funding history's ``interest_8h`` at whole hours) at every point of the last ``length``
        (8h: each minute, 24h: each 5 minutes, 1m: each hour), the index, and ``current_interest``
        (the dampened premium now)."""
        span, step = FUNDING_CHART_LENGTHS[length]
        last = now_ms // MIN_MS * MIN_MS
        first = max(last - span, FUNDING_START_MS)
        # the dampened premium at every minute mark from 8 h before the first point
        marks = np.arange(first - 8 * HOUR_MS, last + 1, MIN_MS, dtype=np.int64)
        p = self._interp(currency, "premium", marks)
        f = p - np.clip(p, -DAMPENER, DAMPENER)
        cs = np.concatenate(([0.0], np.cumsum(f)))
        pts = np.arange(last, first - 1, -step, dtype=np.int64)[::-1]
        i = (pts - marks[0]) // MIN_MS  # index of the point's minute mark
        i8 = (cs[i] - cs[i - 480]) / 480  # mean over the 480 minutes before the point
        idx = self._interp(currency, "index", pts)
        pnow = self.premium(currency, now_ms)
        data = [dict(timestamp=int(t), index_price=round(float(x), 2), interest_8h=float(v))
                for t, x, v in zip(pts, idx, i8, strict=True)]
        return {"current_interest": float(pnow - min(max(pnow, -DAMPENER), DAMPENER)),
                "interest_8h": data[-1]["interest_8h"] if data else 0.0, "data": data}

    def historical_volatility(self, currency: str, now_ms: int) -> list[list]:
        """get_historical_volatility's points, oldest first: hourly over the last 16 days, each the
        annualised standard deviation (percent) of the index's hourly log returns over the previous
        7 days.  (The exchange's answer repeats its first point; the API layer adds that.)"""
        last = now_ms // HOUR_MS * HOUR_MS
        n, w = HV_POINTS, HV_WINDOW_HOURS
        ts = np.arange(last - (n - 1 + w) * HOUR_MS, last + 1, HOUR_MS, dtype=np.int64)
        r = np.diff(np.log(self._interp(currency, "index", ts)))
        c1 = np.concatenate(([0.0], np.cumsum(r)))
        c2 = np.concatenate(([0.0], np.cumsum(r * r)))
        s1 = c1[w:] - c1[:-w]
        s2 = c2[w:] - c2[:-w]
        var = np.maximum((s2 - s1 * s1 / w) / (w - 1), 0.0)
        hv = np.sqrt(var * 365 * 24) * 100
        return [[int(t), float(v)] for t, v in zip(ts[w:], hv, strict=True)]

    # ---------------------------------------------------------------- delivery, settlement, dvol
    def delivery_price(self, currency: str, day: int) -> float:
        return round(self.index_price(currency, day_start(day) + 8 * HOUR_MS), 2)

    def settlement_records(self, currency: str, ts_ms: int, kind_filter: str | None = None,
                           only: Instrument | None = None) -> list[dict]:
        """Settlement/delivery records of the 08:00 UTC event at ``ts_ms`` (sorted by type, name)."""
        idx = round(self.index_price(currency, ts_ms), 2)
        out = []
        insts = [only] if only is not None else self.instruments_between(currency, None, ts_ms - 1, ts_ms)
        for inst in insts:
            if inst.creation_ms >= ts_ms:
                continue
            rng = _rng(self.seed, "settle", inst.name, ts_ms)
            if inst.expiration_ms == ts_ms:
                if inst.kind == "option":
                    iv = max(idx - inst.strike, 0) if inst.is_call else max(inst.strike - idx, 0)
                    mark = round(iv / idx, 8)
                else:
                    mark = idx
                out.append(dict(type="delivery", timestamp=ts_ms, instrument_name=inst.name, index_price=idx,
                                mark_price=mark, session_profit_loss=round(float(rng.normal(0, 1.0)), 8)))
            elif inst.alive(ts_ms) and inst.kind == "future":
                rec = dict(type="settlement", timestamp=ts_ms, instrument_name=inst.name, index_price=idx,
                           mark_price=float(round_to_tick(self.fair_price(inst, ts_ms), inst.tick_size)),
                           session_profit_loss=round(float(rng.normal(0, 2.0)), 8))
                if inst.is_perpetual:
                    rec["funding"] = round(float(self.funding(currency, ts_ms - DAY_MS, ts_ms, ts_ms, 24)[-1][
                        "interest_8h"]) if ts_ms >= FUNDING_START_MS + HOUR_MS else 0.0, 10)
                out.append(rec)
        out.sort(key=lambda r: (r["type"], r["instrument_name"]))
        if kind_filter:
            out = [r for r in out if r["type"] == kind_filter]
        return out

    def dvol_value(self, currency: str, ts) -> np.ndarray:
        return np.round(self._interp(currency, "vol", ts) * (1 + 0.05 * (1 - 30 / 365)) * 100, 2)


def json_numbers(arr: np.ndarray) -> bytes:
    """The JSON array contents (no brackets) of a numeric array with whole numbers written as ints, as
    Deribit writes chart data (``7834`` beside ``7833.5``, cost ``19000``, volume ``0``).

    An all-whole array (a future's cost in USD, a day of fillers, ticks) is written from int64 directly;
    otherwise orjson writes whole floats as ``7834.0`` and never ``.0,`` inside another number form
    (``1e+16``, ``1.2e-7``), so dropping ``.0`` before each comma is exact."""
    opt = orjson.OPT_SERIALIZE_NUMPY
    if arr.dtype.kind in "iu":
        return orjson.dumps(arr, option=opt)[1:-1]
    whole = arr == np.floor(arr)
    if whole.all() and (len(arr) == 0 or np.abs(arr).max() < 2 ** 53):
        return orjson.dumps(arr.astype(np.int64), option=opt)[1:-1]
    out = orjson.dumps(arr, option=opt)[1:-1]
    if not whole.any():
        return out
    out = out.replace(b".0,", b",")
    if out.endswith(b".0"):
        out = out[:-2]
    return out


def _json_array(parts: list) -> bytes:
    """``[`` + the comma-joined array contents + ``]`` in one copy."""
    out = [b"["]
    for i, p in enumerate(parts):
        if i:
            out.append(b",")
        out.append(p)
    out.append(b"]")
    return b"".join(out)


def _aggregate(dc: dict, R: int) -> dict:
    """Buckets of ``R`` consecutive candles (filler rules as for one-minute candles)."""
    if R == 1:
        return dc
    n = len(dc["open"]) // R
    has = dc["has"].reshape(n, R)
    anyt = has.any(axis=1)
    first = np.argmax(has, axis=1)
    lastix = R - 1 - np.argmax(has[:, ::-1], axis=1)
    rows = np.arange(n)
    o2 = dc["open"].reshape(n, R)
    c2 = dc["close"].reshape(n, R)
    fill = o2[:, 0]
    return dict(
        open=np.where(anyt, o2[rows, first], fill),
        close=np.where(anyt, c2[rows, lastix], fill),
        high=np.where(anyt, np.where(has, dc["high"].reshape(n, R), -np.inf).max(axis=1), fill),
        low=np.where(anyt, np.where(has, dc["low"].reshape(n, R), np.inf).min(axis=1), fill),
        volume=np.round(dc["volume"].reshape(n, R).sum(axis=1), 8),
        cost=np.round(dc["cost"].reshape(n, R).sum(axis=1), 8),
        has=anyt,
    )


_POISSON_CDF: dict = {}


def _poisson_counts(u: np.ndarray, rate: float) -> np.ndarray:
    """Poisson(rate) counts (uint8, capped at 255) by inversion of uniforms ``u``."""
    cdf = _POISSON_CDF.get(rate)
    if cdf is None:
        pm, k, acc, out = math.exp(-rate), 0, 0.0, []
        while acc < 1 - 1e-15 and k < 255:
            acc += pm
            out.append(acc)
            k += 1
            pm *= rate / k
        if len(_POISSON_CDF) > 20_000:
            _POISSON_CDF.clear()
        cdf = _POISSON_CDF[rate] = np.array(out)
    c = (u >= cdf[0]).astype(np.uint8)
    for q in cdf[1:]:
        m = u >= q
        if not m.any():
            break
        c += m
    return c


def _ar1(eps: np.ndarray, phi: float, sigma: float) -> np.ndarray:
    x = np.empty(len(eps))
    acc = 0.0
    sd0 = sigma / math.sqrt(1 - phi * phi)
    acc = eps[0] * sd0
    x[0] = acc
    for i in range(1, len(eps)):
        acc = phi * acc + sigma * eps[i]
        x[i] = acc
    return x
