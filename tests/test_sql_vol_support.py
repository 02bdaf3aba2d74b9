"""Helpers shared by the tests of the volatility analytics (tests/test_sql_vol_*.py); no test here.

Chain snapshots come from the simulator's own exchange (ingest.sim.api.Exchange: the book summary
`get_book_summary_by_currency` answers), go through the project's loader (options_chain.summary_rows
and options_chain.load) and are refreshed by ingest.storage.analytics.refresh.

Expected values are computed here with numpy from the simulator's *true* volatility surface, not
from the SQL under test: ingest.sim.market.smile_iv(atm_vol(currency, t), F, K, tau), the volatility
the simulator prices every option with (F = the expiry's forward rounded to cents, as the summaries'
underlying_price). Which options a snapshot has, and which carry an IV and how it was obtained, is
what the test itself loaded (the rows summary_rows produced).

Tolerances (vol points, i.e. IV in percent):
  * an IV from mark_iv: the exchange rounds mark_iv to 2 decimals, so within 0.005 of the truth;
  * an IV inverted from the mark: 0.005 (the mark is priced from the rounded mark_iv) plus the mark's
    own rounding: half a tick (0.0001 coin from 2023, 1e-8 before) divided by the option's vega in
    coin per vol point, phi(d1) sqrt(T) / 100;
  * an interpolation between two options: the larger of their tolerances, plus, for delta
    interpolations, how far that IV error (and the 5-decimal rounding of delta) moves an option's
    delta, times the slope of the interpolation;
  * a constant maturity: the largest change of the interpolated value when each input moves by its
    own tolerance (the interpolation is monotone in each input, so the corners bound it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

from ingest.datasets import chain as options_chain
from ingest.datasets import instruments as instruments_mod
from ingest.deribit import calendar as cal
from ingest.sim.api import ApiConfig, Exchange, P
from ingest.sim.market import MARK_4DP_FROM_MS, OPTION_MIN_TICK, YEAR_MS, Market, smile_iv

UTC = timezone.utc
MIN_MS = 60_000
HOUR_MS = 3_600_000
ANALYTICS_TABLES = ("vol_expiry_1m", "vol_expiry_1h", "vol_surface_cm_1h", "basis_cm_1h")
VOL_TENORS = (7, 30, 60, 90, 180)
BASIS_TENORS = (30, 60, 90, 180)
MARK_IV_ROUNDING = 0.005


def wipe_analytics(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE " + ", ".join(ANALYTICS_TABLES))


def exchange(market: Market, without_mark_iv: float) -> Exchange:
    """The simulator's API; `without_mark_iv`: the share of option summaries that leave mark_iv out."""
    return Exchange(market, ApiConfig(summary_mark_iv_missing=without_mark_iv))


def load_instruments(conn, ex: Exchange, currencies, t_ms: int, kinds=("option", "future")) -> None:
    for currency in currencies:
        for kind in kinds:
            items = ex.m_get_instruments(P({"currency": currency, "kind": kind}), "www", t_ms)
            instruments_mod.upsert(conn, instruments_mod.validate(items))


@dataclass(frozen=True)
class Quote:
    """One option of a loaded snapshot."""

    name: str
    expiry_ms: int
    strike: float
    is_call: bool
    iv: float | None  # as stored (percent)
    inverted: bool


@dataclass
class Snapshot:
    currency: str
    t_ms: int
    quotes: list[Quote] = field(default_factory=list)

    @property
    def ts(self) -> datetime:
        return cal.from_ms(self.t_ms)

    def expiries(self) -> dict[int, list[Quote]]:
        out: dict[int, list[Quote]] = {}
        for q in self.quotes:
            out.setdefault(q.expiry_ms, []).append(q)
        return out


def load_snapshot(conn, ex: Exchange, currency: str, t_ms: int, *edits) -> Snapshot:
    """One book summary at t_ms (a whole minute), edited by each of `edits` (items -> items), through
    summary_rows into options_greeks."""
    items = ex.m_get_book_summary_by_currency(P({"currency": currency, "kind": "option"}), "www", t_ms)
    for e in edits:
        items = e(items)
    chain = options_chain.summary_rows(currency, items, t_ms)
    assert not chain.rejected, chain.rejected[:3]
    options_chain.load(conn, chain)
    snap = Snapshot(currency, t_ms)
    for row in chain.rows:
        meta = cal.parse_instrument_name(row[1])
        snap.quotes.append(Quote(row[1], cal.to_ms(meta.expiry), float(meta.strike), meta.option_type == "call",
                                 row[8], row[-1] == options_chain.IV_INVERTED))
    return snap


# --- edits of a book summary ------------------------------------------------------------------------

def _meta(item):
    return cal.parse_instrument_name(item["instrument_name"])


def expiry_code(name: str) -> str:
    return name.split("-")[1]


def drop_strikes_near_forward(code: str, n: int = 2):
    """Leave out both options of the n strikes nearest to the forward of expiry `code` (strikes the
    summary did not carry)."""
    def edit(items):
        mine = [i for i in items if expiry_code(i["instrument_name"]) == code]
        fwd = mine[0]["underlying_price"]
        strikes = sorted({_meta(i).strike for i in mine}, key=lambda k: abs(k - fwd))[:n]
        return [i for i in items if not (expiry_code(i["instrument_name"]) == code and _meta(i).strike in strikes)]
    return edit


def drop_strikes_from_forward_up(code: str):
    """Leave out every option of expiry `code` struck at or above its forward: nothing brackets ATM."""
    def edit(items):
        return [i for i in items if not (expiry_code(i["instrument_name"]) == code
                                         and _meta(i).strike >= i["underlying_price"])]
    return edit


def quiet_call_wing(market: Market, currency: str, t_ms: int, code: str, from_delta_below: float = 0.2):
    """A call wing without quotes: the calls of expiry `code` further out than call delta
    `from_delta_below` (true delta) are marked at the minimum tick without mark_iv, so their marks say
    nothing about volatility and they are stored without IV and greeks."""
    def edit(items):
        out = []
        for i in items:
            m = _meta(i)
            if expiry_code(i["instrument_name"]) == code and m.option_type == "call":
                surface = TrueSurface(market, currency, cal.to_ms(m.expiry), t_ms)
                if surface.delta(m.strike, True) < from_delta_below:
                    i = {k: v for k, v in i.items() if k != "mark_iv"}
                    i["mark_price"] = OPTION_MIN_TICK
            out.append(i)
        return out
    return edit


# --- the true surface and the expected values ----------------------------------------------------

def _ncdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _npdf(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


class TrueSurface:
    """The simulator's volatility surface at one snapshot of one expiry."""

    def __init__(self, market: Market, currency: str, expiry_ms: int, t_ms: int):
        self.F = round(market.forward(currency, expiry_ms, t_ms), 2)
        self.tau = (expiry_ms - t_ms) / YEAR_MS
        self.atm = market.atm_vol(currency, t_ms)
        self.t_ms = t_ms

    def sigma(self, k) -> float:
        """True IV as a fraction."""
        return float(smile_iv(self.atm, self.F, k, self.tau))

    def d1(self, k: float, sigma: float) -> float:
        st = sigma * math.sqrt(self.tau)
        return (math.log(self.F / k) + 0.5 * st * st) / st

    def delta(self, k: float, is_call: bool, sigma: float | None = None) -> float:
        s = self.sigma(k) if sigma is None else sigma
        n = _ncdf(self.d1(k, s))
        return n if is_call else n - 1.0

    def tolerance(self, q: Quote) -> float:
        """How far the stored IV of this option may be from the truth, in vol points."""
        if not q.inverted:
            return MARK_IV_ROUNDING
        tick = OPTION_MIN_TICK if self.t_ms >= MARK_4DP_FROM_MS else 1e-8
        s = self.sigma(q.strike)
        vega_coin_per_point = _npdf(self.d1(q.strike, s)) * math.sqrt(self.tau) / 100
        return MARK_IV_ROUNDING + 0.5 * tick / vega_coin_per_point


@dataclass
class Expected:
    value: float | None  # vol points
    tol: float = 0.0
    used: tuple = ()  # what the interpolation used (strikes, expiries)


def expected_atm(surface: TrueSurface, quotes: list[Quote]) -> Expected:
    """ATM IV: the IV of a strike is its out-of-the-money option's (put below the forward, call at or
    above), else the other's; linear in ln(K/F) between the nearest strikes on either side."""
    F = surface.F
    by_strike: dict[float, dict[bool, Quote]] = {}
    for q in quotes:
        if q.iv is not None:
            by_strike.setdefault(q.strike, {})[q.is_call] = q

    def chosen(k):
        sides = by_strike[k]
        otm_is_call = k >= F
        return sides.get(otm_is_call) or sides.get(not otm_is_call)

    below = [k for k in by_strike if k < F]
    above = [k for k in by_strike if k >= F]
    if above and min(above) == F:
        q = chosen(F)
        return Expected(100 * surface.sigma(F), surface.tolerance(q), (None, F))
    if not below or not above:
        return Expected(None, 0.0, (max(below) if below else None, min(above) if above else None))
    k1, k2 = max(below), min(above)
    x1, x2 = math.log(k1 / F), math.log(k2 / F)
    s1, s2 = 100 * surface.sigma(k1), 100 * surface.sigma(k2)
    value = s1 + (s2 - s1) * (0 - x1) / (x2 - x1)
    return Expected(value, max(surface.tolerance(chosen(k1)), surface.tolerance(chosen(k2))), (k1, k2))


def expected_iv_at_delta(surface: TrueSurface, quotes: list[Quote], target: float) -> Expected:
    """IV at a call (target > 0) or put (target < 0) delta: linear in delta between the options of
    that type nearest to the target on each side (true deltas of the true IVs)."""
    is_call = target > 0
    pts = []
    for q in quotes:
        if q.is_call == is_call and q.iv is not None:
            s = surface.sigma(q.strike)
            pts.append((surface.delta(q.strike, is_call, s), 100 * s, q))
    at_or_above = [p for p in pts if p[0] >= target]
    below = [p for p in pts if p[0] < target]
    if at_or_above and min(at_or_above, key=lambda p: p[0])[0] == target:
        p = min(at_or_above, key=lambda p: p[0])
        return Expected(p[1], surface.tolerance(p[2]), (p[2].strike,))
    if not at_or_above or not below:
        return Expected(None)
    d1, v1, q1 = min(at_or_above, key=lambda p: p[0])
    d2, v2, q2 = max(below, key=lambda p: p[0])
    value = v1 + (v2 - v1) * (target - d1) / (d2 - d1)
    slope = abs((v2 - v1) / (d2 - d1))

    def delta_error(q, tol):
        s = surface.sigma(q.strike)
        moved = surface.delta(q.strike, is_call, s + tol / 100)
        return abs(moved - surface.delta(q.strike, is_call, s)) + 0.5e-5  # greeks stored to 5 decimals

    t1, t2 = surface.tolerance(q1), surface.tolerance(q2)
    tol = max(t1, t2) + slope * max(delta_error(q1, t1), delta_error(q2, t2))
    return Expected(value, tol, (q1.strike, q2.strike))


def total_variance_interp(tau: float, t1: float, s1: float, t2: float, s2: float) -> float:
    if t1 == tau:
        return s1
    if t2 == tau:
        return s2
    w = s1 * s1 * t1 + (s2 * s2 * t2 - s1 * s1 * t1) * (tau - t1) / (t2 - t1)
    return math.sqrt(max(w, 0.0) / tau)


def expected_constant_maturity(tau: float, points: list[tuple[float, Expected, int]]) -> Expected:
    """points: (T years, Expected value at that expiry, expiry_ms). Linear in total variance between
    the nearest expiries on each side having a value; NULL outside them."""
    have = [(t, e, x) for t, e, x in points if e.value is not None]
    lo = [p for p in have if p[0] <= tau]
    hi = [p for p in have if p[0] >= tau]
    if not lo or not hi:
        return Expected(None)
    t1, e1, x1 = max(lo, key=lambda p: p[0])
    t2, e2, x2 = min(hi, key=lambda p: p[0])
    value = total_variance_interp(tau, t1, e1.value, t2, e2.value)
    corners = [total_variance_interp(tau, t1, e1.value + a * e1.tol, t2, e2.value + b * e2.tol)
               for a, b in itertools.product((-1, 1), repeat=2)]
    return Expected(value, max(abs(c - value) for c in corners), (x1, x2))


def ms(dt: datetime) -> int:
    return cal.to_ms(dt)


def approx(got, want: Expected, slack: float = 1e-9) -> bool:
    if want.value is None:
        return got is None
    return got is not None and abs(float(got) - want.value) <= want.tol + slack



# --- a sample for the analyst guide's recipes (tests/test_sql_analyst_guide.py) ---------------------

SAMPLE_HOUR = datetime(2025, 6, 10, 12, tzinfo=UTC)


def load_analytics_sample(conn, market: Market, now_ms: int) -> None:
    """What the analytics recipes read, refreshed: BTC chain snapshots at 12:00 and 12:59 on
    2025-06-10 (options long expired by now, so options_chain_latest does not list them); the last
    three hours of the perpetual and the live futures and the perpetual's funding up to now."""
    from ingest.datasets import funding
    from ingest.storage import analytics
    from ingest.storage.load import copy_upsert
    from ingest.storage.tables import FUTURES_OHLCV, PERPETUALS_OHLCV

    from .test_sql_basis import add_sim_instrument, sim_candles

    ex = exchange(market, 0.25)
    load_instruments(conn, ex, ("BTC",), ms(SAMPLE_HOUR), kinds=("option",))
    for minute in (0, 59):
        load_snapshot(conn, ex, "BTC", ms(SAMPLE_HOUR) + minute * MIN_MS)
    start = now_ms - 3 * HOUR_MS
    for inst in market.list_instruments("BTC", "future", now_ms):
        rows = sim_candles(market, inst.name, start, now_ms - MIN_MS, now_ms)
        copy_upsert(conn, PERPETUALS_OHLCV if inst.is_perpetual else FUTURES_OHLCV, rows)
        add_sim_instrument(conn, market, inst.name)
    funding.load(conn, funding.validate("BTC-PERPETUAL", market.funding("BTC", start - HOUR_MS, now_ms, now_ms)))
    analytics.refresh(conn, SAMPLE_HOUR, SAMPLE_HOUR + timedelta(hours=1))
    analytics.refresh(conn, cal.from_ms(start), cal.from_ms(now_ms + MIN_MS))
