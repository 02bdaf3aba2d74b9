"""Deribit public JSON-RPC methods of the simulated exchange (transport-independent).

``Exchange(market, config).call(method, params, host, now_ms)`` returns the ``result`` or raises
:class:`RpcError`.  ``host`` is ``"www"`` (www.deribit.com) or ``"history"`` (history.deribit.com).
``params`` values are strings (from a query string) or JSON values (from a POST body).
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass

import numpy as np
import orjson

from ingest.deribit import calendar as cal
from ingest.sim.market import (
    _CUR,
    CURRENCIES,
    DAY_MS,
    DVOL_START_MS,
    FUNDING_CHART_LENGTHS,
    HOUR_MS,
    MIN_MS,
    RESOLUTIONS,
    T0_MS,
    YEAR_MS,
    Instrument,
    Market,
    _rng,
    _unit,
    day_of,
    day_start,
    round_to_tick,
    smile_iv,
    trade_id,
)

KINDS = ("future", "option", "spot", "future_combo", "option_combo")
INDEX_NAMES = {"btc_usd": "BTC", "eth_usd": "ETH"}
VERSION = "1.2.26"
HISTORY_METHODS = {"get_tradingview_chart_data", "get_last_trades_by_instrument",
                   "get_last_trades_by_instrument_and_time", "get_last_trades_by_currency",
                   "get_last_trades_by_currency_and_time", "get_time", "test", "status"}


# A name Deribit could list: perpetual, future, option (strike with "d" for a decimal point), spot pair or
# combo.  Anything else is rejected as "wrong format" (e.g. ETH-USDC-FS-28NOV25_PERP in a 2025 capture);
# a well-formed name the exchange does not list is "instrument not found".
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_WELL_FORMED = re.compile(
    rf"^[A-Z0-9]+(_[A-Z0-9]+)?-(PERPETUAL|\d{{1,2}}({_MONTHS})\d{{2}}(-\d+(d\d+)?-[CP])?|[A-Z]+-[A-Z0-9_]+)$"
    r"|^[A-Z0-9]+_[A-Z0-9]+$")

# 2025-26 get_instruments fields (a 2026 capture): currency uuids and index ids.  BTC and USD carry the
# captured values; the others are made up, deterministic.
_CURRENCY_UUID = {"BTC": "5b71fc48-3dd3-540c-809b-f8c94d0e68b5", "USD": "dc311642-e9fb-4ba9-a312-c75c1aef4ae1",
                  "ETH": str(uuid.uuid5(uuid.NAMESPACE_DNS, "eth.currency.deribit-sim"))}
_INDEX_ID = {"btc_usd": 1000033, "eth_usd": 1000034}
# expired options keep answering ticker for a while: state "open" (as in a capture 3 s after expiry),
# then "closed"
EXPIRED_OPEN_MS = 10 * MIN_MS
SUMMARY_COIN_QUOTE_FROM_MS = 1_640_995_200_000  # 2022-01-01 (the switch date is not known)
# trades' starbase_match_id: 2**62 + instrument_id * 2**32 + trade_seq (unique, above 2**53, below 2**63)
STARBASE_MATCH_BASE = 2 ** 62
# Real trades flag liquidations (`liquidation`: "M" the maker's side was liquidated, "T" the taker's, "MT"
# both) and block trades (`block_trade_id`, `block_trade_leg_count`). A deterministic share of trades,
# drawn from (instrument id, trade_seq), carries them: liquidations among futures and perpetuals, block
# trades (single-leg) mostly among options. Per 10,000 trades:
LIQUIDATIONS_PER_10K = 50
BLOCK_TRADES_PER_10K = {"option": 100, "future": 20}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def body(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid(param: str, reason: str = "wrong format") -> RpcError:
    return RpcError(-32602, "Invalid params", {"reason": reason, "param": param})


@dataclass
class ApiConfig:
    expired_window_days: float = 30.0   # get_instruments expired=true shows instruments expired this recently
    archive_after_days: float = 7.0     # www answers "instrument not found" this long after expiry
    lower_bound_exclusive: bool = True  # chart data: a candle exactly at start_timestamp is left out
    funding_lower_bound_exclusive: bool = True  # funding history: the row at start_timestamp is left out
    summary_mark_iv_missing: float = 0.25  # share of option book-summary items without mark_iv (per minute)
    instruments_state_missing: float = 0.2  # share of get_instruments items without "state"
    json_variety: bool = True  # HTTP: vary number forms and envelope key order per answer (server.py)
    chart_limit: int = 5000
    funding_limit: int = 744
    www_trades_window_ms: int = DAY_MS  # by_currency_and_time on www reaches back this far


class P:
    """Parameter access with Deribit-style validation errors."""

    def __init__(self, params: dict):
        self.p = params

    def has(self, name):
        return self.p.get(name) not in (None, "")

    def str(self, name, default=None, required=False, choices=None):
        v = self.p.get(name)
        if v is None or v == "":
            if required:
                raise invalid(name, "missing")
            return default
        if not isinstance(v, str):
            raise invalid(name)
        if choices is not None and v not in choices:
            raise invalid(name)
        return v

    def int(self, name, default=None, required=False, lo=None, hi=None):
        v = self.p.get(name)
        if v is None or v == "":
            if required:
                raise invalid(name, "missing")
            return default
        if isinstance(v, bool):
            raise invalid(name)
        if isinstance(v, str):
            s = v.strip()
            if not (s.isdigit() or (s.startswith("-") and s[1:].isdigit())):
                raise invalid(name)
            v = int(s)
        elif isinstance(v, float):
            if not v.is_integer():
                raise invalid(name)
            v = int(v)
        elif not isinstance(v, int):
            raise invalid(name)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise invalid(name, "value out of range" if hi is not None else "wrong format")
        return v

    def bool(self, name, default=False):
        v = self.p.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        if v == "true":
            return True
        if v == "false":
            return False
        raise invalid(name)


def _b58(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb58(text: str) -> bytes:
    pad = "=" * (-len(text) % 8)
    return base64.b32decode(text.upper() + pad)


class RawJson:
    """Already serialised JSON inside a result (the HTTP layer splices it in with orjson.Fragment)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        self.raw = raw

    def value(self):
        return orjson.loads(self.raw)


class Exchange:
    """``raw_json=True`` (the HTTP server) lets chart data come back as :class:`RawJson` arrays."""

    def __init__(self, market: Market, config: ApiConfig | None = None, raw_json: bool = False):
        self.m = market
        self.cfg = config or ApiConfig()
        self.raw_json = raw_json and hasattr(orjson, "Fragment")

    # ---------------------------------------------------------------- dispatch
    def call(self, method: str, params: dict, host: str, now_ms: int):
        fn = getattr(self, "m_" + method, None)
        if fn is None or (host == "history" and method not in HISTORY_METHODS):
            raise RpcError(-32601, "Method not found")
        return fn(P(params), host, now_ms)

    # ---------------------------------------------------------------- helpers
    def _currency(self, p: P, allow_any=True, required=True) -> list[str]:
        c = p.str("currency", required=required)
        if c is None:
            return []
        if c in CURRENCIES:
            return [c]
        if c == "any" and allow_any:
            return list(CURRENCIES)
        if c in ("USDC", "USDT", "EURR"):
            return []
        raise invalid("currency", "invalid currency")

    def _instrument(self, p: P, host: str, now_ms: int, name_param="instrument_name") -> Instrument:
        name = p.str(name_param, required=True)
        if not _WELL_FORMED.match(name):
            raise invalid(name_param, "wrong format")
        inst = self.m.instrument(name)
        if inst is None or inst.creation_ms > now_ms:
            raise invalid(name_param, "instrument not found")
        if host == "www" and now_ms >= inst.expiration_ms + self.cfg.archive_after_days * DAY_MS:
            raise invalid(name_param, "instrument not found")
        return inst

    # ---------------------------------------------------------------- utility
    def m_get_time(self, p, host, now):
        return now

    def m_test(self, p, host, now):
        p.str("expected_result")
        return {"version": VERSION}

    def m_status(self, p, host, now):
        return {"locked": "false", "locked_indices": []}

    # ---------------------------------------------------------------- instruments
    def _instrument_item(self, i: Instrument, now: int) -> dict:
        """One get_instruments / get_instrument item, with the 2025-26 fields (product_group,
        underlying_type, *_uuid, lot_size, index_id, max_non_default_leverage); ``state`` is left out
        for a deterministic share of instruments (``instruments_state_missing``), as older answers do."""
        p = _CUR[i.currency]
        d = {
            "instrument_name": i.name, "instrument_id": i.instrument_id, "kind": i.kind,
            "base_currency": i.currency, "quote_currency": "USD" if i.kind == "future" else i.currency,
            "counter_currency": "USD", "settlement_currency": i.currency,
            "settlement_period": i.settlement_period, "creation_timestamp": i.creation_ms,
            "expiration_timestamp": i.expiration_ms, "is_active": i.alive(now),
            "state": "open" if i.alive(now) else "settled",
            "tick_size": i.tick_size, "contract_size": i.contract_size, "min_trade_amount": i.min_trade_amount,
            "instrument_type": "reversed", "price_index": p["index"], "rfq": False,
            "block_trade_commission": 0.0003, "block_trade_min_trade_amount": 25 if i.kind == "option" else 200000,
            "block_trade_tick_size": 0.0001 if i.kind == "option" else 0.01,
            "product_group": i.currency, "underlying_type": "crypto", "lot_size": 1,
            "base_currency_uuid": _CURRENCY_UUID[i.currency],
            "quote_currency_uuid": _CURRENCY_UUID["USD" if i.kind == "future" else i.currency],
            "index_id": _INDEX_ID[p["index"]],
        }
        if i.kind == "option":
            d.update(strike=i.strike, option_type=i.option_type, maker_commission=0.0003, taker_commission=0.0003,
                     tick_size_steps=[{"above_price": 0.005, "tick_size": 0.0005}])
        else:
            d.update(maker_commission=0.0 if i.is_perpetual else -0.0001, taker_commission=0.0005,
                     max_leverage=50 if i.is_perpetual else 25, max_non_default_leverage=5.0,
                     max_liquidation_commission=0.0075, future_type="reversed", tick_size_steps=[])
        if _unit(self.m.seed, "no-state", i.name) < self.cfg.instruments_state_missing:
            del d["state"]
        return d

    def m_get_instrument(self, p, host, now):
        return self._instrument_item(self._instrument(p, host, now), now)

    def m_get_instruments(self, p, host, now):
        curs = self._currency(p)
        kind = p.str("kind", choices=KINDS)
        expired = p.bool("expired")
        out = []
        for c in curs:
            if kind in ("spot", "future_combo", "option_combo"):
                continue
            for i in self.m.list_instruments(c, kind, now, expired, int(self.cfg.expired_window_days * DAY_MS)):
                out.append(self._instrument_item(i, now))
        return out

    # ---------------------------------------------------------------- chart data
    def m_get_tradingview_chart_data(self, p, host, now):
        inst = self._instrument(p, host, now)
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        res = p.str("resolution", required=True)
        if res not in RESOLUTIONS:
            raise invalid("resolution")
        if self.raw_json:
            c = self.m.candles_json(inst, start, end, res, now, self.cfg.lower_bound_exclusive,
                                    self.cfg.chart_limit)
            status = "ok" if len(c["ticks"]) > 2 else "no_data"
            c = {k: RawJson(v) for k, v in c.items()}
            c["status"] = status
            return c
        c = self.m.candles(inst, start, end, res, now, self.cfg.lower_bound_exclusive, self.cfg.chart_limit)
        c["status"] = "ok" if len(c["ticks"]) else "no_data"
        return c

    # ---------------------------------------------------------------- funding
    def _perp(self, p, host, now) -> Instrument:
        inst = self._instrument(p, host, now)
        if not inst.is_perpetual:
            raise invalid("instrument_name", "instrument is not perpetual")
        return inst

    def m_get_funding_rate_history(self, p, host, now):
        inst = self._perp(p, host, now)
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        return self.m.funding(inst.currency, start, end, now, self.cfg.funding_limit,
                              lower_exclusive=self.cfg.funding_lower_bound_exclusive)

    def m_get_funding_chart_data(self, p, host, now):
        inst = self._perp(p, host, now)
        length = p.str("length", required=True)
        if length not in FUNDING_CHART_LENGTHS:
            raise invalid("length")
        return self.m.funding_chart(inst.currency, now, length)

    def m_get_historical_volatility(self, p, host, now):
        c = self._currency(p, allow_any=False)
        if not c:
            return []
        pts = self.m.historical_volatility(c[0], now)
        return [pts[0]] + pts  # the exchange repeats its first point (2022 capture)

    def m_get_funding_rate_value(self, p, host, now):
        inst = self._perp(p, host, now)
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        rows = self.m.funding(inst.currency, start, end, now, None)
        return round(sum(r["interest_1h"] for r in rows), 10)

    # ---------------------------------------------------------------- index
    def _index(self, p) -> str:
        name = p.str("index_name", required=True)
        if name not in INDEX_NAMES:
            raise invalid("index_name")
        return INDEX_NAMES[name]

    def m_get_index_price(self, p, host, now):
        c = self._index(p)
        px = round(self.m.index_price(c, now), 2)
        return {"index_price": px, "estimated_delivery_price": px}

    _RANGES = {"1h": (HOUR_MS, MIN_MS), "1d": (DAY_MS, MIN_MS), "2d": (2 * DAY_MS, 5 * MIN_MS),
               "1m": (30 * DAY_MS, HOUR_MS), "1y": (365 * DAY_MS, DAY_MS), "all": (None, DAY_MS)}

    def m_get_index_chart_data(self, p, host, now):
        c = self._index(p)
        rng = p.str("range", required=True)
        if rng not in self._RANGES:
            raise invalid("range")
        span, step = self._RANGES[rng]
        last = (now // step) * step
        first = T0_MS if span is None else last - span
        first = max(-(-first // step) * step, T0_MS)
        ts = np.arange(first, last + 1, step, dtype=np.int64)
        px = np.round(self.m.index_series(c, ts), 2)
        return [[int(t), float(v)] for t, v in zip(ts, px, strict=True)]

    def m_get_delivery_prices(self, p, host, now):
        c = self._index(p)
        offset = p.int("offset", 0, lo=0)
        count = p.int("count", 10, lo=1, hi=1000)
        last_day = day_of(now - 8 * HOUR_MS)  # newest day whose 08:00 has passed
        total = last_day + 1
        out = []
        for d in range(last_day - offset, max(last_day - offset - count, -1), -1):
            out.append({"date": cal.from_ms(day_start(d)).strftime("%Y-%m-%d"),
                        "delivery_price": self.m.delivery_price(c, d)})
        return {"data": out, "records_total": total}

    def m_get_volatility_index_data(self, p, host, now):
        c = self._currency(p, allow_any=False)
        if not c:
            raise invalid("currency")
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        res = p.str("resolution", required=True)
        res_ms = {"1": 1000, "60": MIN_MS, "3600": HOUR_MS, "43200": 12 * HOUR_MS, "1D": DAY_MS}.get(res)
        if res_ms is None:
            raise invalid("resolution")
        lo = max(start, DVOL_START_MS)
        hi = min(end, now)
        first = -(-lo // res_ms) * res_ms
        last = (hi // res_ms) * res_ms
        if last < first:
            return {"data": [], "continuation": None}
        limit = 1000
        cont = None
        if (last - first) // res_ms + 1 > limit:
            first = last - (limit - 1) * res_ms
            cont = first - res_ms
            if cont < lo:
                cont = None
        ticks = np.arange(first, last + 1, res_ms, dtype=np.int64)
        sub = min(res_ms, HOUR_MS) if res_ms > MIN_MS else res_ms
        k = max(1, res_ms // sub)
        grid = (ticks[:, None] + np.arange(k + 1, dtype=np.int64)[None, :] * (res_ms // k)).ravel()
        vals = self.m.dvol_value(c[0], np.minimum(grid, now)).reshape(len(ticks), k + 1)
        o, cl = vals[:, 0], vals[:, -1]
        h, l_ = vals.max(axis=1), vals.min(axis=1)
        data = [[int(t), float(a), float(b), float(x), float(y)]
                for t, a, b, x, y in zip(ticks, o, h, l_, cl, strict=True)]
        return {"data": data, "continuation": cont}

    # ---------------------------------------------------------------- tickers, books
    def _stats(self, inst: Instrument, now: int) -> dict:
        t = self.m.trades(inst, now - DAY_MS + 1, now, now)
        if len(t["price"]) == 0:
            # both shapes of "no trade in 24 h": volume null (2020 capture) or 0.0 (2025-26 captures)
            if _unit(self.m.seed, "stats-null", inst.name) < 0.5:
                return {"volume": None, "price_change": None, "low": None, "high": None, "volume_usd": 0.0}
            return {"volume": 0.0, "low": None, "high": None, "price_change": None, "volume_usd": 0.0}
        price, amount = t["price"], t["amount"]
        if inst.kind == "option":
            vol = float(amount.sum())
            vol_usd = float((amount * t["index"]).sum())
        else:
            vol = float((amount / price).sum())
            vol_usd = float(amount.sum())
        chg = (price[-1] / price[0] - 1) * 100
        return {"volume": round(vol, 8), "low": float(price.min()), "high": float(price.max()),
                "price_change": round(float(chg), 4), "volume_usd": round(vol_usd, 2)}

    def _last_price(self, inst: Instrument, now: int) -> float | None:
        d = day_of(min(now, inst.expiration_ms - 1))
        first = day_of(inst.creation_ms)
        while d >= first:
            t = self.m.day_trades(inst, d)
            k = int(np.searchsorted(t["ts"], now, side="right"))
            if k > 0:
                return float(t["price"][k - 1])
            d -= 1
        return None

    def _open_interest(self, inst: Instrument, now: int) -> float | int:
        """Futures: an int number of USD (real tickers: 502231260); options: coins (368.8)."""
        h = now // HOUR_MS
        r = _rng(self.m.seed, "oi", inst.name, h).random()
        if inst.is_perpetual:
            return int(round(_CUR[inst.currency]["oi_perp"] * (0.8 + 0.4 * r)))
        if inst.kind == "future":
            return int(round(_CUR[inst.currency]["oi_perp"] * 0.1 * (0.5 + r)))
        return round(10 + 2000 * r * inst.rate / 0.03, 1)

    def _ticker(self, inst: Instrument, now: int, book: bool, depth: int = 20, ivs: bool = True) -> dict:
        idx = round(self.m.index_price(inst.currency, min(now, inst.expiration_ms)), 2)
        expired = now >= inst.expiration_ms
        last = self._last_price(inst, now)
        oi = (0.0 if inst.kind == "option" else 0) if expired else self._open_interest(inst, now)
        d: dict = {"instrument_name": inst.name, "timestamp": now, "state": "closed" if expired else "open",
                   "index_price": idx, "estimated_delivery_price": idx, "last_price": last, "open_interest": oi,
                   "stats": self._stats(inst, now)}
        settle_ts = day_start(day_of(now - 8 * HOUR_MS)) + 8 * HOUR_MS
        if inst.kind == "option":
            rng = _rng(self.m.seed, "book", inst.name, now // 1000)
            if expired:
                q = self._expired_option_quote(inst, now)
                # an expired option's ticker: greeks all 0.0, estimated_delivery_price the string "expired"
                d.update(estimated_delivery_price="expired",
                         state="open" if now < inst.expiration_ms + EXPIRED_OPEN_MS else "closed")
            else:
                q = self.m.option_quote(inst, now, ivs=ivs)
            d.update(mark_price=q["mark_price"], mark_iv=q["mark_iv"], underlying_price=q["underlying_price"],
                     underlying_index=self.m.underlying_index(inst), interest_rate=0.0, greeks=q["greeks"],
                     best_bid_price=q["bid_price"], best_ask_price=q["ask_price"],
                     best_bid_amount=(float(round(inst.min_trade_amount * rng.integers(1, 200), 1))
                                      if q["bid_price"] else 0.0),
                     best_ask_amount=(float(round(inst.min_trade_amount * rng.integers(1, 200), 1))
                                      if q["ask_price"] else 0.0),
                     min_price=q["min_price"], max_price=q["max_price"],
                     settlement_price=None if settle_ts <= inst.creation_ms else round(
                         self.m.fair_price(inst, settle_ts), 8))
            if ivs:
                d.update(bid_iv=q["bid_iv"], ask_iv=q["ask_iv"])
            tick = 0.0001
            bid, ask = q["bid_price"], q["ask_price"]
        else:
            fair = self.m.fair_price(inst, min(now, inst.expiration_ms))
            mark = float(round_to_tick(fair, inst.tick_size / 10 if inst.tick_size >= 0.5 else 0.01))
            if expired:
                mark = idx
            tick = inst.tick_size
            half = max(tick, float(round_to_tick(fair * 0.0001, tick)))
            bid = float(round_to_tick(fair - half, tick))
            ask = float(round_to_tick(fair + half, tick))
            rng = _rng(self.m.seed, "book", inst.name, now // 1000)
            d.update(mark_price=mark, best_bid_price=bid, best_ask_price=ask,
                     best_bid_amount=float(inst.min_trade_amount * rng.integers(1, 5000)),
                     best_ask_amount=float(inst.min_trade_amount * rng.integers(1, 5000)),
                     min_price=float(round_to_tick(fair * 0.97, tick)),
                     max_price=float(round_to_tick(fair * 1.03, tick)),
                     settlement_price=None if settle_ts <= inst.creation_ms else float(
                         round_to_tick(self.m.fair_price(inst, settle_ts), tick)))
            if inst.is_perpetual:
                rows = self.m.funding(inst.currency, now - 8 * HOUR_MS, now, now, 8)
                d["funding_8h"] = rows[-1]["interest_8h"] if rows else 0.0
                prem = self.m.premium(inst.currency, now)
                d["current_funding"] = prem - max(-0.0005, min(0.0005, prem))
                d["interest_value"] = sum(r["interest_1h"] for r in rows)
        if book:
            rng = _rng(self.m.seed, "levels", inst.name, now // 1000)
            bids, asks = [], []
            if bid:
                bids = [[float(round_to_tick(bid - i * tick, tick)),
                         float(inst.min_trade_amount * rng.integers(1, 500))]
                        for i in range(depth) if bid - i * tick > 0]
            if ask:
                asks = [[float(round_to_tick(ask + i * tick, tick)),
                         float(inst.min_trade_amount * rng.integers(1, 500))] for i in range(depth)]
            d.update(bids=bids, asks=asks, change_id=int(now // 1000) * 7 + inst.instrument_id % 7)
        return d

    def _expired_option_quote(self, inst: Instrument, now: int) -> dict:
        """What the ticker of an expired option still shows: the mark at intrinsic value on the
        delivery price, the last mark_iv, the last quotes, greeks all 0.0, bid_iv 0.0 / ask_iv 500.0
        (a capture 3 s after expiry)."""
        F = round(self.m.index_price(inst.currency, inst.expiration_ms), 2)
        K = inst.strike
        intrinsic = max(F - K, 0.0) if inst.is_call else max(K - F, 0.0)
        before = self.m.option_quote(inst, inst.expiration_ms - MIN_MS, ivs=False)
        atm = self.m.atm_vol(inst.currency, inst.expiration_ms)
        iv = round(float(smile_iv(atm, F, K, MIN_MS / YEAR_MS)) * 100, 2)
        return dict(before, mark_price=round(intrinsic / F, 8), mark_iv=iv, underlying_price=F,
                    greeks={k: 0.0 for k in ("vega", "theta", "rho", "gamma", "delta")}, bid_iv=0.0, ask_iv=500.0)

    def m_ticker(self, p, host, now):
        inst = self._instrument(p, host, now)
        return self._ticker(inst, now, False)

    def m_get_order_book(self, p, host, now):
        inst = self._instrument(p, host, now)
        depth = p.int("depth", 20)
        if depth not in (1, 5, 10, 20, 50, 100, 1000, 10000):
            raise invalid("depth")
        return self._ticker(inst, now, True, min(depth, 100))

    def m_get_order_book_by_instrument_id(self, p, host, now):
        iid = p.int("instrument_id", required=True)
        for c in CURRENCIES:
            for i in self.m.list_instruments(c, None, now):
                if i.instrument_id == iid:
                    return self._ticker(i, now, True, min(p.int("depth", 20), 100))
        raise invalid("instrument_id", "instrument not found")

    def m_get_book_summary_by_currency(self, p, host, now):
        curs = self._currency(p, allow_any=False)
        kind = p.str("kind", choices=KINDS)
        out = []
        for c in curs:
            if kind in ("spot", "future_combo", "option_combo"):
                continue
            futures, others = [], []
            for i in self.m.list_instruments(c, kind, now):
                (futures if i.kind == "future" else others).append(self._summary(i, now))
            # futures come unsorted (a deterministic shuffle per seed and minute)
            _rng(self.m.seed, "summary-order", c, now // MIN_MS).shuffle(futures)
            out += futures + others
        return out

    def summary_has_mark_iv(self, name: str, now: int) -> bool:
        """Whether the option book summary item of ``name`` at ``now`` carries ``mark_iv`` (it is left out
        for a deterministic share ``summary_mark_iv_missing`` of (option, minute) pairs)."""
        return _unit(self.m.seed, "no-mark-iv", name, now // MIN_MS) >= self.cfg.summary_mark_iv_missing

    def m_get_book_summary_by_instrument(self, p, host, now):
        inst = self._instrument(p, host, now)
        return [self._summary(inst, now)]

    def _summary(self, inst: Instrument, now: int) -> dict:
        t = self._ticker(inst, now, False, ivs=False)
        st = t["stats"]
        bid, ask = t["best_bid_price"], t["best_ask_price"]
        # an option summary's quote_currency: "USD" in 2019-20 captures, the coin in 2025 ones
        quote = inst.currency if inst.kind == "option" and now >= SUMMARY_COIN_QUOTE_FROM_MS else "USD"
        d = {"instrument_name": inst.name, "base_currency": inst.currency, "quote_currency": quote,
             "mark_price": t["mark_price"], "bid_price": bid or None, "ask_price": ask or None,
             "last": t["last_price"], "high": st["high"], "low": st["low"],
             "volume": st["volume"] or 0.0, "volume_usd": st.get("volume_usd", 0.0),
             "price_change": st["price_change"], "open_interest": t["open_interest"], "creation_timestamp": now,
             "estimated_delivery_price": t["estimated_delivery_price"]}
        d["mid_price"] = round((bid + ask) / 2, 8) if bid and ask else None
        if inst.kind == "option":
            if self.summary_has_mark_iv(inst.name, now):
                d["mark_iv"] = t["mark_iv"]
            d.update(underlying_price=t["underlying_price"], underlying_index=t["underlying_index"],
                     interest_rate=0.0)
        else:
            if inst.is_perpetual:
                d.update(current_funding=t["current_funding"], funding_8h=t["funding_8h"])
            d["volume_notional"] = st["volume_usd"]
        return d

    # ---------------------------------------------------------------- trades
    def _trade_dicts(self, inst: Instrument, t: dict) -> list[dict]:
        """One instrument's trades ``t`` (columns as Market.trades) as the exchange's dicts."""
        return self._tape_dicts([inst], t)

    def _tape_dicts(self, insts: list[Instrument], t: dict, owner: np.ndarray | None = None) -> list[dict]:
        """The trades ``t`` (columns as Market.trade_columns) as the exchange's dicts; trade ``k`` is of
        ``insts[owner[k]]`` (of ``insts[0]`` without ``owner``)."""
        n = len(t["ts"])
        owners = [0] * n if owner is None else owner.tolist()
        cols = [t[c].tolist() for c in ("ts", "price", "amount", "direction", "mark", "index", "seq", "tick")]
        ivs = t["iv"].tolist() if "iv" in t else [None] * n
        info = [(i.currency, i.instrument_id, i.kind == "option", i.name, i.contract_size,
                 BLOCK_TRADES_PER_10K[i.kind]) for i in insts]
        out = []
        for o, ts, price, amount, direction, mark, index, seq, tick, iv in zip(owners, *cols, ivs, strict=True):
            currency, iid, is_opt, name, contract_size, blocks = info[o]
            d = {"trade_seq": seq, "trade_id": trade_id(currency, iid, seq), "timestamp": ts,
                 "tick_direction": tick, "price": price,
                 "mark_price": round(mark, 8 if is_opt else 4),
                 "instrument_name": name, "index_price": round(index, 2),
                 "direction": "buy" if direction > 0 else "sell", "amount": amount,
                 "contracts": amount / contract_size,
                 # 2026 fields: 64-bit integers above 2**53 (a float would lose their last digits)
                 "starbase_match_id": STARBASE_MATCH_BASE + iid * 2 ** 32 + seq,
                 "starbase_timestamp": ts * 1_000_000 + (seq * 7919) % 1_000_000}
            if is_opt:
                d["iv"] = iv
            draw = (seq * 2654435761 + iid * 40503) % 10_000
            if not is_opt and draw < LIQUIDATIONS_PER_10K:
                d["liquidation"] = ("M", "T", "MT")[draw % 3]
            if draw >= 10_000 - blocks:
                d["block_trade_id"] = f"{iid}{seq:09d}"
                d["block_trade_leg_count"] = 1
            out.append(d)
        return out

    def _count_sorting(self, p):
        count = p.int("count", 10, lo=1, hi=1000)
        sorting = p.str("sorting", "default", choices=("asc", "desc", "default"))
        return count, sorting

    def m_get_last_trades_by_instrument_and_time(self, p, host, now):
        inst = self._instrument(p, host, now)
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        count, sorting = self._count_sorting(p)
        p.bool("include_old")
        return self._instrument_trades(inst, start, end, now, count, sorting)

    def m_get_last_trades_by_instrument(self, p, host, now):
        inst = self._instrument(p, host, now)
        count, sorting = self._count_sorting(p)
        start_seq = p.int("start_seq")
        end_seq = p.int("end_seq")
        p.bool("include_old")
        if start_seq is None and end_seq is None:
            return self._instrument_trades(inst, inst.creation_ms, now, now, count, sorting)
        # seq range: locate days by cumulative counts
        lo_seq = start_seq if start_seq is not None else 1
        hi_seq = end_seq if end_seq is not None else 2 ** 62
        first = day_of(inst.creation_ms)
        last = day_of(min(now, inst.expiration_ms - 1))
        d = first
        # binary search the first day whose cumulative count reaches lo_seq
        lo_d, hi_d = first, last
        while lo_d < hi_d:
            mid = (lo_d + hi_d + 1) // 2
            if self.m.trade_seq_base(inst, mid) < lo_seq:
                lo_d = mid
            else:
                hi_d = mid - 1
        d = lo_d
        t = self.m.trades(inst, day_start(d), now, now, count=None if sorting == "desc" else count + 10_000)
        keep = (t["seq"] >= lo_seq) & (t["seq"] <= hi_seq)
        t = {k: v[keep] for k, v in t.items()}
        return self._page(inst, t, count, sorting == "desc")

    def _page(self, inst, t, count, newest_first):
        n = len(t["ts"])
        has_more = n > count
        if newest_first:
            sel = slice(max(0, n - count), n)
        else:
            sel = slice(0, min(n, count))
        t = {k: v[sel] for k, v in t.items()}
        trades = self._trade_dicts(inst, t)
        if newest_first:
            trades.reverse()
        return {"trades": trades, "has_more": has_more}

    def _instrument_trades(self, inst, start, end, now, count, sorting):
        newest_first = sorting in ("desc", "default")
        t = self.m.trades(inst, start, end, now, count=count, newest_first=newest_first)
        return self._page(inst, t, count, newest_first)

    def _currency_trades(self, cur: str, kind: str | None, start: int, end: int, now: int, count: int,
                         newest_first: bool) -> dict:
        """The trades of a currency in [start, min(end, now)] ordered by (timestamp, trade_id), the first
        (or, newest_first, the last) `count`, from the market's day tapes until more than `count` are
        known. Only the answer's trades become dicts (a page of a busy day costs its own trades)."""
        hi = min(end, now)
        if hi < start:
            return {"trades": [], "has_more": False}
        days = range(day_of(max(start, T0_MS)), day_of(hi) + 1)
        spans = []  # (instruments, columns) in answer order
        n = 0
        for d in (reversed(days) if newest_first else days):
            insts, cols = self.m.day_tape(cur, kind, d)
            ts = cols["ts"]
            a, b = int(np.searchsorted(ts, start)), int(np.searchsorted(ts, hi, side="right"))
            if b > a:
                sl = slice(b - 1, a - 1 if a else None, -1) if newest_first else slice(a, b)
                spans.append((insts, {c: v[sl] for c, v in cols.items()}))
                n += b - a
            if n > count:
                break
        out: list[dict] = []
        for insts, cols in spans:
            k = count - len(out)
            out += self._tape_dicts(insts, {c: v[:k] for c, v in cols.items()}, cols["owner"][:k])
            if len(out) >= count:
                break
        return {"trades": out, "has_more": n > count}

    def _trade_kind(self, p):
        kind = p.str("kind", "any", choices=KINDS + ("any",))
        return None if kind == "any" else kind

    def m_get_last_trades_by_currency(self, p, host, now):
        curs = self._currency(p, allow_any=False)
        kind = self._trade_kind(p)
        count, sorting = self._count_sorting(p)
        p.bool("include_old")
        if kind in ("spot", "future_combo", "option_combo") or not curs:
            return {"trades": [], "has_more": False}
        newest = sorting != "asc"
        return self._currency_trades(curs[0], kind, now - DAY_MS, now, now, count, True) if newest else \
            self._currency_trades(curs[0], kind, now - DAY_MS, now, now, count, False)

    def m_get_last_trades_by_currency_and_time(self, p, host, now):
        curs = self._currency(p, allow_any=False)
        kind = self._trade_kind(p)
        start = p.int("start_timestamp", required=True)
        end = p.int("end_timestamp", required=True)
        count, sorting = self._count_sorting(p)
        p.bool("include_old")
        if kind in ("spot", "future_combo", "option_combo") or not curs:
            return {"trades": [], "has_more": False}
        if host == "www":
            start = max(start, now - self.cfg.www_trades_window_ms)
        return self._currency_trades(curs[0], kind, start, end, now, count, sorting != "asc")

    # ---------------------------------------------------------------- settlements
    def _settlements(self, cur: str, inst: Instrument | None, p: P, now: int) -> dict:
        typ = p.str("type", choices=("settlement", "delivery", "bankruptcy"))
        count = p.int("count", 20, lo=1, hi=1000)
        cont = p.str("continuation")
        upper = p.int("search_start_timestamp", now)
        upper = min(upper, now)
        skip = 0
        if cont is not None:
            try:
                ts_s, skip_s = _unb58(cont).decode().split(":")
                upper, skip = int(ts_s), int(skip_s)
            except Exception:
                raise invalid("continuation") from None
        ev = day_start(day_of(upper - 8 * HOUR_MS)) + 8 * HOUR_MS  # newest 08:00 <= upper
        floor = _CUR[cur]["perp"]
        floor_ms = cal.to_ms(floor)
        if inst is not None:
            floor_ms = max(floor_ms, inst.creation_ms)
        out: list[dict] = []
        next_cont = None
        if typ == "bankruptcy":
            return {"settlements": [], "continuation": None}
        while ev >= floor_ms:
            if inst is not None and ev > inst.expiration_ms:
                ev = day_start(day_of(inst.expiration_ms - 8 * HOUR_MS)) + 8 * HOUR_MS
                continue
            recs = self.m.settlement_records(cur, ev, typ, only=inst)
            recs = recs[skip:]
            base_skip = skip
            skip = 0
            need = count - len(out)
            if len(recs) > need:
                out.extend(recs[:need])
                next_cont = _b58(f"{ev}:{base_skip + need}".encode())
                break
            out.extend(recs)
            ev -= DAY_MS
            if len(out) == count:
                if ev >= floor_ms:
                    next_cont = _b58(f"{ev}:0".encode())
                break
        return {"settlements": out, "continuation": next_cont}

    def m_get_last_settlements_by_currency(self, p, host, now):
        curs = self._currency(p, allow_any=False)
        if not curs:
            return {"settlements": [], "continuation": None}
        return self._settlements(curs[0], None, p, now)

    def m_get_last_settlements_by_instrument(self, p, host, now):
        inst = self._instrument(p, host, now)
        return self._settlements(inst.currency, inst, p, now)
