"""Options: ticker greeks/IVs consistent with the mark (independent Black-76), book summary rules."""
import math

import pytest
import requests

from ingest.deribit.calendar import parse_instrument_name
from ingest.sim import SimServer

NOW = 1717200000000


def N(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def b76(F, K, T, s, call):
    d1 = (math.log(F / K) + s * s * T / 2) / (s * math.sqrt(T))
    d2 = d1 - s * math.sqrt(T)
    price = F * N(d1) - K * N(d2) if call else K * N(-d2) - F * N(-d1)
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    return price, (N(d1) if call else N(d1) - 1), pdf / (F * s * math.sqrt(T)), F * pdf * math.sqrt(T) / 100


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=2, now=NOW, rate_limit=False) as s:
        yield s


def test_chain_and_ticker_greeks(sim):
    insts = requests.get(sim.api_url + "/public/get_instruments", params={"currency": "BTC", "kind": "option"}).json()[
        "result"]
    periods = {i["settlement_period"] for i in insts}
    assert periods == {"day", "week", "month"}  # quarterlies report "month"
    assert len({i["expiration_timestamp"] for i in insts}) >= 6
    for item in insts[::37]:
        t = requests.get(sim.api_url + "/public/ticker", params={"instrument_name": item["instrument_name"]}).json()[
            "result"]
        p = parse_instrument_name(item["instrument_name"])
        T = (item["expiration_timestamp"] - NOW) / (365 * 86400_000)
        F = t["underlying_price"]
        price, delta, gamma, vega = b76(F, p.strike, T, t["mark_iv"] / 100, p.option_type == "call")
        # since 2023 the exchange's option marks have 4 decimals and are at least the minimum tick
        assert t["mark_price"] == pytest.approx(max(price / F, 0.0001), abs=5.0001e-5)
        assert t["mark_price"] * 1e4 == pytest.approx(round(t["mark_price"] * 1e4), abs=1e-6)
        assert t["greeks"]["delta"] == pytest.approx(delta, abs=1e-5)
        assert t["greeks"]["vega"] == pytest.approx(vega, abs=1e-5)
        assert t["greeks"]["gamma"] == pytest.approx(gamma, abs=1e-5)
        # 0 = no quote on that side (or a bid below intrinsic value): no IV
        assert t["bid_iv"] == 0 or t["bid_iv"] <= t["mark_iv"]
        assert t["ask_iv"] == 0 or t["mark_iv"] <= t["ask_iv"]
        assert t["underlying_index"] in (p.name.rsplit("-", 2)[0], "SYN." + p.name.rsplit("-", 2)[0])


def test_smile_and_forward(sim):
    insts = requests.get(sim.api_url + "/public/get_book_summary_by_currency",
                         params={"currency": "BTC", "kind": "option"}).json()["result"]
    names = {i["instrument_name"] for i in requests.get(sim.api_url + "/public/get_instruments",
                                                         params={"currency": "BTC", "kind": "option"}).json()["result"]}
    assert {i["instrument_name"] for i in insts} == names
    for i in insts:
        assert "greeks" not in i and "bid_iv" not in i and "ask_iv" not in i
        assert {"mark_price", "underlying_price", "underlying_index", "interest_rate",
                "creation_timestamp", "open_interest", "volume"} <= i.keys()
    # mark_iv is optional (real answers of 2019-2024 lack it): both shapes by default
    without = sum("mark_iv" not in i for i in insts)
    assert 0.1 * len(insts) < without < 0.4 * len(insts)
    idx = requests.get(sim.api_url + "/public/get_index_price", params={"index_name": "btc_usd"}).json()["result"][
        "index_price"]
    fwd = [i["underlying_price"] for i in insts]
    assert all(0.9 * idx < f < 1.3 * idx for f in fwd)


def test_option_trades_carry_iv(sim):
    r = requests.get(sim.api_url + "/public/get_last_trades_by_currency",
                     params={"currency": "BTC", "kind": "option", "count": 50}).json()["result"]
    assert r["trades"] and all("iv" in t and t["iv"] > 0 for t in r["trades"])
