"""Rate limiting per client: 500 credits/request, 50,000 pool, 10,000/s; get_instruments ~1/s."""
import time

import requests

from ingest.sim import SimServer


def test_burst_then_10028():
    with SimServer(seed=1, now="2024-06-01T00:00:00Z", rate_limit=True) as sim:
        s = requests.Session()
        codes = []
        t0 = time.monotonic()
        while 400 not in codes and len(codes) < 3000:
            codes.append(s.get(sim.api_url + "/public/get_time").status_code)
        elapsed = time.monotonic() - t0
        ok = codes.count(200)
        # 100 from the pool plus what refilled meanwhile (20/s)
        assert 400 in codes
        assert 100 <= ok <= 100 + int(elapsed * 20) + 2
        r = s.get(sim.api_url + "/public/get_time")
        if r.status_code != 200:
            assert r.json()["error"] == {"code": 10028, "message": "too_many_requests"}
        st = sim.stats()
        assert st["by_outcome"]["rate_limited"] >= 1 and st["credits"] == 500 * st["by_outcome"]["ok"]
        time.sleep(0.2)  # 2,000 credits refilled -> 4 requests
        assert s.get(sim.api_url + "/public/get_time").status_code == 200


def test_429_status_and_get_instruments_limit():
    with SimServer(seed=1, now="2024-06-01T00:00:00Z", rate_limit=True, rate_limit_status=429) as sim:
        codes = [requests.get(sim.api_url + "/public/get_instruments", params={"currency": "ETH", "kind": "future"}
                              ).status_code for _ in range(8)]
        assert codes.count(200) <= 6 and 429 in codes


def test_off():
    with SimServer(seed=1, now="2024-06-01T00:00:00Z", rate_limit=False) as sim:
        s = requests.Session()
        assert all(s.get(sim.api_url + "/public/get_time").status_code == 200 for _ in range(150))
        assert sim.stats()["credits"] == 150 * 500
