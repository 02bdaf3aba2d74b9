"""Errors: unknown method, missing/malformed params, HTTP 400, ids echoed for POST."""
import pytest
import requests

from ingest.sim import SimServer


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=1, now="2024-06-01T00:00:00Z", rate_limit=False) as s:
        yield s


def test_unknown_method(sim):
    r = requests.get(sim.api_url + "/public/get_everything")
    assert r.status_code == 400
    b = r.json()
    assert b["error"] == {"code": -32601, "message": "Method not found"} and b["jsonrpc"] == "2.0"


@pytest.mark.parametrize("params,param,reason", [
    ({}, "instrument_name", "missing"),
    ({"instrument_name": "BTC-PERPETUAL", "start_timestamp": "abc", "end_timestamp": "1"}, "start_timestamp",
     "wrong format"),
    ({"instrument_name": "NOPE-PERPETUAL", "start_timestamp": "0", "end_timestamp": "1"}, "instrument_name",
     "instrument not found"),
])
def test_invalid_params(sim, params, param, reason):
    r = requests.get(sim.api_url + "/public/get_funding_rate_history", params=params)
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["code"] == -32602 and e["message"] == "Invalid params"
    assert e["data"] == {"reason": reason, "param": param}


def test_booleans_must_be_true_false(sim):
    r = requests.get(sim.api_url + "/public/get_instruments", params={"currency": "BTC", "expired": "yes"})
    assert r.json()["error"]["data"]["param"] == "expired"
    r = requests.get(sim.api_url + "/public/get_instruments", params={"currency": "BTC", "expired": "false"})
    assert r.status_code == 200


def test_post_jsonrpc_echoes_id(sim):
    r = requests.post(sim.api_url, json={"jsonrpc": "2.0", "id": 42, "method": "public/get_time", "params": {}})
    assert r.json()["id"] == 42 and r.json()["result"] == 1717200000000
    r = requests.post(sim.api_url, data=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700


def test_history_host_serves_only_history_methods(sim):
    assert requests.get(sim.history_url + "/public/get_time").json()["result"] == 1717200000000
    assert requests.get(sim.history_url + "/public/get_instruments",
                        params={"currency": "BTC"}).json()["error"]["code"] == -32601
