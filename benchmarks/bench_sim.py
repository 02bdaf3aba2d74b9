"""Throughput of the simulated exchange for chart data (5,000 one-minute candles per request).

Target (issue): with rate limiting off, >= 100 requests/s of 5,000 one-minute candles on a 2-core
machine, so that benchmarks measure the ingester, not the simulator.

The server runs in its own process (as `ingest sim` would); this process drives it with N client
threads over keep-alive HTTP connections and parses every answer with orjson, checking 5,000 candles.

Two workloads:
* ``backfill``: consecutive 5,000-minute windows paging forward through history in random order (every
  window is new to the simulator: cold) for BTC-PERPETUAL, ETH-PERPETUAL and six dated futures.
* ``repeat``: random windows from a fixed set of 200 (mostly cached), e.g. several ingesters re-reading.

Usage: python benchmarks/bench_sim.py [--threads 4] [--seconds 10] [--target 100]
Exit status 1 if the backfill workload is under the target.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import sys
import threading
import time
from urllib.parse import urlencode

import orjson

NOW = "2024-06-01T00:00:00Z"
NOW_MS = 1717200000000
WINDOW = 5000 * 60_000


def _serve(port_q, seed):
    from ingest.sim import SimServer

    try:
        from ingest.sim.server import tune_malloc
    except ImportError:  # an older simulator (for before/after comparisons)
        pass
    else:
        tune_malloc()  # as `ingest sim` does
    srv = SimServer(seed=seed, now=NOW, rate_limit=False, faults=None, port=0)
    srv.start()
    port_q.put(srv.port)
    while True:
        time.sleep(3600)


def _windows_backfill():
    """~1,500 consecutive 5,000-minute windows: the perpetuals from the day after launch and six dated
    futures over their whole life (enough new windows for 10 s at well over 100 requests/s)."""
    out = []
    DAY = 86_400_000
    for name, start, stop in (("BTC-PERPETUAL", 1534204800000, NOW_MS),
                              ("ETH-PERPETUAL", 1552435200000, NOW_MS),
                              ("BTC-29DEC23", 1688112000000 + DAY, 1703836800000),
                              ("ETH-29DEC23", 1688112000000 + DAY, 1703836800000),
                              ("BTC-29MAR24", 1695974400000 + DAY, 1711699200000),
                              ("ETH-29MAR24", 1695974400000 + DAY, 1711699200000),
                              ("BTC-27SEP24", 1711699200000 + DAY, NOW_MS),
                              ("ETH-28JUN24", 1703836800000 + DAY, NOW_MS)):
        t = start
        while t + WINDOW <= stop:
            out.append((name, t, t + WINDOW - 60_000))
            t += WINDOW
    return out


def _cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process in seconds (Linux): server CPU per request, which depends less on
    machine load than requests/s (but still grows under heavy load: shared caches and cores)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tck, int(fields[12]) / tck
    except OSError:
        return float("nan"), float("nan")


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run(port, windows, threads, seconds, check=True):
    lock = threading.Lock()
    it = iter(windows)
    done = {"n": 0, "candles": 0, "bytes": 0, "bad": 0}
    stop_at = time.perf_counter() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            with lock:
                w = next(it, None)
            if w is None:
                break
            name, s, e = w
            q = urlencode({"instrument_name": name, "start_timestamp": s - 1, "end_timestamp": e, "resolution": "1"})
            # expired futures are on the history host (www answers "instrument not found" after a week)
            host = "/history" if "PERPETUAL" not in name and e < 1717200000000 - 8 * 86_400_000 else ""
            conn.request("GET", host + "/api/v2/public/get_tradingview_chart_data?" + q)
            resp = conn.getresponse()
            body = resp.read()
            res = orjson.loads(body).get("result") or {"ticks": ()}
            n = len(res["ticks"])
            with lock:
                done["n"] += 1
                done["candles"] += n
                done["bytes"] += len(body)
                if check and n != 5000:
                    done["bad"] += 1
        conn.close()

    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    return done, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--target", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)

    q = mp.Queue()
    proc = mp.Process(target=_serve, args=(q, a.seed), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    try:
        results = {}
        back = _windows_backfill()
        random.Random(1).shuffle(back)
        rnd = random.Random(2)
        fixed = back[:200]
        rep = [fixed[rnd.randrange(len(fixed))] for _ in range(1_000_000)]
        for name, windows in (("backfill", back), ("repeat", rep)):
            load0 = _load()
            u0, s0 = _cpu_times(proc.pid)
            c0 = time.process_time()
            done, dt = run(port, windows, a.threads, a.seconds)
            u1, s1 = _cpu_times(proc.pid)
            done["client_cpu"] = time.process_time() - c0
            results[name] = (done, dt, u1 - u0, s1 - s0, load0, _load())
    finally:
        proc.terminate()
        proc.join(5)

    ok = True
    print(f"machine: {os.cpu_count()} cores (other processes slow this down; see the load averages)")
    for name, (d, dt, ucpu, scpu, load0, load1) in results.items():
        rps = d["n"] / dt
        per = (ucpu + scpu) / max(d["n"], 1)
        print(f"{name:9s}: server CPU {per * 1000:.1f} ms/request (user {ucpu / max(d['n'], 1) * 1000:.1f}, "
              f"system {scpu / max(d['n'], 1) * 1000:.1f}) -> {1 / per if per else float('inf'):.0f} req/s "
              f"per server core; client CPU {d['client_cpu'] / max(d['n'], 1) * 1000:.1f} ms/request; "
              f"load average {load0:.1f} -> {load1:.1f}")
        print(f"{name:9s}: {d['n']} requests in {dt:.1f}s = {rps:.1f} req/s, {d['candles'] / dt:,.0f} candles/s, "
              f"{d['bytes'] / dt / 1e6:.1f} MB/s, short answers: {d['bad']}  (target {a.target:.0f} req/s: "
              f"{'PASS' if rps >= a.target else 'FAIL'})")
        if name == "backfill" and (rps < a.target or d["bad"]):
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
