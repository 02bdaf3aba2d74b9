"""get_instruments: active vs recently expired, calendar names, perpetual expiration, archival."""
import requests

from ingest.deribit import calendar as cal
from ingest.sim import SimServer

NOW = 1717200000000  # 2024-06-01


def test_instruments():
    with SimServer(seed=4, now=NOW, rate_limit=False) as sim:
        g = lambda **p: requests.get(sim.api_url + "/public/get_instruments", params=p).json()["result"]  # noqa
        fut = g(currency="BTC", kind="future")
        names = {i["instrument_name"] for i in fut}
        assert "BTC-PERPETUAL" in names and "BTC-28JUN24" in names and "BTC-27SEP24" in names
        perp = next(i for i in fut if i["instrument_name"] == "BTC-PERPETUAL")
        assert perp["expiration_timestamp"] == 32503708800000 and perp["settlement_period"] == "perpetual"
        assert perp["creation_timestamp"] == cal.to_ms(cal.parse_date_code("13AUG18"))
        for i in fut:
            assert i["is_active"] and i["creation_timestamp"] <= NOW < i["expiration_timestamp"]
            if i["instrument_name"] != "BTC-PERPETUAL":
                assert cal.future_name("BTC", cal.from_ms(i["expiration_timestamp"])) == i["instrument_name"]
                assert cal.from_ms(i["expiration_timestamp"]).hour == 8
        exp = g(currency="BTC", kind="future", expired="true")
        assert exp and all(NOW - 30 * 86400_000 < i["expiration_timestamp"] <= NOW and not i["is_active"] for i in exp)
        assert "BTC-31MAY24" in {i["instrument_name"] for i in exp}
        assert "BTC-29MAR24" not in {i["instrument_name"] for i in exp}  # not "recent"
        assert g(currency="USDC", kind="future") == []
        both = g(currency="any", kind="future")
        assert {i["base_currency"] for i in both} == {"BTC", "ETH"}
        # before monthlies/weeklies existed: quarterlies only
        sim.set_now("2020-02-01T00:00:00Z")
        old = {i["instrument_name"] for i in g(currency="BTC", kind="future")}
        assert old == {"BTC-PERPETUAL", "BTC-27MAR20", "BTC-26JUN20"}
        # archived on www some days after expiry, history host still has its trades
        sim.set_now("2024-06-20T00:00:00Z")
        r = requests.get(sim.api_url + "/public/get_last_trades_by_instrument",
                         params={"instrument_name": "BTC-31MAY24"})
        assert r.json()["error"]["data"]["reason"] == "instrument not found"
        r = requests.get(sim.history_url + "/public/get_last_trades_by_instrument",
                         params={"instrument_name": "BTC-31MAY24", "count": 5}).json()["result"]
        assert r["trades"] and all(t["timestamp"] < 1717142400000 for t in r["trades"])
