"""Fault injection: deterministic by seed, every kind observable by a client; settlement window; admin."""

import orjson
import pytest
import requests

from ingest.sim import SimServer

NOW = "2024-06-01T00:00:00Z"


def get(sim, timeout=5):
    return requests.get(sim.api_url + "/public/get_funding_rate_history", timeout=timeout, params=dict(
        instrument_name="BTC-PERPETUAL", start_timestamp=1717100000000, end_timestamp=1717200000000))


@pytest.mark.parametrize("kind", ["11094", "500", "502", "truncate", "malformed", "badtypes", "nan", "reset"])
def test_each_fault_kind(kind):
    with SimServer(seed=5, now=NOW, rate_limit=False, faults=f"{kind}:1.0") as sim:
        if kind == "reset":
            with pytest.raises(requests.exceptions.ConnectionError):
                get(sim)
            assert sim.stats()["by_outcome"] == {"fault_reset": 1}
            return
        r = get(sim)
        if kind == "11094":
            assert r.status_code == 400 and r.json()["error"]["code"] == 11094
        elif kind in ("500", "502"):
            assert r.status_code == int(kind) and r.text.lstrip().startswith("<html")
        elif kind in ("truncate", "malformed"):
            assert r.status_code == 200
            with pytest.raises(ValueError):
                orjson.loads(r.content)
        elif kind == "badtypes":
            res = r.json()["result"]
            assert isinstance(res[0]["index_price"], str)
        elif kind == "nan":
            with pytest.raises(ValueError):
                orjson.loads(r.content)  # strict parsers reject NaN
            assert "NaN" in r.text
        assert sim.stats()["by_outcome"] == {f"fault_{kind}": 1}


def test_timeout_fault_with_small_delay():
    with SimServer(seed=5, now=NOW, rate_limit=False, faults="timeout:1.0,delay:1.0") as sim:
        with pytest.raises(requests.exceptions.Timeout):
            get(sim, timeout=0.3)


def test_fraction_and_determinism():
    def outcomes():
        with SimServer(seed=11, now=NOW, rate_limit=False, faults="11094:0.2,502:0.1") as sim:
            s = requests.Session()
            return [s.get(sim.api_url + "/public/get_time").status_code for _ in range(200)]
    a, b = outcomes(), outcomes()
    assert a == b
    assert 20 <= a.count(400) <= 60 and 5 <= a.count(502) <= 35


def test_settlement_window_and_admin_endpoint():
    with SimServer(seed=5, now="2024-06-01T08:00:02Z", rate_limit=False) as sim:
        r = requests.get(sim.api_url + "/public/get_time")
        assert r.status_code == 400 and r.json()["error"] == {"code": 10041, "message": "settlement_in_progress"}
        requests.post(sim.base_url + "/_sim/faults", data="settlement:off")
        assert requests.get(sim.api_url + "/public/get_time").status_code == 200
        requests.post(sim.base_url + "/_sim/config", json={"now": "2024-06-01T07:59:50Z"})
        requests.post(sim.base_url + "/_sim/faults", data="500:1.0")
        assert requests.get(sim.api_url + "/public/get_time").status_code == 500
        assert requests.get(sim.base_url + "/_sim/stats").status_code == 200  # admin never faulted
        assert requests.post(sim.base_url + "/_sim/faults", data="bogus:1").status_code == 400
        st = requests.get(sim.base_url + "/_sim/stats").json()
        assert st["by_host"] == {"www": 3} and st["by_outcome"]["fault_10041"] == 1
        requests.post(sim.base_url + "/_sim/stats/reset")
        assert sim.stats()["requests_total"] == 0
